import Foundation
import FovExTensor

/// ONNX's `Attention` (opset 23 and later; PyTorch's exporter writes it for `scaled_dot_product_attention` from
/// opset 23), expanded at load into the steps its definition composes, so that the attention probabilities are a
/// value of their own: a `Softmax` node that GAE and class-embedding projection find and read, as in the
/// exports that write attention out (``ONNXTokenSurface``).
///
/// Q·Kᵀ·scale (each of Q and K multiplied by √scale, as the operator's definition does), `softcap`, the additive
/// or boolean `attn_mask`, Softmax over the keys, then the product with V. Inputs are 4-D [N, heads, S, head
/// size], or 3-D [N, S, heads · head size] with `q_num_heads` and `kv_num_heads`; fewer K/V heads than query
/// heads (grouped-query and multi-query attention) are repeated head by head. A key-value cache (`past_key`,
/// `past_value`, `nonpad_kv_seqlen` and the `present_*` outputs), the `qk_matmul_output` output, causal masking
/// and sliding windows, which no image classifier uses, are refused before any work, naming the node.
enum ONNXAttention {
    /// The domain of the steps an `Attention` node expands into, which no model file names.
    static let expansionDomain = "fovex.attention"

    /// Why this library cannot run `node`, or nil when it can.
    static func unsupportedReason(_ node: ONNXNode) -> String? {
        func given(_ i: Int, in names: [String]) -> Bool { i < names.count && !names[i].isEmpty }
        if given(4, in: node.inputs) || given(5, in: node.inputs) { return "a key-value cache (past_key, past_value) is not supported" }
        if given(6, in: node.inputs) { return "nonpad_kv_seqlen (a padded key-value cache) is not supported" }
        if (1...3).contains(where: { given($0, in: node.outputs) }) {
            return "the present_key, present_value and qk_matmul_output outputs are not supported"
        }
        if node.int("is_causal", default: 0) != 0 { return "causal masking (is_causal = 1) is not supported" }
        if node.int("left_window_size", default: -1) != -1 || node.int("right_window_size", default: -1) != -1 {
            return "sliding-window attention is not supported"
        }
        if node.attributes["q_num_heads"] != nil, node.attributes["kv_num_heads"] == nil {
            return "q_num_heads is given without kv_num_heads"
        }
        if !given(0, in: node.inputs) || !given(1, in: node.inputs) || !given(2, in: node.inputs) {
            return "Q, K and V are all needed"
        }
        return nil
    }

    /// `nodes` with each supported `Attention` node replaced by its steps; unsupported ones stay, and the
    /// `Attention` builder reports why.
    static func expanding(_ nodes: [ONNXNode]) -> [ONNXNode] {
        nodes.flatMap { node -> [ONNXNode] in
            guard node.opType == "Attention", node.domain.isEmpty || node.domain == "ai.onnx",
                  unsupportedReason(node) == nil else { return [node] }
            return expansion(of: node)
        }
    }

    /// The attention probabilities' value name for an `Attention` node called `name`.
    static func probabilitiesName(of name: String) -> String { "\(name)/probabilities" }

    private static func expansion(of node: ONNXNode) -> [ONNXNode] {
        let (q, k, v) = (node.inputs[0], node.inputs[1], node.inputs[2])
        let mask = node.inputs.count > 3 ? node.inputs[3] : ""
        let prefix = node.name + "/"
        let settings = node.attributes.filter { ["q_num_heads", "kv_num_heads", "scale", "softcap"].contains($0.key) }
        func step(_ op: String, _ inputs: [String], _ output: String, domain: String = expansionDomain,
                  _ attributes: [String: ONNXAttribute] = [:]) -> ONNXNode {
            ONNXNode(opType: op, domain: domain, name: prefix + output.split(separator: "/").last!, inputs: inputs,
                     outputs: [output], attributes: attributes)
        }
        let probabilities = probabilitiesName(of: node.name)
        return [
            step("Query", [q], prefix + "query", settings),
            step("Key", [k, q], prefix + "key_transposed", settings),
            step("MatMul", [prefix + "query", prefix + "key_transposed"], prefix + "scores", domain: ""),
            step("Bias", [prefix + "scores", mask], prefix + "biased_scores", settings),
            step("Softmax", [prefix + "biased_scores"], probabilities, domain: "", ["axis": .int(-1)]),
            step("Value", [v, q], prefix + "value", settings),
            step("MatMul", [probabilities, prefix + "value"], prefix + "heads", domain: ""),
            ONNXNode(opType: "Output", domain: expansionDomain, name: prefix + "output", inputs: [prefix + "heads", q],
                     outputs: [node.outputs[0]], attributes: [:]),
        ]
    }

    // MARK: - The expansion's own steps

    /// [N, S, heads · size] as [N, heads, S, size]; 4-D inputs pass unchanged.
    private static func splitHeads(_ x: Tensor, heads: Int?, _ what: String) throws -> Tensor {
        switch x.rank {
        case 4: return x
        case 3:
            guard let heads, heads > 0, x.shape[2] % heads == 0 else {
                throw KernelError("Attention: 3-D \(what) \(x.shape) needs a head count that divides its last axis")
            }
            return x.reshaped([x.shape[0], x.shape[1], heads, x.shape[2] / heads]).permuted([0, 2, 1, 3])
        default:
            throw KernelError("Attention: \(what) must be 3-D or 4-D, got \(x.shape)")
        }
    }

    /// K or V (input 0) as [N, query heads, S, size]: its heads split (3-D) and each repeated to Q's (input 1)
    /// head count.
    private static func keysOrValues(_ ctx: KernelContext, _ inputs: [ONNXValue?], _ what: String) throws -> Tensor {
        let q = try floatInput(inputs, 1, "Attention")
        let x = try splitHeads(try floatInput(inputs, 0, "Attention"), heads: heads(ctx, "kv_num_heads"), what)
        return try repeatHeads(x, to: q.rank == 3 ? heads(ctx, "q_num_heads") ?? 0 : q.shape[1], what)
    }

    /// K or V [N, kv heads, S, size] with each head repeated to the query's head count.
    private static func repeatHeads(_ x: Tensor, to heads: Int, _ what: String) throws -> Tensor {
        let own = x.shape[1]
        if own == heads { return x }
        guard own > 0, heads % own == 0 else {
            throw KernelError("Attention: \(own) \(what) heads do not divide the query's \(heads)")
        }
        let (n, s, size) = (x.shape[0], x.shape[2], x.shape[3])
        return x.reshaped([n, own, 1, s, size]).broadcast(to: [n, own, heads / own, s, size]).reshaped([n, heads, s, size])
    }

    /// √scale, the factor applied to both Q and K: `scale` when given, else 1/√(head size).
    private static func rootScale(_ ctx: KernelContext, headSize: Int) -> Float {
        let scale = ctx.node.attributes["scale"] != nil ? ctx.node.float("scale", default: 1) : 1 / Float(headSize).squareRoot()
        return scale.squareRoot()
    }

    private static func heads(_ ctx: KernelContext, _ key: String) -> Int? {
        ctx.node.attributes[key] != nil ? ctx.node.int(key, default: 0) : nil
    }

    static let builders: [String: KernelBuilder] = {
        var b: [String: KernelBuilder] = [:]
        b["Query"] = { ctx in
            { inputs in
                let q = try splitHeads(try floatInput(inputs, 0, "Attention"), heads: heads(ctx, "q_num_heads"), "Q")
                return [.float(q * rootScale(ctx, headSize: q.shape[3]))]
            }
        }
        b["Key"] = { ctx in
            { inputs in
                let k = try keysOrValues(ctx, inputs, "K")
                return [.float((k * rootScale(ctx, headSize: k.shape[3])).permuted([0, 1, 3, 2]))]
            }
        }
        b["Value"] = { ctx in { inputs in [.float(try keysOrValues(ctx, inputs, "V"))] } }
        b["Bias"] = { ctx in
            let softcap = ctx.node.float("softcap", default: 0)
            return { inputs in
                var scores = try floatInput(inputs, 0, "Attention")
                // softcap · tanh(scores / softcap), before the mask so that masked scores stay −∞.
                if softcap > 0 { scores = (scores / softcap).tanh() * softcap }
                let bias: Tensor
                switch inputs.count > 1 ? inputs[1] : nil {
                case nil: return [.float(scores)]
                case .float(let additive)?: bias = additive
                // A boolean mask: true takes part, false is −∞.
                case .integer(let allowed)?: bias = Tensor(shape: allowed.shape, scalars: allowed.values.map { $0 != 0 ? 0 : -.infinity })
                }
                guard Tensor.broadcastShape(scores.shape, bias.shape) == scores.shape else {
                    throw KernelError("Attention: attn_mask \(bias.shape) does not broadcast to the scores \(scores.shape)")
                }
                return [.float(scores + bias)]
            }
        }
        b["Output"] = { _ in
            { inputs in
                let y = try floatInput(inputs, 0, "Attention"), q = try floatInput(inputs, 1, "Attention")
                guard q.rank == 3 else { return [.float(y)] }
                // Back to Q's own layout: [N, heads, S, size] → [N, S, heads · size].
                return [.float(y.permuted([0, 2, 1, 3]).reshaped([y.shape[0], y.shape[2], y.shape[1] * y.shape[3]]))]
            }
        }
        return b
    }()
}

extension ONNXOperators {
    /// `Attention` nodes that reach compilation are the ones ``ONNXAttention/expanding(_:)`` left: they say why.
    static let attentionBuilders: [String: KernelBuilder] = [
        "Attention": { ctx in throw UnsupportedUseError(ONNXAttention.unsupportedReason(ctx.node) ?? "not expanded") },
    ]
}
