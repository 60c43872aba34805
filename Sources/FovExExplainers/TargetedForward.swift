import FovExModels
import FovExTensor

/// One forward pass with the classes to explain chosen from its own logits: the one place where
/// every explainer resolves its targets (given classes checked against the model's, or each
/// image's top-1), so that gradient-based methods need a single pass for both.
struct TargetedForward {
    /// [N, classes], recorded for differentiation.
    var logits: Tensor
    var captured: [String: Tensor]
    var classes: [Int]
    /// Softmax probability of each image's class.
    var probabilities: [Float]

    /// Runs `model` on `pixels` capturing `points`; explains `classes`, or each image's top-1 class.
    /// With `recording`, the pass is recorded (from the pixels on) so that gradients with respect to
    /// the captured tensors can be taken.
    init(_ pixels: Tensor, model: ImageClassifier, classes: [Int]?, capturing points: Set<String>, recording: Bool,
         method: String) throws {
        try TargetedForward.validate(pixels, method: method)
        let n = pixels.shape[0]
        if let classes, classes.count != n {
            throw ExplainerError.badInput("\(method): \(classes.count) classes given for \(n) images")
        }
        let output = recording ? model.forward(pixels.detached().requiringGradient(), capturing: points)
                               : withoutGradients { model.forward(pixels, capturing: points) }
        let probs = withoutGradients { output.logits.detached().softmax() }
        let k = probs.shape[1]
        let chosen = classes ?? probs.argmax(alongAxis: 1)
        for c in chosen where c < 0 || c >= k {
            throw ExplainerError.badInput("\(method): class \(c) is out of range 0..<\(k)")
        }
        for p in points where output.captured[p] == nil {
            throw ExplainerError.unknownPoint(p, available: model.innerPoints)
        }
        logits = output.logits
        captured = output.captured
        self.classes = chosen
        probabilities = chosen.enumerated().map { probs[$0.offset, $0.element] }
    }

    /// The classes to explain and their clean-image probabilities, for methods that need no
    /// recorded pass (RISE, Meaningful Perturbation, FovEx).
    static func targets(_ pixels: Tensor, model: ImageClassifier, classes: [Int]?, method: String) throws
        -> (classes: [Int], probabilities: [Float]) {
        let forward = try TargetedForward(pixels, model: model, classes: classes, capturing: [], recording: false,
                                          method: method)
        return (forward.classes, forward.probabilities)
    }

    /// Σ_i logits[i, classes[i]]: its gradient with respect to anything in image i's computation is
    /// the gradient of image i's own target logit (images do not interact in a classifier).
    var targetLogitSum: Tensor {
        let k = logits.shape[1]
        let oneHot = Tensor(shape: logits.shape, scalars: classes.flatMap { c in (0..<k).map { $0 == c ? 1 : 0 } })
        return (logits * oneHot).sum()
    }

    /// Checks that `pixels` is a batch of square RGB images the model can take.
    static func validate(_ pixels: Tensor, method: String) throws {
        guard pixels.rank == 4, pixels.shape[0] > 0, pixels.shape[1] == 3, pixels.shape[2] == pixels.shape[3] else {
            throw ExplainerError.badInput("\(method) needs a batch of square RGB images [N, 3, S, S], got \(pixels.shape)")
        }
    }
}
