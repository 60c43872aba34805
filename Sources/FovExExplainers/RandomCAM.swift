import FovExModels
import FovExTensor

/// RandomCAM, a sanity baseline: Grad-CAM's map with channel weights drawn from Uniform(−1, 1)
/// instead of taken from gradients. A method whose maps resemble it explains little.
public struct RandomCAM: Explainer {
    public struct Options: Sendable, Codable, Equatable {
        /// The inner point whose activations are weighted; `nil` takes the model's default.
        public var point: String?
        /// Seed of the channel weights. One draw of C weights serves every image, so an image's
        /// map does not depend on the batch it comes in.
        public var seed: UInt64 = 42

        public init(point: String? = nil, seed: UInt64 = 42) {
            self.point = point
            self.seed = seed
        }
    }

    public var options: Options
    /// Channel weights to use instead of the seeded draw: [C] for every image, or [N, C] per image
    /// (to reproduce another implementation's draw).
    public var channelWeights: Tensor?
    public var name: String { "randomcam" }

    public init(options: Options = Options(), channelWeights: Tensor? = nil) {
        self.options = options
        self.channelWeights = channelWeights
    }

    public func explain(_ pixels: Tensor, model: ImageClassifier, classes: [Int]?) throws -> [Explanation] {
        let point = try CAMSupport.point(options.point, model: model)
        let (a, _, forward) = try CAMSupport.activations(pixels, model: model, classes: classes, point: point,
                                                         withGradients: false, method: name)
        let (n, c) = (a.shape[0], a.shape[1])
        let weights: Tensor
        var settings = ["point": point]
        if let given = channelWeights {
            guard given.shape == [c] || given.shape == [n, c] else {
                throw ExplainerError.badInput("randomcam: \(given.shape) channel weights given for \(n) images of \(c) channels at '\(point)'")
            }
            weights = given.broadcast(to: [n, c]).contiguous()
            settings["weights"] = "given"
        } else {
            weights = RandomCAM.seededWeights(channels: c, seed: options.seed).broadcast(to: [n, c]).contiguous()
            settings["seed"] = "\(options.seed)"
        }
        let maps = CAMSupport.maps(activations: a, weights: weights, size: pixels.shape[2])
        return CAMSupport.explanations(maps, method: name, forward: forward, settings: settings)
    }

    /// C weights from Uniform(−1, 1), drawn from `SeededGenerator(seed:)`.
    public static func seededWeights(channels: Int, seed: UInt64) -> Tensor {
        var generator = SeededGenerator(seed: seed)
        return Tensor(randomUniform: [channels], in: -1...1, generator: &generator)
    }
}
