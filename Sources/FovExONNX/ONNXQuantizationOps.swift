import Foundation
import FovExTensor

/// Quantized ONNX models, in the three forms onnxruntime's quantizer writes: QDQ (`QuantizeLinear` → `DequantizeLinear` pairs around
/// float ops, as `quantize_static` writes by default, and TensorRT and most deployment tool chains) and the
/// operator-oriented one (`QLinearConv`, `QLinearMatMul` and the `com.microsoft` `QLinear*` ops, as the ONNX Model
/// Zoo's int8 classifiers hold them; `QGemm` is a `com.microsoft` op too), and dynamic quantization (below).
///
/// The graph runs in float on the quantized tensors' dequantized values ((q − zero point) · scale, the numbers the
/// integers stand for). `QuantizeLinear` gives those values directly: clamp(round-half-even(x / scale) + zero point,
/// the type's range), less the zero point, times the scale — what onnxruntime computes — and its gradient is the
/// straight-through estimator of quantization-aware training (PyTorch's `fake_quantize_*` backward): the incoming
/// gradient where the rounding stays inside the range, zero where it saturates. Without it the rounding's zero
/// derivative would leave every gradient explainer blank. `DequantizeLinear` of such a value is then the value
/// itself; of stored integers (weights, int32 biases) it computes (q − zero point) · scale, which folds at load.
/// Max pooling, reshapes and concatenations of one scale, which operator-oriented graphs run on the integers,
/// commute with dequantization. Each `QLinear*` op is expanded at load into the float op between a
/// `DequantizeLinear` of its inputs and a `QuantizeLinear` of its output; its integer arithmetic
/// (Σ (x − zₓ)(w − z_w) + bias, rescaled by sₓ · s_w / s_y and rounded) is the same up to float rounding in the sums.
///
/// Per-tensor and per-axis (opset 13) scales; int8 and uint8 (the zero point's stored type, or opset 21's
/// `output_dtype`; uint8 when neither is given) and int32 biases. Blocked quantization (`block_size`), 4- and 16-bit
/// and float8 types, and a `DequantizeLinear` whose scale or zero point differs from the `QuantizeLinear` it reads are
/// refused, naming the node.
///
/// Dynamic quantization (onnxruntime's `quantize_dynamic`, the usual way to quantize a transformer): a
/// `DynamicQuantizeLinear` finds each tensor's uint8 scale and zero point from its own range (over the whole tensor,
/// as the spec defines it; the classifier then runs such graphs image by image, as onnxruntime does at batch 1), and
/// `MatMulInteger` / `ConvInteger` multiply the integers less their zero points. Here the first gives the dequantized
/// values with the straight-through gradient, the scale and the zero point; each integer product is expanded at
/// load into `IntegerValues` steps of its operands (a dequantized value divided by its scale and rounded, the
/// gradient passing straight through; stored integers less their zero point, folded at load) and the float
/// `MatMul` or `Conv` of those, whose float result the graph's own `Cast` and scale products then read.
enum ONNXQuantization {
    /// The domain of `IntegerValues`, which no model file names.
    static let expansionDomain = "fovex.quantization"

    /// `nodes` with each operator-oriented quantized op (`QLinearConv`, `QLinearMatMul`, and `QGemm`, `QLinearAdd`,
    /// `QLinearMul`, `QLinearGlobalAveragePool`, `QLinearAveragePool`, `QLinearConcat`, `QLinearSigmoid`,
    /// `QLinearLeakyRelu` of the `com.microsoft` domain) replaced by its float op between `DequantizeLinear`s and a
    /// `QuantizeLinear`, each `MatMulInteger` and `ConvInteger` by its float product, and each `DequantizeLinear`
    /// that reads a quantized value of another scale or zero point marked for refusal.
    static func expanding(_ nodes: [ONNXNode], initializers: [String: ONNXValue]) -> [ONNXNode] {
        // Where each value's scale is, for the integer products' operands: a QuantizeLinear's input 1, a
        // DynamicQuantizeLinear's output 1.
        var scaleOf: [String: String] = [:]
        for n in nodes where isDefault(n) && n.outputs.count > 0 {
            if n.opType == "QuantizeLinear" { scaleOf[n.outputs[0]] = input(n, 1) }
            if n.opType == "DynamicQuantizeLinear", n.outputs.count > 1 { scaleOf[n.outputs[0]] = n.outputs[1] }
        }
        let expanded = nodes.flatMap { node -> [ONNXNode] in
            integerProduct(node, scaleOf: scaleOf) ?? expansion(of: node) ?? [node]
        }
        // Where each quantized value comes from: its scale and zero point names.
        var quantizedBy: [String: (scale: String, zero: String)] = [:]
        for n in expanded where n.opType == "QuantizeLinear" && isDefault(n) {
            quantizedBy[n.outputs[0]] = (input(n, 1), input(n, 2))
        }
        func same(_ a: String, _ b: String) -> Bool {
            if a == b { return true }
            switch (initializers[a], initializers[b]) {
            case (.float(let x)?, .float(let y)?): return x.shape.reduce(1, *) == y.shape.reduce(1, *) && x.scalars == y.scalars
            case (.integer(let x)?, .integer(let y)?): return x.values == y.values && x.storedRange == y.storedRange
            case (nil, .integer(let y)?) where a.isEmpty: return y.values.allSatisfy { $0 == 0 } && y.storedRange == 0...255
            case (.integer(let x)?, nil) where b.isEmpty: return x.values.allSatisfy { $0 == 0 } && x.storedRange == 0...255
            default: return false
            }
        }
        return expanded.map { n in
            guard n.opType == "DequantizeLinear", isDefault(n), let producer = quantizedBy[input(n, 0)],
                  !(same(producer.scale, input(n, 1)) && same(producer.zero, input(n, 2))) else { return n }
            var marked = n
            marked.attributes[mismatchMark] = .int(1)
            return marked
        }
    }

    /// The quantization a graph with these op counts holds, in words, or nil when it holds none.
    static func form(of counts: [String: Int]) -> String? {
        if counts["DynamicQuantizeLinear"] != nil {
            return "dynamic (DynamicQuantizeLinear: each image's own uint8 ranges; images run one at a time)"
        }
        if counts.keys.contains(where: { $0.hasPrefix("QLinear") || $0.hasPrefix("com.microsoft.QLinear") || $0 == "com.microsoft.QGemm" }) {
            return "operator-oriented (QLinearConv, QLinearMatMul, com.microsoft QLinear ops)"
        }
        if counts["QuantizeLinear"] != nil || counts["DequantizeLinear"] != nil { return "QDQ (QuantizeLinear → DequantizeLinear)" }
        return nil
    }

    /// The attribute that marks a `DequantizeLinear` of a value quantized with another scale or zero point.
    static let mismatchMark = "fovex_quantized_with_other_parameters"

    private static func isDefault(_ n: ONNXNode) -> Bool { n.domain.isEmpty || n.domain == "ai.onnx" }
    private static func input(_ n: ONNXNode, _ i: Int) -> String { i < n.inputs.count ? n.inputs[i] : "" }

    /// `MatMulInteger` (A, B, a_zero_point, b_zero_point) or `ConvInteger` (x, w, x_zero_point, w_zero_point) as the
    /// float product of its operands' integer values, when its first operand is a quantized value whose scale is
    /// known; nil for any other node (an integer product of anything else is then refused, by the op's name).
    private static func integerProduct(_ node: ONNXNode, scaleOf: [String: String]) -> [ONNXNode]? {
        guard isDefault(node), ["MatMulInteger", "ConvInteger"].contains(node.opType), node.outputs.count == 1,
              let scale = scaleOf[input(node, 0)] else { return nil }
        let prefix = node.name + "/"
        let convolution = node.opType == "ConvInteger"
        // MatMulInteger's b_zero_point runs along B's columns; ConvInteger's w_zero_point along its output channels.
        let values = [
            ONNXNode(opType: "IntegerValues", domain: expansionDomain, name: prefix + "a", inputs: [input(node, 0), scale, ""],
                     outputs: [prefix + "a"], attributes: [:]),
            ONNXNode(opType: "IntegerValues", domain: expansionDomain, name: prefix + "b", inputs: [input(node, 1), "", input(node, 3)],
                     outputs: [prefix + "b"], attributes: ["axis": .int(convolution ? 0 : -1)]),
        ]
        let product = ONNXNode(opType: convolution ? "Conv" : "MatMul", domain: "", name: prefix + "product",
                               inputs: [prefix + "a", prefix + "b"], outputs: node.outputs,
                               attributes: convolution ? node.attributes : [:])
        return values + [product]
    }

    /// The steps of one operator-oriented quantized op, or nil for any other node.
    private static func expansion(of node: ONNXNode) -> [ONNXNode]? {
        let microsoft = node.domain == "com.microsoft"
        guard isDefault(node) ? ["QLinearConv", "QLinearMatMul"].contains(node.opType)
                : microsoft && ["QGemm", "QLinearAdd", "QLinearMul", "QLinearGlobalAveragePool", "QLinearAveragePool", "QLinearConcat",
                                "QLinearSigmoid", "QLinearLeakyRelu"].contains(node.opType) else { return nil }
        guard node.outputs.count == 1, !node.outputs[0].isEmpty else { return nil }
        let prefix = node.name + "/"
        var steps: [ONNXNode] = []
        func step(_ op: String, _ inputs: [String], _ output: String, _ attributes: [String: ONNXAttribute] = [:]) -> String {
            steps.append(ONNXNode(opType: op, domain: "", name: prefix + output, inputs: inputs, outputs: [prefix + output],
                                  attributes: attributes))
            return prefix + output
        }
        func dequantized(_ i: Int, _ name: String, axis: Int? = nil) -> String {
            step("DequantizeLinear", [input(node, i), input(node, i + 1), input(node, i + 2)], name,
                 axis.map { ["axis": .int($0)] } ?? [:])
        }
        func quantized(_ value: String, scale: Int) {
            steps.append(ONNXNode(opType: "QuantizeLinear", domain: "", name: prefix + "quantized",
                                  inputs: [value, input(node, scale), input(node, scale + 1)], outputs: node.outputs, attributes: [:]))
        }
        let own = node.attributes.filter { $0.key != "channels_last" }
        switch node.opType {
        case "QLinearConv":
            // x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, B (int32 at x_scale · w_scale).
            var convInputs = [dequantized(0, "x"), dequantized(3, "w", axis: 0)]
            if !input(node, 8).isEmpty {
                let biasScale = step("Mul", [input(node, 1), input(node, 4)], "bias_scale")
                convInputs.append(step("DequantizeLinear", [input(node, 8), biasScale], "bias", ["axis": .int(0)]))
            }
            quantized(step("Conv", convInputs, "y", own), scale: 6)
        case "QGemm":
            // A, a_scale, a_zero_point, B, b_scale, b_zero_point, C (int32 at a_scale · b_scale), y_scale, y_zero_point;
            // without y_scale the output stays float. B's scales run along its output axis.
            let transposed = node.int("transB", default: 0) != 0
            var gemmInputs = [dequantized(0, "a"), dequantized(3, "b", axis: transposed ? 0 : 1)]
            if !input(node, 6).isEmpty {
                let biasScale = step("Mul", [input(node, 1), input(node, 4)], "bias_scale")
                gemmInputs.append(step("DequantizeLinear", [input(node, 6), biasScale], "bias", ["axis": .int(0)]))
            }
            if input(node, 7).isEmpty {
                steps.append(ONNXNode(opType: "Gemm", domain: "", name: prefix + "y", inputs: gemmInputs, outputs: node.outputs,
                                      attributes: own))
            } else {
                quantized(step("Gemm", gemmInputs, "y", own), scale: 7)
            }
        case "QLinearMatMul":
            // a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point; b's scales run along its columns.
            quantized(step("MatMul", [dequantized(0, "a"), dequantized(3, "b", axis: -1)], "y"), scale: 6)
        case "QLinearAdd", "QLinearMul":
            quantized(step(String(node.opType.dropFirst("QLinear".count)), [dequantized(0, "a"), dequantized(3, "b")], "y"), scale: 6)
        case "QLinearConcat":
            // y_scale, y_zero_point, then (x, x_scale, x_zero_point) per input.
            let parts = stride(from: 2, to: node.inputs.count - 2, by: 3).map { dequantized($0, "x\(($0 - 2) / 3)") }
            quantized(step("Concat", parts, "y", own), scale: 0)
        default:
            // X, X_scale, X_zero_point, Y_scale, Y_zero_point around a one-input op.
            if node.int("channels_last", default: 0) != 0 { return nil }
            let op = ["QLinearGlobalAveragePool": "GlobalAveragePool", "QLinearAveragePool": "AveragePool",
                      "QLinearSigmoid": "Sigmoid", "QLinearLeakyRelu": "LeakyRelu"][node.opType]!
            quantized(step(op, [dequantized(0, "x")], "y", own), scale: 3)
        }
        return steps
    }
}

extension ONNXQuantization {
    static let builders: [String: KernelBuilder] = [
        // An integer product's operand as floats: stored integers less their zero point (input 2, per tensor or
        // along `axis`); or a dequantized value divided by its scale (input 1), rounded, with the gradient passing
        // straight through the rounding.
        "IntegerValues": { ctx in
            let zero: IntegerTensor? = try {
                guard let z = ctx.constant(2) else {
                    if ctx.node.inputs.count > 2 && !ctx.node.inputs[2].isEmpty { throw UnsupportedUseError("the zero point must be a constant") }
                    return nil
                }
                guard case .integer(let t) = z else { throw UnsupportedUseError("the zero point must be an integer tensor") }
                return t
            }()
            // Less the zero point is dequantizing with a scale of 1, per tensor or along `axis`.
            let zeros = zero?.values ?? [0]
            let unscaled = QuantizationPlan(scale: [Float](repeating: 1, count: zeros.count), zeroPoint: zeros,
                                            axis: zeros.count > 1 ? ctx.node.int("axis", default: 0) : nil, range: 0...0)
            return { inputs in
                switch inputs.first ?? nil {
                case .integer(let q)?:
                    return [.float(try unscaled.dequantized(q))]
                case .float(let x)?:
                    guard inputs.count > 1, case .float(let scale)? = inputs[1], scale.count == 1 else {
                        throw KernelError("IntegerValues needs the operand's scale")
                    }
                    let step = scale.scalars[0]
                    // A range of zeros has scale 0 (DynamicQuantizeLinear): every value is then the zero point.
                    guard step > 0 else { return [.float(Tensor(zeros: x.shape))] }
                    let ratio = x / step
                    let rounded = Tensor(shape: x.shape, scalars: ratio.detached().contiguous().scalars.map { $0.rounded(.toNearestOrEven) })
                    return [.float(ratio.requiresGradient ? rounded + (ratio - ratio.detached()) : rounded)]
                case nil: throw KernelError("IntegerValues needs an input")
                }
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

    init(scale: [Float], zeroPoint: [Int], axis: Int?, range: ClosedRange<Int>) {
        (self.scale, self.zeroPoint, self.axis, self.range) = (scale, zeroPoint, axis, range)
    }

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

    /// The tensor of `shape` as (outer, channels, inner) blocks: one scale for each run of `inner` elements.
    private func blocks(of shape: [Int]) throws -> (outer: Int, channels: Int, inner: Int) {
        let count = shape.reduce(1, *)
        guard let axis else { return (1, 1, count) }
        let a = axis < 0 ? axis + shape.count : axis
        guard a >= 0, a < shape.count, shape[a] == scale.count else {
            throw KernelError("\(scale.count) scales or zero points along axis \(axis) of a \(shape) tensor")
        }
        let inner = shape[(a + 1)...].reduce(1, *)
        return (count / max(inner * scale.count, 1), scale.count, inner)
    }

    /// clamp(round-half-even(x / scale) + zero point) − zero point, times the scale, as onnxruntime computes it
    /// (a division, not a product with the reciprocal), and, when asked, the mask (1, 0) of the elements whose
    /// rounding stayed inside the range.
    func fakeQuantized(_ x: Tensor, withMask: Bool) throws -> (values: Tensor, inRange: Tensor?) {
        let source = x.detached().contiguous()
        defer { withExtendedLifetime(source) {} }
        let (outer, channels, inner) = try blocks(of: x.shape)
        let (low, high) = (Float(range.lowerBound), Float(range.upperBound))
        let input = source.basePointer
        let mask: Tensor? = withMask ? Tensor.uninitialized(x.shape) : nil
        let flags = mask?.storage.pointer
        let values = Tensor(shape: x.shape) { out in
            var k = 0
            for _ in 0..<outer {
                for c in 0..<channels {
                    let (step, zero) = (scale[c], Float(zeroPoint[c]))
                    for i in k..<(k + inner) {
                        let q = (input[i] / step).rounded(.toNearestOrEven) + zero
                        out[i] = (Swift.min(Swift.max(q, low), high) - zero) * step
                        flags?[i] = q >= low && q <= high ? 1 : 0
                    }
                    k += inner
                }
            }
        }
        return (values, mask)
    }

    /// (q − zero point) · scale.
    func dequantized(_ q: IntegerTensor) throws -> Tensor {
        let (outer, channels, inner) = try blocks(of: q.shape)
        return Tensor(shape: q.shape) { out in
            var k = 0
            for _ in 0..<outer {
                for c in 0..<channels {
                    for i in k..<(k + inner) { out[i] = Float(q.values[i] - zeroPoint[c]) * scale[c] }
                    k += inner
                }
            }
        }
    }
}

extension ONNXOperators {
    static let quantizationBuilders: [String: KernelBuilder] = [
        // The quantized tensor's dequantized values, with the straight-through gradient (``ONNXQuantization``).
        "QuantizeLinear": { ctx in
            let plan = try QuantizationPlan(ctx)
            return { inputs in
                let x = try floatInput(inputs, 0, "QuantizeLinear")
                let (values, inRange) = try plan.fakeQuantized(x, withMask: x.requiresGradient)
                guard let inRange else { return [.float(values)] }
                // The value is exactly `values` (x − x is 0); the gradient passes where the rounding did not saturate.
                return [.float(values + (x - x.detached()) * inRange)]
            }
        },
        // uint8 with the scale and zero point of the tensor's own range (which always includes 0): scale = (max − min)
        // / 255, zero point = round-half-even(−min / scale) within 0…255. Outputs the dequantized values (with the
        // straight-through gradient), the scale and the zero point.
        "DynamicQuantizeLinear": { _ in
            { inputs in
                let x = try floatInput(inputs, 0, "DynamicQuantizeLinear")
                let values = x.detached().contiguous().scalars
                let low = Swift.min(values.min() ?? 0, 0), high = Swift.max(values.max() ?? 0, 0)
                guard low.isFinite, high.isFinite else { throw KernelError("DynamicQuantizeLinear: the input is not finite") }
                let scale = (high - low) / 255
                let zero = scale > 0 ? Int(Swift.min(Swift.max((-low / scale).rounded(.toNearestOrEven), 0), 255)) : 0
                var zeroPoint = IntegerTensor(shape: [], values: [zero])
                zeroPoint.storedRange = 0...255
                guard scale > 0 else { return [.float(Tensor(zeros: x.shape)), .float(Tensor(scale)), .integer(zeroPoint)] }
                let plan = QuantizationPlan(scale: [scale], zeroPoint: [zero], axis: nil, range: 0...255)
                let (dequantized, inRange) = try plan.fakeQuantized(x, withMask: x.requiresGradient)
                let y = inRange.map { dequantized + (x - x.detached()) * $0 } ?? dequantized
                return [.float(y), .float(Tensor(scale)), .integer(zeroPoint)]
            }
        },
        "DequantizeLinear": { ctx in
            if ctx.node.int(ONNXQuantization.mismatchMark, default: 0) != 0 {
                throw UnsupportedUseError("its scale or zero point differs from those of the QuantizeLinear it reads")
            }
            let plan = try QuantizationPlan(ctx)
            return { inputs in
                switch inputs.first ?? nil {
                case .integer(let q)?: return [.float(try plan.dequantized(q))]
                // A QuantizeLinear's output: already the dequantized values.
                case .float(let x)?: return [.float(x)]
                case nil: throw KernelError("DequantizeLinear needs an input")
                }
            }
        },
    ]
}
