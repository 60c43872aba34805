import Foundation
import FovExTensor

/// ONNX's QDQ quantization: `QuantizeLinear` and `DequantizeLinear` around float ops, as onnxruntime's quantizer
/// (`quantize_static`, QDQ format), TensorRT's and most deployment tool chains write a quantized classifier.
///
/// The graph runs in float with the quantization's rounding. A `DequantizeLinear` of constant 8-bit weights folds at
/// load into float weights, (q − zero point) · scale. A `QuantizeLinear` whose output feeds `DequantizeLinear`s of
/// the same scale and zero point (the activations' Q → DQ pairs) becomes one step of this library's own,
/// `FakeQuantize`: clamp(round(x / scale) + zero point, type's range), less the zero point, times the scale — the
/// value onnxruntime computes — whose gradient is the straight-through estimator of quantization-aware training
/// (PyTorch's `fake_quantize_*` backward): the incoming gradient where round(x / scale) + zero point lies in the
/// type's range, zero where it saturates. Without it the rounding's zero derivative would leave every gradient
/// explainer blank.
///
/// Per-tensor and per-axis (opset 13) scales; int8 and uint8 (the zero point's stored type, or opset 21's
/// `output_dtype`; uint8 when neither is given) and int32 (a bias's `DequantizeLinear`). Blocked quantization
/// (`block_size`, opset 21), 4- and 16-bit and float8 types are refused, naming the node. The operator-oriented
/// format (QLinearConv, QLinearMatMul, ConvInteger) is not run.
enum ONNXQuantization {
    /// The domain of `FakeQuantize`, which no model file names.
    static let expansionDomain = "fovex.quantization"

    /// `nodes` with each `DequantizeLinear` that reads a `QuantizeLinear` of the same scale, zero point and axis
    /// replaced by a `FakeQuantize` of the `QuantizeLinear`'s float input; a `QuantizeLinear` whose readers were all
    /// replaced (and that is no graph output) is dropped.
    static func pairing(_ nodes: [ONNXNode], initializers: [String: ONNXValue], graphOutputs: Set<String>) -> [ONNXNode] {
        func isDefault(_ n: ONNXNode) -> Bool { n.domain.isEmpty || n.domain == "ai.onnx" }
        var producer: [String: Int] = [:]
        for (i, n) in nodes.enumerated() where n.opType == "QuantizeLinear" && isDefault(n) {
            if let out = n.outputs.first { producer[out] = i }
        }
        guard !producer.isEmpty else { return nodes }
        func input(_ n: ONNXNode, _ i: Int) -> String { i < n.inputs.count ? n.inputs[i] : "" }
        func same(_ a: String, _ b: String) -> Bool {
            if a == b { return true }
            switch (initializers[a], initializers[b]) {
            case (.float(let x)?, .float(let y)?): return x.shape == y.shape && x.scalars == y.scalars
            case (.integer(let x)?, .integer(let y)?): return x.shape == y.shape && x.values == y.values && x.storedRange == y.storedRange
            default: return false
            }
        }
        var rewritten = nodes
        var pairedReaders: [Int: Int] = [:]
        for (i, n) in nodes.enumerated() where n.opType == "DequantizeLinear" && isDefault(n) {
            guard let q = producer[input(n, 0)] else { continue }
            let quantize = nodes[q]
            guard same(input(quantize, 1), input(n, 1)), same(input(quantize, 2), input(n, 2)),
                  quantize.int("axis", default: 1) == n.int("axis", default: 1),
                  quantize.int("block_size", default: 0) == 0, n.int("block_size", default: 0) == 0 else { continue }
            var attributes = quantize.attributes.filter { ["axis", "output_dtype"].contains($0.key) }
            attributes["axis"] = .int(n.int("axis", default: 1))
            rewritten[i] = ONNXNode(opType: "FakeQuantize", domain: expansionDomain, name: n.name,
                                    inputs: [input(quantize, 0), input(quantize, 1), input(quantize, 2)],
                                    outputs: [n.outputs[0]], attributes: attributes)
            pairedReaders[q, default: 0] += 1
        }
        var readers: [String: Int] = [:]
        for n in nodes { for name in n.inputs where !name.isEmpty { readers[name, default: 0] += 1 } }
        let dropped = Set(pairedReaders.compactMap { q, paired -> Int? in
            let out = nodes[q].outputs[0]
            return readers[out] == paired && !graphOutputs.contains(out) ? q : nil
        })
        return rewritten.enumerated().filter { !dropped.contains($0.offset) }.map(\.element)
    }

    static let builders: [String: KernelBuilder] = [
        "FakeQuantize": { ctx in
            let plan = try QuantizationPlan(ctx)
            return { inputs in
                let x = try floatInput(inputs, 0, "QuantizeLinear")
                let (values, inRange) = try plan.fakeQuantized(x)
                guard x.requiresGradient else { return [.float(values)] }
                // The value is exactly `values`; the gradient passes where the rounding did not saturate.
                return [.float(values + (x - x.detached()) * inRange)]
            }
        },
    ]
}

/// A quantization's scale, zero point, axis and integer range, read at load from the node's constant inputs.
struct QuantizationPlan {
    let scale: [Float]
    let zeroPoint: [Int]
    /// The axis the scale runs along; nil for one scale for the whole tensor.
    let axis: Int?
    let range: ClosedRange<Int>

    init(_ ctx: KernelContext) throws {
        let node = ctx.node
        if node.int("block_size", default: 0) != 0 { throw UnsupportedUseError("blocked quantization (block_size) is not supported") }
        guard let scaleTensor = ctx.constantFloat(1) else { throw UnsupportedUseError("the scale must be a constant float tensor") }
        guard scaleTensor.rank <= 1, scaleTensor.count >= 1, scaleTensor.scalars.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw UnsupportedUseError("the scale must be one positive number or one per channel, got shape \(scaleTensor.shape)")
        }
        scale = scaleTensor.scalars
        // One scale per channel along `axis` (opset 13); a single one in a 1-D tensor is the same as per tensor.
        axis = scaleTensor.count > 1 ? node.int("axis", default: 1) : nil
        if let z = ctx.constant(2) {
            guard case .integer(let zero) = z else { throw UnsupportedUseError("a float zero point (float8 types) is not supported") }
            guard let stored = zero.storedRange else {
                throw UnsupportedUseError("the zero point's integer type is not known at load (int8, uint8 or int32 expected)")
            }
            guard zero.count == scale.count else {
                throw UnsupportedUseError("\(zero.count) zero points for \(scale.count) scales")
            }
            zeroPoint = zero.values
            range = stored
        } else if ctx.node.inputs.count > 2 && !ctx.node.inputs[2].isEmpty {
            throw UnsupportedUseError("the zero point must be a constant")
        } else {
            zeroPoint = [Int](repeating: 0, count: scale.count)
            switch node.int("output_dtype", default: 0) {
            case 0, 2: range = 0...255
            case 3: range = -128...127
            case let t: throw UnsupportedUseError("output_dtype = \(t) is not supported (int8 and uint8 are)")
            }
        }
    }

    /// The scale index of each element of a contiguous tensor of `shape`.
    private func channel(shape: [Int]) throws -> (Int) -> Int {
        guard let axis else { return { _ in 0 } }
        let a = axis < 0 ? axis + shape.count : axis
        guard a >= 0, a < shape.count, shape[a] == scale.count else {
            throw KernelError("\(scale.count) scales along axis \(axis) of a \(shape) tensor")
        }
        let inner = shape[(a + 1)...].reduce(1, *), n = shape[a]
        return { i in (i / inner) % n }
    }

    /// clamp(round-half-even(x / scale) + zero point) − zero point, times the scale, as onnxruntime computes it, and
    /// the mask (1, 0) of the elements whose rounding stayed inside the range.
    func fakeQuantized(_ x: Tensor) throws -> (values: Tensor, inRange: Tensor) {
        let source = x.detached().contiguous().scalars
        let index = try channel(shape: x.shape)
        var values = [Float](repeating: 0, count: source.count), mask = values
        let (low, high) = (Float(range.lowerBound), Float(range.upperBound))
        for i in source.indices {
            let c = index(i), zero = Float(zeroPoint[c])
            let q = (source[i] / scale[c]).rounded(.toNearestOrEven) + zero
            mask[i] = q >= low && q <= high ? 1 : 0
            values[i] = (Swift.min(Swift.max(q, low), high) - zero) * scale[c]
        }
        return (Tensor(shape: x.shape, scalars: values), Tensor(shape: x.shape, scalars: mask))
    }

    /// The integers round-half-even(x / scale) + zero point, clamped to the range.
    func quantized(_ x: Tensor) throws -> IntegerTensor {
        let source = x.detached().contiguous().scalars
        let index = try channel(shape: x.shape)
        let values = source.indices.map { i -> Int in
            let c = index(i)
            let q = (source[i] / scale[c]).rounded(.toNearestOrEven) + Float(zeroPoint[c])
            guard q.isFinite else { return q > 0 ? range.upperBound : range.lowerBound }
            return Swift.min(Swift.max(Int(Swift.max(Swift.min(q, 1e9), -1e9)), range.lowerBound), range.upperBound)
        }
        var out = IntegerTensor(shape: x.shape, values: values)
        out.storedRange = range
        return out
    }

    /// (q − zero point) · scale.
    func dequantized(_ q: IntegerTensor) throws -> Tensor {
        let index = try channel(shape: q.shape)
        return Tensor(shape: q.shape, scalars: q.values.indices.map { i in
            let c = index(i)
            return Float(q.values[i] - zeroPoint[c]) * scale[c]
        })
    }
}

extension ONNXOperators {
    static let quantizationBuilders: [String: KernelBuilder] = [
        // Float to integers: a QuantizeLinear left after pairing (its output read by something other than a
        // matching DequantizeLinear). Its integer output carries no gradient.
        "QuantizeLinear": { ctx in
            let plan = try QuantizationPlan(ctx)
            return { inputs in [.integer(try plan.quantized(try floatInput(inputs, 0, "QuantizeLinear")))] }
        },
        "DequantizeLinear": { ctx in
            let plan = try QuantizationPlan(ctx)
            return { inputs in
                guard inputs.count > 0, case .integer(let q)? = inputs[0] else {
                    throw KernelError("DequantizeLinear needs an integer input")
                }
                return [.float(try plan.dequantized(q))]
            }
        },
    ]
}
