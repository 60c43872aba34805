import FovExModels
import FovExTensor

/// The class-activation-map machinery shared by Grad-CAM, Grad-CAM++ and RandomCAM:
/// cam = ReLU(Σ_k w_k A_k) at a named inner point, upsampled to the input and min-max normalised.
enum CAMSupport {
    /// The inner point to use: `requested`, or the model's default CAM point.
    static func point(_ requested: String?, model: ImageClassifier) throws -> String {
        let p = requested ?? model.defaultCAMPoint
        guard model.innerPoints.contains(p) else { throw ExplainerError.unknownPoint(p, available: model.innerPoints) }
        return p
    }

    /// Activations A and, when `withGradients`, gradients ∂y_c/∂A of the target logit, both as spatial
    /// maps [N, C, h, w] (the model's `spatialMap` applied, e.g. a ViT's class token dropped and its
    /// patch tokens laid out on their grid).
    static func activations(_ pixels: Tensor, model: ImageClassifier, classes: [Int]?, point: String,
                            withGradients: Bool, method: String) throws
        -> (activations: Tensor, gradients: Tensor?, forward: TargetedForward) {
        let forward = try TargetedForward(pixels, model: model, classes: classes, capturing: [point],
                                          recording: withGradients, method: method)
        let raw = forward.captured[point]!
        let grad = withGradients ? try gradients(of: forward.targetLogitSum, withRespectTo: [raw])[0] : nil
        return try withoutGradients {
            let a = model.spatialMap(of: raw.detached(), at: point)
            guard a.rank == 4 else {
                throw ExplainerError.badInput("\(method): point '\(point)' gives shape \(a.shape), not a spatial map [N, C, h, w]")
            }
            return (a, grad.map { model.spatialMap(of: $0, at: point) }, forward)
        }
    }

    /// ReLU(Σ_k w_k A_k) for activations [N, C, h, w] and channel weights [N, C], bilinearly
    /// upsampled (align_corners = false) to `size`×`size` and min-max normalised per image: [N, S, S].
    static func maps(activations a: Tensor, weights w: Tensor, size: Int) -> Tensor {
        withoutGradients {
            let (n, c) = (a.shape[0], a.shape[1])
            let cam = (a * w.reshaped([n, c, 1, 1])).sum(alongAxes: [1]).relu()
            return ExplainerSupport.minMaxNormalized(cam.resized(height: size, width: size))
        }
    }

    /// Per-patch scores [N, h·w] of a square token grid laid out on it, bilinearly upsampled
    /// (align_corners = false) to `size`×`size` and min-max normalised: [N, S, S].
    static func patchMaps(_ scores: Tensor, size: Int, method: String) throws -> Tensor {
        let (n, t) = (scores.shape[0], scores.shape[1])
        let g = Int(Double(t).squareRoot().rounded())
        guard g * g == t else { throw ExplainerError.badInput("\(method): \(t) patch tokens do not form a square grid") }
        return withoutGradients {
            ExplainerSupport.minMaxNormalized(scores.reshaped([n, g, g]).resized(height: size, width: size))
        }
    }

    /// The model as a token classifier, or an error saying that `method` needs one.
    static func tokenClassifier(_ model: ImageClassifier, method: String) throws -> TokenClassifier {
        guard let vit = model as? TokenClassifier else {
            throw ExplainerError.unsupportedModel(
                method: method, reason: "it needs a Vision Transformer's attention probabilities, and "
                    + "\(model.identity.architecture) is not a token model")
        }
        if let problem = vit.tokenSurfaceProblem {
            throw ExplainerError.unsupportedModel(method: method, reason: "it needs a Vision Transformer's attention "
                + "probabilities and class token, and the model has none: \(problem)")
        }
        return vit
    }

    /// Explanations for a batch from per-image maps [N, S, S].
    static func explanations(_ maps: Tensor, method: String, forward: TargetedForward, settings: [String: String])
        -> [Explanation] {
        forward.classes.indices.map { i in
            Explanation(method: method, map: maps.selecting(axis: 0, index: i).contiguous(), classIndex: forward.classes[i],
                        probability: forward.probabilities[i], settings: settings)
        }
    }
}
