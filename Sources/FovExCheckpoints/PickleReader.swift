import Foundation

/// A restricted unpickler for PyTorch state dicts.
///
/// It understands the opcodes `torch.save` emits for dicts of tensors (protocol 2, plus the framing and
/// memo opcodes of protocol 4) and recognises only the globals in ``PickleGlobal``; naming any other
/// global throws ``CheckpointError/forbiddenGlobal(module:name:file:)``. Nothing is ever executed:
/// "calling" an allowed global builds a ``PickleValue`` directly.
///
/// Hostile nesting cannot exhaust the stack: containers may nest at most ``maximumDepth`` levels, and
/// every list and dict is also owned by the reader's ``PickleArena``, which empties them one by one when
/// dismantled, so freeing even a list chain built through the memo (whose depth no check sees) never recurses.
struct PickleReader {
    /// The deepest nesting of tuples, lists and dicts accepted; a state dict needs about five levels.
    static let maximumDepth = 100

    private var bytes: ByteCursor
    private let persistentLoad: ((PickleValue) throws -> PickleValue)?
    /// Owns every list and dict read; callers dismantle it once they are done with the values.
    let arena: PickleArena

    /// Reads pickles from `data` starting at `offset`; `persistentLoad` resolves `BINPERSID` ids (storages),
    /// which are an error when it is `nil`. Lists and dicts are registered in `arena`.
    init(data: Data, fileName: String, offset: Int = 0, arena: PickleArena = PickleArena(),
         persistentLoad: ((PickleValue) throws -> PickleValue)? = nil) {
        bytes = ByteCursor(data: data, fileName: fileName, what: "pickle")
        bytes.position = offset
        self.arena = arena
        self.persistentLoad = persistentLoad
    }

    /// The offset just after the last pickle read.
    var position: Int { bytes.position }

    private var fileName: String { bytes.fileName }

    private func malformed(_ reason: String, at offset: Int) -> CheckpointError {
        .malformed(file: fileName, reason: "pickle at byte \(offset): \(reason)")
    }

    /// Reads one pickle, up to and including its `STOP`.
    mutating func readValue() throws -> PickleValue {
        var stack: [PickleValue] = []
        var marks: [Int] = []
        var memo: [Int: PickleValue] = [:]

        func pop(_ at: Int) throws -> PickleValue {
            guard let v = stack.popLast(), marks.last.map({ stack.count >= $0 }) ?? true else {
                throw malformed("stack underflow", at: at)
            }
            return v
        }
        func popMark(_ at: Int) throws -> [PickleValue] {
            guard let mark = marks.popLast(), mark <= stack.count else { throw malformed("no MARK on the stack", at: at) }
            defer { stack.removeSubrange(mark...) }
            return Array(stack[mark...])
        }
        func top(_ at: Int) throws -> PickleValue {
            guard let v = stack.last else { throw malformed("stack underflow", at: at) }
            return v
        }
        func memoGet(_ key: Int, _ at: Int) throws -> PickleValue {
            guard let v = memo[key] else { throw malformed("memo key \(key) was never stored", at: at) }
            return v
        }
        func memoPut(_ key: Int, _ at: Int) throws { memo[key] = try top(at) }
        /// A tuple of `items`, refused when it would nest deeper than ``maximumDepth``.
        func tuple(_ items: [PickleValue], _ at: Int) throws -> PickleValue {
            let depth = 1 + (items.lazy.map(\.depth).max() ?? 0)
            guard depth <= Self.maximumDepth else { throw tooDeep(at) }
            return .tuple(items, depth: depth)
        }
        func tooDeep(_ at: Int) -> CheckpointError {
            malformed("containers nested more than \(Self.maximumDepth) levels deep (a state dict needs a few)", at: at)
        }
        /// Records that `container` now holds `items`, refusing nesting deeper than ``maximumDepth``.
        func deepen(_ container: PickleContainer, with items: some Sequence<PickleValue>, _ at: Int) throws {
            for item in items where item.depth >= container.depth {
                guard item.depth < Self.maximumDepth else { throw tooDeep(at) }
                container.depth = item.depth + 1
            }
        }

        while true {
            let at = bytes.position
            let opcode = try bytes.u8()
            switch opcode {
            case 0x80: // PROTO
                let version = try bytes.u8()
                guard version <= 5 else { throw malformed("unknown pickle protocol \(version)", at: at) }
            case 0x95: // FRAME: a length hint only
                _ = try bytes.u64()
            case 0x2e: // STOP
                let result = try pop(at)
                guard stack.isEmpty else { throw malformed("\(stack.count) values left on the stack at STOP", at: at) }
                return result
            case 0x7d: stack.append(.dict(arena.dict())) // EMPTY_DICT
            case 0x5d: stack.append(.list(arena.list())) // EMPTY_LIST
            case 0x29: stack.append(.tuple([], depth: 1)) // EMPTY_TUPLE
            case 0x28: marks.append(stack.count) // MARK
            case 0x4e: stack.append(.none) // NONE
            case 0x88: stack.append(.bool(true)) // NEWTRUE
            case 0x89: stack.append(.bool(false)) // NEWFALSE
            case 0x4a: stack.append(.int(Int(try bytes.i32()))) // BININT
            case 0x4b: stack.append(.int(Int(try bytes.u8()))) // BININT1
            case 0x4d: stack.append(.int(Int(try bytes.u16()))) // BININT2
            case 0x8a: // LONG1
                stack.append(Self.integer(try bytes.bytes(Int(try bytes.u8()))))
            case 0x8b: // LONG4
                let n = try bytes.length(UInt64(try bytes.u32()), "LONG4")
                stack.append(Self.integer(try bytes.bytes(n)))
            case 0x47: // BINFLOAT (big-endian)
                let raw = try bytes.u64()
                stack.append(.float(Double(bitPattern: raw.byteSwapped)))
            case 0x58: // BINUNICODE
                stack.append(.string(try text(UInt64(try bytes.u32()))))
            case 0x8c: // SHORT_BINUNICODE
                stack.append(.string(try text(UInt64(try bytes.u8()))))
            case 0x8d: // BINUNICODE8
                stack.append(.string(try text(try bytes.u64())))
            case 0x54: // BINSTRING (Python 2 str)
                stack.append(.string(try text(UInt64(try bytes.u32()))))
            case 0x55: // SHORT_BINSTRING
                stack.append(.string(try text(UInt64(try bytes.u8()))))
            case 0x42: // BINBYTES
                stack.append(.bytes(try bytes.slice(try bytes.length(UInt64(try bytes.u32()), "BINBYTES"), what: "BINBYTES")))
            case 0x43: // SHORT_BINBYTES
                stack.append(.bytes(try bytes.slice(Int(try bytes.u8()), what: "SHORT_BINBYTES")))
            case 0x74: stack.append(try tuple(try popMark(at), at)) // TUPLE
            case 0x85: stack.append(try tuple([try pop(at)], at)) // TUPLE1
            case 0x86: // TUPLE2
                let b = try pop(at), a = try pop(at)
                stack.append(try tuple([a, b], at))
            case 0x87: // TUPLE3
                let c = try pop(at), b = try pop(at), a = try pop(at)
                stack.append(try tuple([a, b, c], at))
            case 0x73: // SETITEM
                let value = try pop(at), key = try pop(at)
                let d = try dict(try top(at), at)
                try deepen(d, with: [key, value], at)
                d.entries.append((key, value))
            case 0x75: // SETITEMS
                let items = try popMark(at)
                guard items.count % 2 == 0 else { throw malformed("SETITEMS with an odd number of values", at: at) }
                let d = try dict(try top(at), at)
                try deepen(d, with: items, at)
                for i in stride(from: 0, to: items.count, by: 2) { d.entries.append((items[i], items[i + 1])) }
            case 0x61: // APPEND
                let value = try pop(at)
                let l = try list(try top(at), at)
                try deepen(l, with: [value], at)
                l.items.append(value)
            case 0x65: // APPENDS
                let items = try popMark(at)
                let l = try list(try top(at), at)
                try deepen(l, with: items, at)
                l.items.append(contentsOf: items)
            case 0x71: try memoPut(Int(try bytes.u8()), at) // BINPUT
            case 0x72: try memoPut(Int(try bytes.u32()), at) // LONG_BINPUT
            case 0x94: try memoPut(memo.count, at) // MEMOIZE
            case 0x68: stack.append(try memoGet(Int(try bytes.u8()), at)) // BINGET
            case 0x6a: stack.append(try memoGet(Int(try bytes.u32()), at)) // LONG_BINGET
            case 0x30: _ = try pop(at) // POP
            case 0x31: _ = try popMark(at) // POP_MARK
            case 0x32: stack.append(try top(at)) // DUP
            case 0x63: // GLOBAL
                let module = try line(at), name = try line(at)
                stack.append(.global(try allowedGlobal(module, name)))
            case 0x93: // STACK_GLOBAL
                let name = try pop(at), module = try pop(at)
                guard let n = name.string, let m = module.string else {
                    throw malformed("STACK_GLOBAL needs two strings", at: at)
                }
                stack.append(.global(try allowedGlobal(m, n)))
            case 0x52: // REDUCE
                let args = try pop(at), callable = try pop(at)
                stack.append(try call(callable, args, at))
            case 0x81: // NEWOBJ
                let args = try pop(at), cls = try pop(at)
                stack.append(try call(cls, args, at))
            case 0x62: // BUILD: the state of a dict or tensor (e.g. an OrderedDict's `_metadata`) is not needed
                _ = try pop(at)
                switch try top(at) {
                case .dict, .tensor: break
                case let other: throw malformed("BUILD on a \(other.kind)", at: at)
                }
            case 0x51: // BINPERSID
                let id = try pop(at)
                guard let persistentLoad else { throw malformed("unexpected persistent id (\(id.kind))", at: at) }
                stack.append(try persistentLoad(id))
            default:
                let printable = (0x20..<0x7f).contains(opcode) ? " ('\(Character(Unicode.Scalar(opcode)))')" : ""
                throw CheckpointError.unsupported(
                    file: fileName,
                    reason: "pickle opcode 0x\(String(opcode, radix: 16))\(printable) at byte \(at) is not one a state dict needs")
            }
        }
    }

    private mutating func text(_ length: UInt64) throws -> String {
        let n = try bytes.length(length, "a string")
        return String(decoding: try bytes.slice(n, what: "a string"), as: UTF8.self)
    }

    /// A newline-terminated line (the text-mode arguments of GLOBAL).
    private mutating func line(_ at: Int) throws -> String {
        var chars: [UInt8] = []
        while true {
            let c = try bytes.u8()
            if c == 0x0a { break }
            chars.append(c)
            guard chars.count <= 256 else { throw malformed("GLOBAL name longer than 256 bytes", at: at) }
        }
        return String(decoding: chars, as: UTF8.self)
    }

    private func allowedGlobal(_ module: String, _ name: String) throws -> PickleGlobal {
        guard let global = PickleGlobal(module: module, name: name) else {
            throw CheckpointError.forbiddenGlobal(module: module, name: name, file: fileName)
        }
        return global
    }

    private func dict(_ v: PickleValue, _ at: Int) throws -> PickleDict {
        guard case let .dict(d) = v else { throw malformed("SETITEM on a \(v.kind), not a dict", at: at) }
        return d
    }

    private func list(_ v: PickleValue, _ at: Int) throws -> PickleList {
        guard case let .list(l) = v else { throw malformed("APPEND on a \(v.kind), not a list", at: at) }
        return l
    }

    /// The effect of calling an allowed global, computed without executing anything.
    private func call(_ callable: PickleValue, _ argsValue: PickleValue, _ at: Int) throws -> PickleValue {
        guard case let .global(global) = callable else { throw malformed("call of a \(callable.kind)", at: at) }
        guard let args = argsValue.tuple else { throw malformed("call arguments are a \(argsValue.kind), not a tuple", at: at) }
        switch global {
        case .orderedDict:
            guard args.isEmpty else { throw malformed("OrderedDict called with arguments", at: at) }
            return .dict(arena.dict())
        case .rebuildTensor, .rebuildTensorV2:
            guard args.count >= 4, case let .storage(storage) = args[0], let offset = args[1].int,
                  let shape = integers(args[2]), let strides = integers(args[3]) else {
                throw malformed("tensor rebuilt from unexpected arguments (\(args.map(\.kind).joined(separator: ", ")))", at: at)
            }
            return .tensor(TorchTensorRecord(storage: storage, offset: offset, shape: shape, strides: strides))
        case .rebuildParameter, .rebuildParameterWithState:
            guard let data = args.first, case .tensor = data else {
                throw malformed("parameter rebuilt from a non-tensor", at: at)
            }
            return data
        case .storageType:
            throw malformed("a storage type cannot be called", at: at)
        }
    }

    private func integers(_ v: PickleValue) -> [Int]? {
        guard let items = v.tuple else { return nil }
        let ints = items.compactMap(\.int)
        return ints.count == items.count ? ints : nil
    }

    /// LONG1/LONG4 payloads: little-endian two's complement of any width.
    private static func integer(_ raw: [UInt8]) -> PickleValue {
        guard raw.count <= 8 else { return .bigInt(raw) }
        guard let lastByte = raw.last else { return .int(0) }
        var value: UInt64 = lastByte & 0x80 != 0 ? ~0 : 0
        for byte in raw.reversed() { value = (value << 8) | UInt64(byte) }
        return .int(Int(truncatingIfNeeded: value))
    }
}
