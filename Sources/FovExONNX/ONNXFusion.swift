import Foundation
import FovExTensor

// Load-time fusion of the node chains exporters write for one PyTorch module, so that they run on the tensor
// library's fused kernels: MatMul by a constant weight + Add of a constant bias as one packed-weight `linear`,
// the Erf form of GELU (x/2·(1 + erf(x/√2)), five nodes) as one `gelu`, and the opset-13 decomposition of
// LayerNorm (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add) as one `layerNorm`. Convolution
// chains (BatchNormalization folding, residual sum, ReLU/ReLU6) are fused in ONNXProgram.fusedConvolution.
// Each fused kernel records on the autodiff tape like the nodes it replaces; ONNXProgram(model, fusing: false)
// runs the graph node by node, the reference the fusion tests compare with.

/// Who reads a value: every node index, or nil for a graph output (which a fused chain must not hide).
typealias ConsumerLookup = (String) -> [Int]?

/// A fused chain: the step, the node position it runs at (its last node's) and the nodes it absorbs.
struct FusedChain {
    var step: ONNXStep
    var position: Int
    var chain: [Int]
}

extension ONNXProgram {
    /// The fused chain that starts at node `index`, or nil when none of the patterns matches there.
    static func fusedChain(at index: Int, nodes: [ONNXNode], opset: Int, constants: [String: ONNXValue],
                           consumers: @escaping ConsumerLookup) -> FusedChain? {
        let matcher = ChainMatcher(nodes: nodes, opset: opset, constants: constants, consumers: consumers)
        switch nodes[index].opType {
        case "MatMul": return matcher.linearWithBias(index)
        case "Div", "Mul": return matcher.erfGELU(index)
        case "ReduceMean": return matcher.decomposedLayerNorm(index)
        default: return nil
        }
    }
}

private struct ChainMatcher {
    let nodes: [ONNXNode]
    let opset: Int
    let constants: [String: ONNXValue]
    let consumers: ConsumerLookup

    /// The node that alone reads `name` (nil when several or none do, or when it is a graph output).
    func sole(_ name: String) -> (Int, ONNXNode)? {
        guard let c = consumers(name), c.count == 1 else { return nil }
        return (c[0], nodes[c[0]])
    }

    func constantFloat(_ name: String) -> Tensor? {
        if case .float(let t)? = constants[name] { return t }
        return nil
    }

    /// The value of a constant one-element float input.
    func scalar(_ name: String) -> Float? {
        guard let t = constantFloat(name), t.count == 1 else { return nil }
        return t.scalars[0]
    }

    /// For a two-input node that reads `value`: its other input.
    func other(_ node: ONNXNode, than value: String) -> String? {
        guard node.inputs.count == 2, node.inputs.contains(value), node.inputs[0] != node.inputs[1] else { return nil }
        return node.inputs[0] == value ? node.inputs[1] : node.inputs[0]
    }

    func isVariable(_ name: String) -> Bool { !name.isEmpty && constants[name] == nil }

    /// MatMul(x, W) followed by Add(·, b), W a constant [in, out] matrix and b a constant of `out` values
    /// (any leading axes of extent 1): `x.linear(weight: Wᵀ, bias: b)` with Wᵀ copied once into the [out, in]
    /// layout of a PyTorch `Linear` (the copy replaces W: `ONNXProgram` keeps only the constants its steps
    /// read), with the bias in the same oneDNN pass. On a transposed view of W instead, oneDNN 2.6's fp32
    /// matmul took 8.1 ms instead of 4.7 for ViT-B/16's 197 × 768 · 768 × 3072 MLP product
    /// (docs/results/onnx-bench.md, 2026-12-04).
    func linearWithBias(_ index: Int) -> FusedChain? {
        let mm = nodes[index]
        guard mm.inputs.count == 2, isVariable(mm.inputs[0]), let w = constantFloat(mm.inputs[1]), w.rank == 2,
              let (j, add) = sole(mm.outputs[0]), add.opType == "Add",
              let biasName = other(add, than: mm.outputs[0]), let b = constantFloat(biasName),
              b.count == w.shape[1], b.rank >= 1, b.shape.dropLast().allSatisfy({ $0 == 1 }) else { return nil }
        let weight = w.transposed().contiguous()
        let bias = b.reshaped([-1])
        let biasRank = b.rank
        let kernel: ONNXKernel = { inputs in
            let x = try floatInput(inputs, 0, "MatMul")
            guard x.rank >= 2, x.shape.last == weight.shape[1] else {
                throw KernelError("MatMul: input \(x.shape) does not fit \(w.shape)")
            }
            // A bias of higher rank than the product broadcasts it to more axes: add it unfused then.
            if biasRank > x.rank { return [.float(x.linear(weight: weight, packing: .whereFaster) + b)] }
            return [.float(x.linear(weight: weight, bias: bias, packing: .whereFaster))]
        }
        return FusedChain(step: ONNXStep(node: mm, inputs: [mm.inputs[0]], outputs: [add.outputs[0]], kernel: kernel),
                          position: j, chain: [j])
    }

    /// x/√2 (Div by √2 or Mul by 1/√2) → Erf → Add 1 → Mul by x → Mul by ½ (or Mul by ½ → Mul by x), PyTorch's
    /// export of exact GELU: `x.gelu()`, one pass with its own gradient kernel.
    func erfGELU(_ index: Int) -> FusedChain? {
        let first = nodes[index]
        guard first.inputs.count == 2, isVariable(first.inputs[0]), let c = scalar(first.inputs[1]) else { return nil }
        let x = first.inputs[0]
        let scale = first.opType == "Div" ? 1 / c : c
        guard abs(scale - Float(0.5).squareRoot()) < 1e-5,
              let (e, erf) = sole(first.outputs[0]), erf.opType == "Erf",
              let (a, add) = sole(erf.outputs[0]), add.opType == "Add",
              let one = other(add, than: erf.outputs[0]), scalar(one) == 1,
              let (m1, mul1) = sole(add.outputs[0]), mul1.opType == "Mul",
              let factor1 = other(mul1, than: add.outputs[0]),
              let (m2, mul2) = sole(mul1.outputs[0]), mul2.opType == "Mul",
              let factor2 = other(mul2, than: mul1.outputs[0]) else { return nil }
        // (1 + erf)·x·½ or (1 + erf)·½·x.
        guard (factor1 == x && scalar(factor2) == 0.5) || (scalar(factor1) == 0.5 && factor2 == x) else { return nil }
        let kernel: ONNXKernel = { inputs in [.float(try floatInput(inputs, 0, "Gelu").gelu())] }
        return FusedChain(step: ONNXStep(node: first, inputs: [x], outputs: [mul2.outputs[0]], kernel: kernel),
                          position: m2, chain: [e, a, m1, m2])
    }

    /// The reduction axes of a ReduceMean: its attribute before opset 18, its constant second input after.
    func reduceAxes(_ node: ONNXNode) -> [Int]? {
        guard node.int("keepdims", default: 1) == 1 else { return nil }
        if opset < 18 { return node.ints("axes") }
        guard node.inputs.count > 1, case .integer(let t)? = constants[node.inputs[1]] else { return nil }
        return t.values
    }

    /// PyTorch's opset-13 export of LayerNorm over the last axis: m = ReduceMean(x); d = x − m;
    /// v = ReduceMean(d²); y = d / √(v + ε), then × γ and + β when the norm is affine. One `layerNorm`.
    func decomposedLayerNorm(_ index: Int) -> FusedChain? {
        let mean = nodes[index]
        guard reduceAxes(mean) == [-1], isVariable(mean.inputs[0]) else { return nil }
        let x = mean.inputs[0]
        guard let (s, sub) = sole(mean.outputs[0]), sub.opType == "Sub", sub.inputs == [x, mean.outputs[0]] else { return nil }
        let d = sub.outputs[0]
        guard let readers = consumers(d), readers.count == 2 else { return nil }
        let pair = readers.map { ($0, nodes[$0]) }
        guard let (p, pow) = pair.first(where: { $0.1.opType == "Pow" }), pow.inputs.first == d,
              pow.inputs.count == 2, scalar(pow.inputs[1]) == 2,
              let (q, div) = pair.first(where: { $0.1.opType == "Div" }), div.inputs.first == d,
              let (v, variance) = sole(pow.outputs[0]), variance.opType == "ReduceMean", reduceAxes(variance) == [-1],
              let (k, addEpsilon) = sole(variance.outputs[0]), addEpsilon.opType == "Add",
              let epsilonName = other(addEpsilon, than: variance.outputs[0]), let epsilon = scalar(epsilonName),
              let (r, sqrt) = sole(addEpsilon.outputs[0]), sqrt.opType == "Sqrt",
              div.inputs.count == 2, div.inputs[1] == sqrt.outputs[0], sole(sqrt.outputs[0])?.0 == q else { return nil }
        var chain = [s, p, q, v, k, r], out = div.outputs[0], position = q
        var gamma: Tensor?, beta: Tensor?
        if let (m, mul) = sole(out), mul.opType == "Mul", let g = other(mul, than: out).flatMap({ constantFloat($0) }), g.rank == 1 {
            (gamma, out, position) = (g, mul.outputs[0], m)
            chain.append(m)
            if let (a, add) = sole(out), add.opType == "Add", let b = other(add, than: out).flatMap({ constantFloat($0) }),
               b.rank == 1, b.count == g.count {
                (beta, out, position) = (b, add.outputs[0], a)
                chain.append(a)
            }
        }
        let kernel: ONNXKernel = { [gamma, beta] inputs in
            let t = try floatInput(inputs, 0, "LayerNormalization")
            guard t.rank >= 1, gamma.map({ $0.count == t.shape[t.rank - 1] }) ?? true else {
                throw KernelError("LayerNormalization: scale \(gamma?.shape ?? []) for input \(t.shape)")
            }
            return [.float(t.layerNorm(weight: gamma, bias: beta, epsilon: epsilon))]
        }
        // Named as the LayerNormalization it is, so that finding the CAM point (the input of the last norm) sees it.
        var node = mean
        node.opType = "LayerNormalization"
        node.inputs = [x]
        node.outputs = [out]
        return FusedChain(step: ONNXStep(node: node, inputs: [x], outputs: [out], kernel: kernel),
                          position: position, chain: chain.sorted())
    }
}
