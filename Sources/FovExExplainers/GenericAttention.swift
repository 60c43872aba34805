import FovExModels
import FovExTensor

/// Generic attention explainability for ViTs (Chefer et al., ICCV 2021): relevance R starts as the
/// identity over tokens and every block in order adds Ā·R, where Ā is the mean over heads of
/// clamp(∇A ⊙ A, min 0), A the block's softmax attention probabilities and ∇A the gradient of the
/// target logit with respect to them. The class token's row over the patch tokens, R[0, p:] after the
/// p prefix tokens, laid on the patch grid, upsampled and min-max normalised, is the map. A head that
/// reads several tokens (a distilled DeiT averages a head on its class and distillation tokens) gives
/// the mean of their rows.
public struct GenericAttention: Explainer {
    public var name: String { "gae" }

    /// The method; it has no options.
    public init() {}

    public func explain(_ pixels: Tensor, model: ImageClassifier, classes: [Int]?) throws -> [Explanation] {
        let vit = try CAMSupport.tokenClassifier(model, method: name)
        guard !vit.readOutTokens.isEmpty else {
            throw ExplainerError.unsupportedModel(method: name, reason: "the model's head reads no prefix token")
        }
        guard vit.blockCount > 0 else { throw ExplainerError.unsupportedModel(method: name, reason: "the model has no blocks") }
        let points = (0..<vit.blockCount).map { vit.attentionProbabilitiesPoint(block: $0) }
        let forward = try TargetedForward(pixels, model: model, classes: classes, capturing: Set(points),
                                          recording: true, method: name)
        let attentions = points.map { forward.captured[$0]! }
        let grads = try gradients(of: forward.targetLogitSum, withRespectTo: attentions)
        let scores = withoutGradients { () -> Tensor in
            let (n, t) = (attentions[0].shape[0], attentions[0].shape[2])
            let identity = Tensor(shape: [t, t], scalars: (0..<(t * t)).map { $0 / t == $0 % t ? 1 : 0 })
            var r = identity.broadcast(to: [n, t, t]).contiguous()
            for (a, g) in zip(attentions, grads) {
                let mixed = (g * a.detached()).clamped(min: 0).mean(alongAxes: [1])
                r = r + mixed.matmul(r)
            }
            let rows = vit.readOutTokens.map { r.selecting(axis: 1, index: $0) }
            let read = rows.dropFirst().reduce(rows[0], +) / Float(rows.count)
            return read.sliced(axis: 1, vit.prefixTokenCount..<t)
        }
        let maps = try CAMSupport.patchMaps(scores, size: pixels.shape[2], method: name)
        return CAMSupport.explanations(maps, method: name, forward: forward, settings: ["blocks": "\(vit.blockCount)"])
    }
}
