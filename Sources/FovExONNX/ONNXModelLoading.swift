import Foundation
import FovExTensor
import SwiftProtobuf
import FovExCheckpoints

extension ONNXModel {
    /// Reads an ONNX file, with the weights it keeps as external data in files beside it.
    ///
    /// - Throws: ``ONNXError`` naming the file when it cannot be read, is not an ONNX model, or refers to
    ///   external data that is missing, outside the model's directory, or too short.
    public init(contentsOf url: URL) throws {
        if let problem = regularFileProblem(at: url) { throw ONNXError(file: url.path, problem: problem) }
        let data: Data
        do { data = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw ONNXError(file: url.path, problem: "cannot read the file (\(error.localizedDescription))")
        }
        try self.init(serializedBytes: data, file: url.path, externalDataDirectory: url.deletingLastPathComponent())
    }

    /// Parses a serialized `ModelProto`: the entry point for models held in memory and for fuzzing.
    ///
    /// - Parameters:
    ///   - bytes: the protobuf encoding of the model.
    ///   - file: the name errors mention.
    ///   - externalDataDirectory: where tensors stored as external data are looked up; nil refuses them.
    /// - Throws: ``ONNXError`` for anything malformed; never traps on bad bytes.
    public init(serializedBytes bytes: Data, file: String = "<bytes>", externalDataDirectory: URL? = nil) throws {
        let proto: Onnx_ModelProto
        do {
            proto = try Onnx_ModelProto(serializedBytes: bytes)
        } catch {
            throw ONNXError(file: file, problem: "not an ONNX model: the protobuf does not decode (\(error))")
        }
        guard proto.hasGraph else { throw ONNXError(file: file, problem: "the model has no graph") }
        var opset: Int?
        var others: [String: Int] = [:]
        for entry in proto.opsetImport {
            if entry.domain.isEmpty || entry.domain == "ai.onnx" { opset = Int(entry.version) } else {
                others[entry.domain] = Int(entry.version)
            }
        }
        guard let opset else { throw ONNXError(file: file, problem: "the model imports no default-domain opset") }
        let decoder = TensorDecoder(file: file, directory: externalDataDirectory)
        let graph = proto.graph
        var initializers: [String: ONNXValue] = [:]
        for t in graph.initializer { initializers[t.name] = try decoder.value(of: t) }
        var nodes: [ONNXNode] = []
        for (i, n) in try ONNXModel.inliningFunctions(graph.node, functions: proto.functions, file: file).enumerated() {
            var attributes: [String: ONNXAttribute] = [:]
            for a in n.attribute { attributes[a.name] = try decoder.attribute(a, node: n.name) }
            nodes.append(ONNXNode(opType: n.opType, domain: n.domain, name: n.name.isEmpty ? "#\(i)" : n.name,
                                  inputs: n.input, outputs: n.output, attributes: attributes))
        }
        self.file = file
        self.opset = opset
        self.otherOpsets = others
        self.producer = proto.producerName + (proto.producerVersion.isEmpty ? "" : " " + proto.producerVersion)
        self.inputs = graph.input.filter { initializers[$0.name] == nil }.map(ONNXModel.valueInfo)
        self.outputs = graph.output.map(ONNXModel.valueInfo)
        self.metadata = Dictionary(proto.metadataProps.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
        self.nodes = nodes
        self.initializers = initializers
    }

    /// `nodes` with every call of a model-local function (`ModelProto.functions`, which PyTorch writes with
    /// `export_modules_as_functions` and its dynamo exporter) replaced by the function's body, recursively: the
    /// body's inputs and outputs renamed to the call's, its inner values given a prefix of their own, and each
    /// attribute that refers to one of the function's (`ref_attr_name`) given the call's value or the
    /// function's default.
    ///
    /// - Throws: ``ONNXError`` for calls nested deeper than 64 (a function that calls itself), or an expansion
    ///   beyond ``maximumInlinedNodes`` (functions that each call the next several times grow exponentially),
    ///   both found before anything is expanded.
    static func inliningFunctions(_ nodes: [Onnx_NodeProto], functions: [Onnx_FunctionProto], file: String) throws -> [Onnx_NodeProto] {
        guard !functions.isEmpty else { return nodes }
        var byKey: [String: Onnx_FunctionProto] = [:]
        for f in functions { byKey[f.domain + "::" + f.name] = f }
        func key(_ node: Onnx_NodeProto) -> String { node.domain + "::" + node.opType }
        // How many nodes each function inlines to, counted before anything is expanded (saturating, memoised).
        var sizes: [String: Int] = [:]
        func size(_ node: Onnx_NodeProto, depth: Int) throws -> Int {
            guard let function = byKey[key(node)] else { return 1 }
            if let known = sizes[key(node)] { return known }
            guard depth < 64 else {
                throw ONNXError(file: file, problem: "function '\(node.opType)' (domain \(node.domain)) nests more than 64 deep")
            }
            var total = 0
            for inner in function.node { total = min(total + (try size(inner, depth: depth + 1)), Int.max / 2) }
            sizes[key(node)] = total
            return total
        }
        var total = 0
        for node in nodes { total = min(total + (try size(node, depth: 0)), Int.max / 2) }
        guard total <= maximumInlinedNodes else {
            throw ONNXError(file: file, problem: "inlining the model's functions would give more than \(maximumInlinedNodes) nodes")
        }
        var calls = 0
        func expand(_ node: Onnx_NodeProto) -> [Onnx_NodeProto] {
            guard let function = byKey[key(node)] else { return [node] }
            calls += 1
            let caller = (node.name.isEmpty ? node.opType : node.name)
            let prefix = "\(caller)#\(calls)/"
            var renamed: [String: String] = [:]
            for (k, formal) in function.input.enumerated() { renamed[formal] = k < node.input.count ? node.input[k] : "" }
            for (k, formal) in function.output.enumerated() where k < node.output.count { renamed[formal] = node.output[k] }
            func name(_ value: String) -> String { value.isEmpty ? "" : renamed[value] ?? prefix + value }
            var given: [String: Onnx_AttributeProto] = [:]
            for a in function.attributeProto { given[a.name] = a }
            for a in node.attribute { given[a.name] = a }
            var body: [Onnx_NodeProto] = []
            for inner in function.node {
                var copy = inner
                copy.name = prefix + (inner.name.isEmpty ? inner.opType : inner.name)
                copy.input = inner.input.map(name)
                copy.output = inner.output.map(name)
                copy.attribute = inner.attribute.compactMap { a in
                    guard !a.refAttrName.isEmpty else { return a }
                    // An attribute the call leaves unset and the function gives no default for is omitted.
                    guard var value = given[a.refAttrName] else { return nil }
                    value.name = a.name
                    return value
                }
                body += expand(copy)
            }
            return body
        }
        return nodes.flatMap(expand)
    }

    /// The most nodes a graph may have once its functions are inlined (the largest classifiers have some tens of
    /// thousands).
    static let maximumInlinedNodes = 1_000_000

    private static func valueInfo(_ v: Onnx_ValueInfoProto) -> ONNXValueInfo {
        let tensorType = v.type.tensorType
        let element = Onnx_TensorProto.DataType(rawValue: Int(tensorType.elemType)).map { "\($0)" } ?? "type \(tensorType.elemType)"
        guard tensorType.hasShape else {
            return ONNXValueInfo(name: v.name, elementType: element, shape: nil, dimensionNames: [])
        }
        let dims = tensorType.shape.dim
        return ONNXValueInfo(name: v.name, elementType: element,
                             shape: dims.map { if case .dimValue(let v)? = $0.value, v > 0 { return Int(v) } else { return nil } },
                             dimensionNames: dims.map { if case .dimParam(let p)? = $0.value { return p } else { return nil } })
    }
}

/// Decodes `TensorProto`s (inline or external) and attributes into this library's values.
private struct TensorDecoder {
    let file: String
    let directory: URL?

    func attribute(_ a: Onnx_AttributeProto, node: String) throws -> ONNXAttribute {
        switch a.type {
        case .int: return .int(Int(a.i))
        case .float: return .float(a.f)
        case .string: return .string(String(decoding: a.s, as: UTF8.self))
        case .ints: return .ints(a.ints.map { Int($0) })
        case .floats: return .floats(a.floats)
        case .tensor: return .tensor(try value(of: a.t))
        default: return .other
        }
    }

    func value(of t: Onnx_TensorProto) throws -> ONNXValue {
        let shape = t.dims.map { Int($0) }
        guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }) < 1 << 34 else {
            throw ONNXError(file: file, problem: "tensor '\(t.name)' has an invalid shape \(t.dims)")
        }
        let count = shape.reduce(1, *)
        let raw = t.dataLocation == .external ? try externalBytes(of: t) : (t.hasRawData ? t.rawData : nil)
        func wrongCount(_ n: Int) -> ONNXError {
            ONNXError(file: file, problem: "tensor '\(t.name)' of shape \(shape) holds \(n) values")
        }
        func ints(_ values: [Int], bool: Bool = false, range: ClosedRange<Int>? = nil) throws -> ONNXValue {
            guard values.count == count else { throw wrongCount(values.count) }
            var tensor = IntegerTensor(shape: shape, values: values, isBool: bool)
            tensor.storedRange = range
            return .integer(tensor)
        }
        func floats(_ values: [Float]) throws -> ONNXValue {
            guard values.count == count else { throw wrongCount(values.count) }
            return .float(Tensor(shape: shape, scalars: values))
        }
        switch Onnx_TensorProto.DataType(rawValue: Int(t.dataType)) {
        case .float?:
            guard let raw else { return try floats(t.floatData) }
            // Straight from the bytes into the tensor's storage: a ViT-B/16 export holds 346 MB of these.
            guard raw.count == count * 4 else { throw wrongCount(raw.count / 4) }
            return .float(Tensor(shape: shape) { out in raw.copyLittleEndianFloats(into: out) })
        case .double?:
            if let raw { return try floats(raw.littleEndianValues(of: UInt64.self).map { Float(Double(bitPattern: $0)) }) }
            return try floats(t.doubleData.map { Float($0) })
        case .float16?:
            if let raw { return try floats(raw.littleEndianValues(of: UInt16.self).map { Float(Float16(bitPattern: $0)) }) }
            return try floats(t.int32Data.map { Float(Float16(bitPattern: UInt16(truncatingIfNeeded: $0))) })
        case .int64?:
            if let raw { return try ints(raw.littleEndianValues(of: UInt64.self).map { Int(Int64(bitPattern: $0)) }) }
            return try ints(t.int64Data.map { Int($0) })
        case .int32?:
            if let raw { return try ints(raw.littleEndianValues(of: UInt32.self).map { Int(Int32(bitPattern: $0)) }, range: Int(Int32.min)...Int(Int32.max)) }
            return try ints(t.int32Data.map { Int($0) }, range: Int(Int32.min)...Int(Int32.max))
        case .int8?, .uint8?, .bool?:
            let signed = t.dataType == Onnx_TensorProto.DataType.int8.rawValue
            let bool = t.dataType == Onnx_TensorProto.DataType.bool.rawValue
            let range: ClosedRange<Int>? = bool ? nil : signed ? -128...127 : 0...255
            if let raw { return try ints(raw.map { signed ? Int(Int8(bitPattern: $0)) : Int($0) }, bool: bool, range: range) }
            return try ints(t.int32Data.map { Int($0) }, bool: bool, range: range)
        default:
            throw ONNXError(file: file, problem: "tensor '\(t.name)' has element type \(t.dataType), which this library does not read")
        }
    }

    /// The bytes of a tensor stored in a file beside the model (`location`, optional `offset` and `length`).
    private func externalBytes(of t: Onnx_TensorProto) throws -> Data {
        let entries = Dictionary(t.externalData.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
        guard let location = entries["location"], !location.isEmpty else {
            throw ONNXError(file: file, problem: "tensor '\(t.name)' is stored externally but names no location")
        }
        guard let directory else {
            throw ONNXError(file: file, problem: "tensor '\(t.name)' is stored in '\(location)', but the model was read from memory")
        }
        // The location is relative to the model's directory and may not leave it (ONNX's own checker rule).
        let parts = location.split(separator: "/", omittingEmptySubsequences: true)
        guard !location.hasPrefix("/"), !parts.contains(".."), !location.contains("\\") else {
            throw ONNXError(file: file, problem: "tensor '\(t.name)': external data location '\(location)' leaves the model's directory")
        }
        let url = directory.appendingPathComponent(location)
        if let problem = regularFileProblem(at: url) {
            throw ONNXError(file: file, problem: "tensor '\(t.name)': external data file '\(location)': \(problem)")
        }
        let whole: Data
        do { whole = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw ONNXError(file: file, problem: "tensor '\(t.name)': cannot read its external data file '\(location)'")
        }
        let offset = Int(entries["offset"] ?? "0") ?? -1
        let length = entries["length"].map { Int($0) ?? -1 } ?? (whole.count - max(offset, 0))
        guard offset >= 0, length >= 0, offset <= whole.count, length <= whole.count - offset else {
            throw ONNXError(file: file, problem: "tensor '\(t.name)': offset \(entries["offset"] ?? "0") and length "
                + "\(entries["length"] ?? "-") lie outside '\(location)' (\(whole.count) bytes)")
        }
        return whole.subdata(in: whole.startIndex + offset ..< whole.startIndex + offset + length)
    }
}

extension Data {
    /// Fills `out` with the little-endian Float32 values these bytes hold (`out.count` × 4 bytes).
    fileprivate func copyLittleEndianFloats(into out: UnsafeMutableBufferPointer<Float>) {
        withUnsafeBytes { raw in
            #if _endian(little)
            if out.count > 0 { UnsafeMutableRawPointer(out.baseAddress!).copyMemory(from: raw.baseAddress!, byteCount: out.count * 4) }
            #else
            for i in out.indices { out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))) }
            #endif
        }
    }

    /// The bytes read as consecutive little-endian integers of `T`'s width (a trailing partial value is dropped,
    /// and the caller's count check reports it).
    fileprivate func littleEndianValues<T: FixedWidthInteger>(of: T.Type) -> [T] {
        let n = count / MemoryLayout<T>.size
        return [T](unsafeUninitializedCapacity: n) { buffer, initialized in
            withUnsafeBytes { raw in
                for i in 0..<n { buffer[i] = T(littleEndian: raw.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self)) }
            }
            initialized = n
        }
    }
}
