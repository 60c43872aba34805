import Foundation

/// A value built by ``PickleReader``. Lists and dicts are reference types because pickles mutate
/// them after memoising them (`BINPUT` then `SETITEMS`), and every alias must see the change.
indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer too wide for `Int`, as little-endian two's-complement bytes.
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes(Data)
    /// A tuple and its nesting depth (1 + its deepest item's), kept so that checking a new tuple's depth is O(items).
    case tuple([PickleValue], depth: Int)
    case list(PickleList)
    case dict(PickleDict)
    /// One of the allow-listed globals; only ever called through ``PickleReader``'s own dispatch.
    case global(PickleGlobal)
    case storage(TorchStorage)
    case tensor(TorchTensorRecord)

    var int: Int? { if case let .int(v) = self { return v } else { return nil } }
    var string: String? { if case let .string(v) = self { return v } else { return nil } }
    var tuple: [PickleValue]? { if case let .tuple(v, _) = self { return v } else { return nil } }

    /// How many containers deep the value is: 0 for scalars, 1 for an empty tuple, list or dict. A list's or
    /// dict's depth is as of its last append, so it can be stale when a deeper chain was built through the memo;
    /// the ``PickleArena`` makes freeing such a chain safe regardless.
    var depth: Int {
        switch self {
        case let .tuple(_, depth): return depth
        case let .list(l): return l.depth
        case let .dict(d): return d.depth
        default: return 0
        }
    }

    /// A short name for the kind of value, for error messages.
    var kind: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict: return "dict"
        case .global: return "global"
        case .storage: return "storage"
        case .tensor: return "tensor"
        }
    }
}

/// A mutable pickle container (list or dict) and the nesting depth it reached.
class PickleContainer {
    var depth = 1
}

final class PickleList: PickleContainer {
    var items: [PickleValue] = []
}

/// A dict in insertion order (pickled `OrderedDict`s and plain dicts alike).
final class PickleDict: PickleContainer {
    var entries: [(key: PickleValue, value: PickleValue)] = []

    /// The value stored under the string key `key`.
    subscript(key: String) -> PickleValue? {
        entries.last { $0.key.string == key }?.value
    }
}

/// The globals a state-dict pickle may reference. Anything else is refused when it is named, before it could be used.
enum PickleGlobal: Equatable {
    case orderedDict
    case rebuildTensor
    case rebuildTensorV2
    case rebuildParameter
    case rebuildParameterWithState
    case storageType(TensorDType)

    init?(module: String, name: String) {
        switch (module, name) {
        case ("collections", "OrderedDict"): self = .orderedDict
        case ("torch._utils", "_rebuild_tensor"): self = .rebuildTensor
        case ("torch._utils", "_rebuild_tensor_v2"): self = .rebuildTensorV2
        case ("torch._utils", "_rebuild_parameter"): self = .rebuildParameter
        case ("torch._utils", "_rebuild_parameter_with_state"): self = .rebuildParameterWithState
        case ("torch", let storage):
            guard let dtype = Self.storageTypes[storage] else { return nil }
            self = .storageType(dtype)
        default: return nil
        }
    }

    private static let storageTypes: [String: TensorDType] = [
        "FloatStorage": .float32, "HalfStorage": .float16, "BFloat16Storage": .bfloat16, "DoubleStorage": .float64,
        "LongStorage": .int64, "IntStorage": .int32, "ShortStorage": .int16, "CharStorage": .int8,
        "ByteStorage": .uint8, "BoolStorage": .bool,
    ]
}

/// Owns every list and dict a ``PickleReader`` creates, so that none of them is freed while another
/// still refers to it. ``dismantle()``, called by the reader's user once done, then empties them one at a time: a list nested 50,000 levels deep
/// (or one that contains itself) is freed with constant stack depth instead of one frame per level.
final class PickleArena {
    private var containers: [PickleContainer] = []

    func list() -> PickleList {
        let l = PickleList()
        containers.append(l)
        return l
    }

    func dict() -> PickleDict {
        let d = PickleDict()
        containers.append(d)
        return d
    }

    /// Empties every list and dict read so far; values read from this arena must not be used afterwards.
    func dismantle() {
        for container in containers {
            if let l = container as? PickleList { l.items = [] }
            if let d = container as? PickleDict { d.entries = [] }
        }
        containers = []
    }
}
