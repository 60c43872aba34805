import Foundation
import FovExTensor

/// An integer or boolean tensor of a graph's shape arithmetic (Shape, Gather, Concat, Range…), kept
/// apart from the differentiable Float32 tensors because it never takes part in differentiation.
struct IntegerTensor: Equatable {
    var shape: [Int]
    var values: [Int]
    /// Booleans (results of Equal, Not; Where's condition) are stored as 0 and 1.
    var isBool = false
    /// The range of the type a file stored the tensor in, for int8, uint8 and int32: a quantization's zero point
    /// gives the quantized type by its own (ONNX's QuantizeLinear). Nil for computed tensors and other types.
    var storedRange: ClosedRange<Int>? = nil

    init(shape: [Int], values: [Int], isBool: Bool = false) {
        precondition(shape.reduce(1, *) == values.count, "IntegerTensor shape \(shape) holds \(values.count) values")
        self.shape = shape
        self.values = values
        self.isBool = isBool
    }

    init(vector: [Int]) { self.init(shape: [vector.count], values: vector) }

    var count: Int { values.count }
}

/// A value flowing along a graph edge.
enum ONNXValue {
    case float(Tensor)
    case integer(IntegerTensor)

    var shape: [Int] {
        switch self {
        case .float(let t): return t.shape
        case .integer(let t): return t.shape
        }
    }
}

/// An attribute of a node, decoded from `AttributeProto`.
enum ONNXAttribute {
    case int(Int)
    case float(Float)
    case string(String)
    case ints([Int])
    case floats([Float])
    case tensor(ONNXValue)
    /// A kind this library does not read (graphs, sparse tensors, type protos).
    case other
}

/// One node of the graph, decoded from `NodeProto`.
struct ONNXNode {
    var opType: String
    var domain: String
    /// The node's name, or `#index` in the graph's node list when it has none.
    var name: String
    /// Input names; an empty name is an omitted optional input.
    var inputs: [String]
    var outputs: [String]
    var attributes: [String: ONNXAttribute]

    func int(_ key: String, default value: Int) -> Int {
        if case .int(let v)? = attributes[key] { return v }
        return value
    }

    func float(_ key: String, default value: Float) -> Float {
        if case .float(let v)? = attributes[key] { return v }
        return value
    }

    func ints(_ key: String) -> [Int]? {
        if case .ints(let v)? = attributes[key] { return v }
        return nil
    }

    func floats(_ key: String) -> [Float]? {
        if case .floats(let v)? = attributes[key] { return v }
        return nil
    }

    func string(_ key: String) -> String? {
        if case .string(let v)? = attributes[key] { return v }
        return nil
    }
}

/// A graph input or output with the shape it declares (nil entries are symbolic or unknown dimensions).
public struct ONNXValueInfo: Sendable, Equatable {
    /// The value's name in the graph.
    public var name: String
    /// The ONNX element type's name (`float`, `int64`…).
    public var elementType: String
    /// Declared dimensions, nil where symbolic (a dynamic batch) or absent; nil when no shape is declared.
    public var shape: [Int?]?
    /// The symbolic names of dimensions, where they have one.
    public var dimensionNames: [String?]

    /// The shape for people: `[batch, 3, 224, 224]`, symbolic dimensions by name and unknown ones as `?`;
    /// `?` alone when no shape is declared.
    public var shapeDescription: String {
        guard let shape else { return "?" }
        return "[" + shape.enumerated().map { i, d in d.map(String.init) ?? dimensionNames[i] ?? "?" }
            .joined(separator: ", ") + "]"
    }
}

/// An ONNX model decoded into this library's terms: the main graph's nodes, its constant tensors and
/// its declared inputs and outputs.
public struct ONNXModel {
    /// The model file (as given), for error messages; `<bytes>` for a model parsed from memory.
    public let file: String
    /// The default (`ai.onnx`) domain's opset version.
    public let opset: Int
    /// Other domains the model imports, with their versions.
    public let otherOpsets: [String: Int]
    /// The exporter's name and version (`producer_name` and `producer_version`, e.g. `pytorch 1.13.1`); empty when
    /// the file does not say.
    public let producer: String
    /// The graph's inputs that are not initializers (the model's real inputs).
    public let inputs: [ONNXValueInfo]
    /// The graph's outputs; a classifier's first one is its logits.
    public let outputs: [ONNXValueInfo]
    /// Free-form key/value metadata (`metadata_props`), where an exporter wrote preprocessing hints.
    public let metadata: [String: String]
    let nodes: [ONNXNode]
    /// Initializers, already decoded (external data included).
    let initializers: [String: ONNXValue]

    /// The op types the graph uses, with how many nodes use each.
    public var operatorCounts: [String: Int] {
        nodes.reduce(into: [:]) { $0[$1.qualifiedOpType, default: 0] += 1 }
    }

    /// The same model without its initializers, for a holder whose compiled ``ONNXProgram`` keeps the constants
    /// it reads: the weights are then held once.
    func droppingInitializers() -> ONNXModel {
        ONNXModel(file: file, opset: opset, otherOpsets: otherOpsets, producer: producer, inputs: inputs, outputs: outputs,
                  metadata: metadata, nodes: nodes, initializers: [:])
    }
}

extension ONNXNode {
    /// The op type, prefixed by its domain when that is not the default one.
    var qualifiedOpType: String {
        domain.isEmpty || domain == "ai.onnx" ? opType : "\(domain).\(opType)"
    }
}
