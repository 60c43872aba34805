import Foundation
import FovExTensor

// Matrix products, softmax, layer normalisation and reductions.

extension ONNXOperators {
    static let linearBuilders: [String: KernelBuilder] = {
        var b: [String: KernelBuilder] = [:]
        b["Gemm"] = { ctx in
            let alpha = ctx.node.float("alpha", default: 1), beta = ctx.node.float("beta", default: 1)
            let transA = ctx.node.int("transA", default: 0) != 0, transB = ctx.node.int("transB", default: 0) != 0
            let c = ctx.node.inputs.count > 2 && !ctx.node.inputs[2].isEmpty ? ctx.constantFloat(2) : nil
            let hasC = ctx.node.inputs.count > 2 && !ctx.node.inputs[2].isEmpty
            // The common case, a fully connected layer, runs as `linear`, which reads the constant in place (a
            // transposed view when it is [in, out]): the weights are held once.
            if !transA, alpha == 1, let w = ctx.constantFloat(1), w.rank == 2,
               !hasC || (beta == 1 && c?.count == (transB ? w.shape[0] : w.shape[1])) {
                let weight = transB ? w : w.transposed()
                let bias = c?.reshaped([-1])
                return { inputs in
                    let x = try floatInput(inputs, 0, "Gemm")
                    guard x.rank == 2, x.shape[1] == weight.shape[1] else {
                        throw KernelError("Gemm: input \(x.shape) does not fit weights \(weight.shape)")
                    }
                    return [.float(x.linear(weight: weight, bias: bias, packing: .whereFaster))]
                }
            }
            return { inputs in
                var a = try floatInput(inputs, 0, "Gemm"), w = try floatInput(inputs, 1, "Gemm")
                if transA { a = a.transposed() }
                if transB { w = w.transposed() }
                guard a.rank == 2, w.rank == 2, a.shape[1] == w.shape[0] else {
                    throw KernelError("Gemm: operands \(a.shape) and \(w.shape) do not multiply")
                }
                var y = a.matmul(w)
                if alpha != 1 { y = y * alpha }
                if inputs.count > 2, inputs[2] != nil {
                    let cc = try floatInput(inputs, 2, "Gemm")
                    y = y + (beta == 1 ? cc : cc * beta)
                }
                return [.float(y)]
            }
        }
        b["MatMul"] = { ctx in
            if let w = ctx.constantFloat(1), w.rank == 2 {
                // x · W with constant W: a fully connected layer without bias, reading W in place.
                let weight = w.transposed()
                return { inputs in
                    let x = try floatInput(inputs, 0, "MatMul")
                    guard x.rank >= 2, x.shape.last == weight.shape[1] else {
                        throw KernelError("MatMul: input \(x.shape) does not fit \(w.shape)")
                    }
                    return [.float(x.linear(weight: weight, packing: .whereFaster))]
                }
            }
            return { inputs in
                var a = try floatInput(inputs, 0, "MatMul"), c = try floatInput(inputs, 1, "MatMul")
                guard a.rank >= 2, c.rank >= 2, a.shape[a.rank - 1] == c.shape[c.rank - 2] else {
                    throw KernelError("MatMul: operands \(a.shape) and \(c.shape) do not multiply")
                }
                if c.rank > 2 || a.rank == 2 {
                    // Batched: broadcast the leading axes to one batch shape.
                    guard let lead = Tensor.broadcastShape(Array(a.shape.dropLast(2)), Array(c.shape.dropLast(2))) else {
                        throw KernelError("MatMul: batch axes of \(a.shape) and \(c.shape) do not broadcast")
                    }
                    a = a.broadcast(to: lead + a.shape.suffix(2))
                    c = c.broadcast(to: lead + c.shape.suffix(2))
                }
                return [.float(a.matmul(c))]
            }
        }
        func softmax(_ op: String, _ f: @escaping (Tensor) -> Tensor) {
            b[op] = { ctx in
                let legacy = ctx.opset < 13
                let axis = ctx.node.int("axis", default: legacy ? 1 : -1)
                return { inputs in
                    let x = try floatInput(inputs, 0, op)
                    let a = try normalizedAxis(axis, rank: x.rank, op)
                    if a == x.rank - 1 { return [.float(f(x))] }
                    if legacy {
                        // Before opset 13 the input is seen as 2-D [prod(shape[..<axis]), prod(shape[axis...])].
                        return [.float(f(x.reshaped([x.shape[..<a].reduce(1, *), -1])).reshaped(x.shape))]
                    }
                    return [.float(f(x.transposed(a, -1)).transposed(a, -1))]
                }
            }
        }
        softmax("Softmax") { $0.softmax() }
        softmax("LogSoftmax") { $0.logSoftmax() }
        b["LayerNormalization"] = { ctx in
            if ctx.node.outputs.dropFirst().contains(where: { !$0.isEmpty }) {
                throw UnsupportedUseError("the Mean and InvStdDev outputs are not supported")
            }
            let axis = ctx.node.int("axis", default: -1)
            let epsilon = ctx.node.float("epsilon", default: 1e-5)
            guard let scale = ctx.constantFloat(1) else { throw UnsupportedUseError("a scale that is not constant is not supported") }
            let hasBias = ctx.node.inputs.count > 2 && !ctx.node.inputs[2].isEmpty
            let bias = ctx.constantFloat(2)
            if hasBias && bias == nil { throw UnsupportedUseError("a bias that is not constant is not supported") }
            return { inputs in
                let x = try floatInput(inputs, 0, "LayerNormalization")
                guard try normalizedAxis(axis, rank: x.rank, "LayerNormalization") == x.rank - 1 else {
                    throw KernelError("LayerNormalization over axes other than the last is not supported (axis \(axis), rank \(x.rank))")
                }
                guard scale.count == x.shape[x.rank - 1], bias.map({ $0.count == scale.count }) ?? true else {
                    throw KernelError("LayerNormalization: scale \(scale.shape) for input \(x.shape)")
                }
                return [.float(x.layerNorm(weight: scale.reshaped([-1]), bias: bias?.reshaped([-1]), epsilon: epsilon))]
            }
        }
        func reduction(_ op: String, _ f: @escaping (Tensor, [Int], Bool) -> Tensor) {
            b[op] = { ctx in
                // Axes moved from an attribute to an input at opset 13 for ReduceSum, at 18 for the others.
                let attributeAxes = ctx.opset < (op == "ReduceSum" ? 13 : 18) ? ctx.node.ints("axes") : nil
                let keep = ctx.node.int("keepdims", default: 1) != 0
                let noopWithEmpty = ctx.node.int("noop_with_empty_axes", default: 0) != 0
                return { inputs in
                    let x = try floatInput(inputs, 0, op)
                    let axes = try attributeAxes ?? integerList(inputs, 1, op) ?? []
                    if axes.isEmpty && noopWithEmpty { return [.float(x)] }
                    let normalized = try (axes.isEmpty ? Array(0..<x.rank) : axes).map { try normalizedAxis($0, rank: x.rank, op) }
                    return [.float(f(x, normalized.sorted(), keep))]
                }
            }
        }
        reduction("ReduceMean") { $0.mean(alongAxes: $1, keepingDimensions: $2) }
        reduction("ReduceSum") { $0.sum(alongAxes: $1, keepingDimensions: $2) }
        reduction("ReduceMax") { $0.max(alongAxes: $1, keepingDimensions: $2) }
        reduction("ReduceMin") { $0.min(alongAxes: $1, keepingDimensions: $2) }
        reduction("ReduceSumSquare") { ($0 * $0).sum(alongAxes: $1, keepingDimensions: $2) }
        reduction("ReduceL1") { $0.abs().sum(alongAxes: $1, keepingDimensions: $2) }
        // F.normalize's export (EdgeNeXt's cross-covariance attention). Its gradient at an all-zero slice is
        // not a number, as √ has no derivative at 0; PyTorch's clamps the norm from below first.
        // The sum of squares kept from 0 before the root, so that an all-zero slice has gradient 0, not 0 · ∞ = NaN
        // (its value is then 1e−19 instead of 0).
        reduction("ReduceL2") { ($0 * $0).sum(alongAxes: $1, keepingDimensions: $2).clamped(min: .leastNormalMagnitude).sqrt() }
        // Running sums (Fourier position encodings built from a mask: XCiT, EdgeNeXt).
        b["CumSum"] = { ctx in
            let exclusive = ctx.node.int("exclusive", default: 0) == 1, reverse = ctx.node.int("reverse", default: 0) == 1
            return { inputs in
                guard let v = inputs.first ?? nil else { throw KernelError("CumSum needs an input") }
                guard let axes = try integerList(inputs, 1, "CumSum"), axes.count == 1 else { throw KernelError("CumSum needs one axis") }
                let axis = try normalizedAxis(axes[0], rank: v.shape.count, "CumSum")
                switch v {
                case .float(let t): return [.float(t.cumulativeSum(alongAxis: axis, exclusive: exclusive, reverse: reverse))]
                case .integer(let t):
                    let s = t.shape, n = s[axis], inner = s[(axis + 1)...].reduce(1, *)
                    var sums = t.values
                    for o in 0..<s[..<axis].reduce(1, *) {
                        for j in 0..<inner {
                            var total = 0
                            for step in 0..<n {
                                let at = (o * n + (reverse ? n - 1 - step : step)) * inner + j
                                let x = t.values[at]
                                if exclusive { sums[at] = total; total &+= x } else { total &+= x; sums[at] = total }
                            }
                        }
                    }
                    return [.integer(IntegerTensor(shape: s, values: sums))]
                }
            }
        }
        return b
    }()
}
