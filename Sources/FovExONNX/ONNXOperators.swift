import Foundation
import FovExTensor

/// A compiled node: maps its input values (nil for an omitted optional input) to its outputs.
typealias ONNXKernel = ([ONNXValue?]) throws -> [ONNXValue]

/// A node's problem found while it runs (a shape the op cannot take); the graph reports it with the node's name.
struct KernelError: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}

/// A node that uses an op in a way this library does not implement (reported before any work).
struct UnsupportedUseError: Error {
    var reason: String
    init(_ reason: String) { self.reason = reason }
}

/// What a kernel builder sees of its node at load time.
struct KernelContext {
    let node: ONNXNode
    let opset: Int
    /// Values known at load time (initializers and folded sub-graphs) by name.
    let constants: [String: ONNXValue]

    /// The constant value of input `i`, when it is known at load time.
    func constant(_ i: Int) -> ONNXValue? {
        guard i < node.inputs.count, !node.inputs[i].isEmpty else { return nil }
        return constants[node.inputs[i]]
    }

    func constantFloat(_ i: Int) -> Tensor? {
        if case .float(let t)? = constant(i) { return t }
        return nil
    }

    /// Fails unless every listed attribute has its default (or one of the accepted) values.
    func require(_ key: String, in accepted: [Int], default value: Int) throws {
        let v = node.int(key, default: value)
        guard accepted.contains(v) else { throw UnsupportedUseError("attribute \(key) = \(v) is not supported") }
    }
}

/// Builds a node's kernel at load time, checking its attributes.
typealias KernelBuilder = (KernelContext) throws -> ONNXKernel

/// The ops this library runs, by op type (default domain), gathered from the op-family files.
enum ONNXOperators {
    static let builders: [String: KernelBuilder] = {
        var all: [String: KernelBuilder] = [:]
        for family in [elementwiseBuilders, shapeBuilders, convolutionBuilders, poolingBuilders, linearBuilders,
                       indexingBuilders, einsumBuilders, attentionBuilders, quantizationBuilders] {
            all.merge(family) { first, _ in first }
        }
        return all
    }()

    /// The supported op types, sorted.
    static var supportedOpTypes: [String] { builders.keys.sorted() }

    /// The builder for `node`'s op: a default-domain op's, or one of the steps a node was expanded into at load.
    static func builder(for node: ONNXNode) -> KernelBuilder? {
        if node.domain.isEmpty || node.domain == "ai.onnx" { return builders[node.opType] }
        if node.domain == ONNXAttention.expansionDomain { return ONNXAttention.builders[node.opType] }
        if node.domain == ONNXQuantization.expansionDomain { return ONNXQuantization.builders[node.opType] }
        return nil
    }
}

// MARK: - Helpers shared by the op families

func floatInput(_ inputs: [ONNXValue?], _ i: Int, _ op: String) throws -> Tensor {
    guard i < inputs.count, let v = inputs[i] else { throw KernelError("\(op) needs input \(i)") }
    guard case .float(let t) = v else { throw KernelError("\(op) input \(i) is an integer tensor; a float one is needed") }
    return t
}

func integerInput(_ inputs: [ONNXValue?], _ i: Int, _ op: String) throws -> IntegerTensor {
    guard i < inputs.count, let v = inputs[i] else { throw KernelError("\(op) needs input \(i)") }
    switch v {
    case .integer(let t): return t
    case .float(let t):
        // Shape arithmetic sometimes passes through a float cast; whole numbers convert exactly.
        let s = t.scalars
        guard s.allSatisfy({ $0 == $0.rounded() && abs($0) < 1e15 }) else {
            throw KernelError("\(op) input \(i) must hold integers")
        }
        return IntegerTensor(shape: t.shape, values: s.map { Int($0) })
    }
}

/// The input as a list of integers (a 1-D or scalar integer tensor), or nil when omitted.
func integerList(_ inputs: [ONNXValue?], _ i: Int, _ op: String) throws -> [Int]? {
    guard i < inputs.count, inputs[i] != nil else { return nil }
    return try integerInput(inputs, i, op).values
}

/// A scalar number from a float or integer input of one element.
func scalarInput(_ inputs: [ONNXValue?], _ i: Int, _ op: String) throws -> Float? {
    guard i < inputs.count, let v = inputs[i] else { return nil }
    switch v {
    case .float(let t):
        guard t.count == 1 else { throw KernelError("\(op) input \(i) must be a scalar, got shape \(t.shape)") }
        return t.scalars[0]
    case .integer(let t):
        guard t.count == 1 else { throw KernelError("\(op) input \(i) must be a scalar, got shape \(t.shape)") }
        return Float(t.values[0])
    }
}

/// `axis` (negative counts from the end) as an index into `rank` axes.
func normalizedAxis(_ axis: Int, rank: Int, _ op: String) throws -> Int {
    let a = axis < 0 ? axis + rank : axis
    guard a >= 0 && a < rank else { throw KernelError("\(op): axis \(axis) out of range for rank \(rank)") }
    return a
}

extension IntegerTensor {
    /// Row-major strides.
    var strides: [Int] { Tensor.contiguousStrides(for: shape) }

    /// The tensor broadcast (numpy rules) to `target`.
    func broadcast(to target: [Int]) throws -> IntegerTensor {
        if target == shape { return self }
        guard let s = Tensor.broadcastShape(shape, target), s == target else {
            throw KernelError("cannot broadcast shape \(shape) to \(target)")
        }
        let lead = target.count - shape.count
        let own = strides
        var st = [Int](repeating: 0, count: target.count)
        for i in 0..<shape.count where shape[i] != 1 { st[lead + i] = own[i] }
        let count = target.reduce(1, *)
        var out = [Int](repeating: 0, count: count)
        var index = [Int](repeating: 0, count: target.count)
        for o in 0..<count {
            var src = 0
            for d in 0..<target.count { src += index[d] * st[d] }
            out[o] = values[src]
            var d = target.count - 1
            while d >= 0 { index[d] += 1; if index[d] < target[d] { break }; index[d] = 0; d -= 1 }
        }
        return IntegerTensor(shape: target, values: out, isBool: isBool)
    }

    /// Elements picked per axis: the result's axis d holds this tensor's indices `picks[d]` along d.
    func taking(_ picks: [[Int]]) -> IntegerTensor {
        let outShape = picks.map(\.count)
        let count = outShape.reduce(1, *)
        let st = strides
        var out: [Int] = []
        out.reserveCapacity(count)
        var index = [Int](repeating: 0, count: picks.count)
        for _ in 0..<count {
            var src = 0
            for d in 0..<picks.count { src += picks[d][index[d]] * st[d] }
            out.append(values[src])
            var d = picks.count - 1
            while d >= 0 { index[d] += 1; if index[d] < outShape[d] { break }; index[d] = 0; d -= 1 }
        }
        return IntegerTensor(shape: outShape, values: out, isBool: isBool)
    }

    /// A numpy-broadcasting element-wise combination.
    static func combined(_ a: IntegerTensor, _ b: IntegerTensor, bool: Bool = false,
                         _ f: (Int, Int) throws -> Int) throws -> IntegerTensor {
        guard let s = Tensor.broadcastShape(a.shape, b.shape) else {
            throw KernelError("shapes \(a.shape) and \(b.shape) do not broadcast")
        }
        let x = try a.broadcast(to: s), y = try b.broadcast(to: s)
        return IntegerTensor(shape: s, values: try zip(x.values, y.values).map { try f($0, $1) }, isBool: bool)
    }
}
