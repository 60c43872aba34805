import FovExModels
import FovExTensor

/// Grad-CAM++ (Chattopadhay et al., 2018): Grad-CAM with channel weights
/// w_k = Σ_ij ReLU(g_ij)·a_ij, a_ij = g² / (2g² + Σ_ab A_ab·g³ + ε), the closed form the paper's
/// eq. 19 gives when the score is passed through an exponential (pytorch-grad-cam's formula).
public struct GradCAMPlusPlus: Explainer {
    public struct Options: Sendable, Codable, Equatable {
        /// The inner point whose activations are weighted; `nil` takes the model's default.
        public var point: String?
        /// ε in the denominator of a_ij.
        public var epsilon: Float = 1e-6

        public init(point: String? = nil, epsilon: Float = 1e-6) {
            self.point = point
            self.epsilon = epsilon
        }
    }

    public var options: Options
    public var name: String { "gradcam++" }

    public init(options: Options = Options()) { self.options = options }

    public func explain(_ pixels: Tensor, model: ImageClassifier, classes: [Int]?) throws -> [Explanation] {
        let point = try CAMSupport.point(options.point, model: model)
        let (a, g, forward) = try CAMSupport.activations(pixels, model: model, classes: classes, point: point,
                                                         withGradients: true, method: name)
        let weights = withoutGradients { GradCAMPlusPlus.channelWeights(activations: a, gradients: g!, epsilon: options.epsilon) }
        let maps = CAMSupport.maps(activations: a, weights: weights, size: pixels.shape[2])
        return CAMSupport.explanations(maps, method: name, forward: forward,
                                       settings: ["point": point, "epsilon": "\(options.epsilon)"])
    }

    /// The Grad-CAM++ weights [N, C] from activations and gradients [N, C, h, w]. Where g = 0 the
    /// coefficient a_ij is 0 (the numerator vanishes), as pytorch-grad-cam sets it.
    public static func channelWeights(activations a: Tensor, gradients g: Tensor, epsilon: Float) -> Tensor {
        let g2 = g * g
        let g3 = g2 * g
        let sumA = a.sum(alongAxes: [2, 3], keepingDimensions: true)
        let alpha = g2 / (2 * g2 + sumA * g3 + epsilon)
        return (g.relu() * alpha).sum(alongAxes: [2, 3])
    }
}
