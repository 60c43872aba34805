import FovExModels
import FovExTensor

/// Class-embedding projection (Vilas et al., NeurIPS 2023): each block's attention sub-layer output
/// is read out in class space with the model's own final norm and head; the cross-entropy of the
/// class token's read-out (applied, as the reference code does, to its softmax probabilities) is
/// differentiated with respect to that block's attention probabilities. A key's importance is
/// −Σ_blocks Σ_heads ∂loss/∂A[h, CLS, key] over the patch keys (those after the prefix tokens), laid
/// on the patch grid, upsampled and min-max normalised.
public struct ClassEmbeddingProjection: Explainer {
    public var name: String { "clsemb" }

    /// The method; it has no options.
    public init() {}

    public func explain(_ pixels: Tensor, model: ImageClassifier, classes: [Int]?) throws -> [Explanation] {
        let vit = try CAMSupport.tokenClassifier(model, method: name)
        if let problem = vit.tokenProjectionProblem {
            throw ExplainerError.unsupportedModel(method: name, reason: "it needs the head's read-out of single tokens: \(problem)")
        }
        let (classToken, prefix) = (vit.readOutTokens[0], vit.prefixTokenCount)
        let blocks = vit.blockCount
        guard blocks > 0 else { throw ExplainerError.unsupportedModel(method: name, reason: "the model has no blocks") }
        let attentionPoints = (0..<blocks).map { vit.attentionProbabilitiesPoint(block: $0) }
        let outputPoints = (0..<blocks).map { vit.attentionOutputPoint(block: $0) }
        let forward = try TargetedForward(pixels, model: model, classes: classes,
                                          capturing: Set(attentionPoints + outputPoints), recording: true, method: name)
        var perBlock: [Tensor] = []
        for b in 0..<blocks {
            let probabilities = forward.captured[attentionPoints[b]]!
            // The projection acts on each token alone, so the class token's read-out needs only its own row.
            let classTokenOutput = forward.captured[outputPoints[b]]!.sliced(axis: 1, classToken..<(classToken + 1))
            let readOut = vit.projectTokensToClasses(classTokenOutput).squeezingShape(at: [1]).softmax()
            let loss = readOut.crossEntropy(labels: forward.classes).sum()
            // Each block's own loss against its own attention: one backward pass per block, the
            // recorded graph kept for the blocks after it.
            let g = try gradients(of: loss, withRespectTo: [probabilities], retainGraph: b < blocks - 1)[0]
            let t = g.shape[3]
            perBlock.append(withoutGradients { -g.sliced(axis: 2, classToken..<(classToken + 1)).sliced(axis: 3, prefix..<t).sum(alongAxes: [1, 2]) })
        }
        let scores = withoutGradients { perBlock.dropFirst().reduce(perBlock[0], +) }
        let maps = try CAMSupport.patchMaps(scores, size: pixels.shape[2], method: name)
        return CAMSupport.explanations(maps, method: name, forward: forward, settings: ["blocks": "\(blocks)"])
    }
}
