import FovExModels
import FovExTensor

/// Grad-CAM (Selvaraju et al., 2017): the activations A_k of an inner point weighted by the mean
/// gradient of the class logit over each channel, cam = ReLU(Σ_k w_k A_k), upsampled and
/// min-max normalised (as pytorch-grad-cam computes it; see the project's `baselines.md`).
public struct GradCAM: Explainer {
    public struct Options: Sendable, Codable, Equatable {
        /// The inner point whose activations are weighted; `nil` takes the model's default
        /// (ResNet `layer4`, ViT `blocks[-1].norm1` with its patch tokens on their grid,
        /// EfficientNet-Lite the head).
        public var point: String?

        public init(point: String? = nil) { self.point = point }
    }

    public var options: Options
    public var name: String { "gradcam" }

    public init(options: Options = Options()) { self.options = options }

    public func explain(_ pixels: Tensor, model: ImageClassifier, classes: [Int]?) throws -> [Explanation] {
        let point = try CAMSupport.point(options.point, model: model)
        let (a, g, forward) = try CAMSupport.activations(pixels, model: model, classes: classes, point: point,
                                                         withGradients: true, method: name)
        let weights = withoutGradients { GradCAM.channelWeights(gradients: g!) }
        let maps = CAMSupport.maps(activations: a, weights: weights, size: pixels.shape[2])
        return CAMSupport.explanations(maps, method: name, forward: forward, settings: ["point": point])
    }

    /// w_k = mean over the spatial axes of ∂y_c/∂A_k: [N, C, h, w] → [N, C].
    public static func channelWeights(gradients g: Tensor) -> Tensor {
        g.mean(alongAxes: [2, 3])
    }
}
