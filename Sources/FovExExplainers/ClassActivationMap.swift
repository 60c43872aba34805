import FovExModels
import FovExTensor

/// How a class-activation-map method weighs the channels of an inner point's activations: the one
/// thing in which Grad-CAM, Grad-CAM++ and RandomCAM differ (pytorch-grad-cam's `get_cam_weights`).
public protocol CAMWeighting: Sendable, Codable, Equatable {
    /// The method's short name, e.g. `gradcam`.
    static var methodName: String { get }
    /// Whether the weights need ∂y_c/∂A; without, the forward pass is not recorded.
    static var needsGradients: Bool { get }
    /// The project's default settings.
    init()
    /// Throws ``InvalidOptionError`` for a setting outside its accepted range.
    func validate() throws
    /// Channel weights [N, C] from activations A [N, C, h, w] and, when ``needsGradients``, the
    /// gradients ∂y_c/∂A of the same shape. `pixels` are the images explained ([N, 3, S, S]), for
    /// rules seeded by the image; `point` names the inner point, for messages.
    func channelWeights(activations: Tensor, gradients: Tensor?, pixels: Tensor, point: String) throws -> Tensor
}

extension CAMWeighting {
    public func validate() throws {}
}

/// A class activation map (pytorch-grad-cam's `BaseCAM`): cam = ReLU(Σ_k w_k A_k) of the
/// activations A_k at a named inner point, with channel weights w_k from `Weighting`, bilinearly
/// upsampled to the input and min-max normalised (see `docs/design/baselines.md`).
public struct ClassActivationMap<Weighting: CAMWeighting>: Explainer {
    /// Where to read activations, and the weighting rule's settings.
    public struct Options: Sendable, Codable, Equatable {
        /// The inner point whose activations are weighted; `nil` takes the model's default
        /// (ResNet `layer4`, ViT `blocks[-1].norm1` with its patch tokens on their grid,
        /// EfficientNet-Lite the head).
        public var point: String?
        /// The weighting rule's own settings.
        public var weighting: Weighting

        /// Options reading `point` (`nil`: the model's default CAM point) with `weighting`'s settings.
        public init(point: String? = nil, weighting: Weighting = Weighting()) {
            self.point = point
            self.weighting = weighting
        }

        private enum CodingKeys: String, CodingKey { case point }

        // The rule's settings sit beside `point`, not nested, so that a run records `point` and
        // `epsilon` (or `seed`) side by side.
        public func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(point, forKey: .point)
            try weighting.encode(to: encoder)
        }

        public init(from decoder: Decoder) throws {
            point = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(String.self, forKey: .point)
            weighting = try Weighting(from: decoder)
        }
    }

    /// The settings this explainer runs with (checked when it was built).
    public var options: Options
    public var name: String { Weighting.methodName }

    /// The method with the project's default settings.
    public init() { options = Options() }

    /// - Throws: ``InvalidOptionError`` for a setting outside its accepted range.
    public init(options: Options) throws {
        try options.weighting.validate()
        self.options = options
    }

    /// The options as run records write them, with the inner point actually used.
    public var settings: [String: String] { SettingsEncoder.settings(of: options) }

    public func explain(_ pixels: Tensor, model: ImageClassifier, classes: [Int]?) throws -> [Explanation] {
        let point = try CAMSupport.point(options.point, model: model)
        let (a, g, forward) = try CAMSupport.activations(pixels, model: model, classes: classes, point: point,
                                                         withGradients: Weighting.needsGradients, method: name)
        let weights = try withoutGradients { try options.weighting.channelWeights(activations: a, gradients: g, pixels: pixels, point: point) }
        let maps = CAMSupport.maps(activations: a, weights: weights, size: pixels.shape[2])
        var used = options
        used.point = point
        return CAMSupport.explanations(maps, method: name, forward: forward, settings: SettingsEncoder.settings(of: used))
    }
}

/// Grad-CAM (Selvaraju et al., 2017): activations weighted by the mean gradient of the class logit
/// over each channel.
public typealias GradCAM = ClassActivationMap<GradCAMWeights>

/// Grad-CAM++ (Chattopadhay et al., 2018): the closed-form weights of the paper's eq. 19.
public typealias GradCAMPlusPlus = ClassActivationMap<GradCAMPlusPlusWeights>

/// RandomCAM, a sanity baseline: Grad-CAM's map with channel weights drawn from Uniform(−1, 1)
/// instead of taken from gradients. A method whose maps resemble it explains little.
public typealias RandomCAM = ClassActivationMap<RandomCAMWeights>

/// Grad-CAM's rule: w_k = mean over the spatial axes of ∂y_c/∂A_k.
public struct GradCAMWeights: CAMWeighting {
    public static let methodName = "gradcam"
    public static let needsGradients = true

    /// The rule with its default settings.
    public init() {}

    public func channelWeights(activations: Tensor, gradients: Tensor?, pixels: Tensor, point: String) throws -> Tensor {
        Self.channelWeights(gradients: gradients!)
    }

    /// [N, C, h, w] → [N, C].
    static func channelWeights(gradients g: Tensor) -> Tensor {
        g.mean(alongAxes: [2, 3])
    }
}

/// Grad-CAM++'s rule: w_k = Σ_ij ReLU(g_ij)·a_ij, a_ij = g² / (2g² + Σ_ab A_ab·g³ + ε), the closed
/// form the paper's eq. 19 gives when the score is passed through an exponential
/// (pytorch-grad-cam's formula).
public struct GradCAMPlusPlusWeights: CAMWeighting {
    public static let methodName = "gradcam++"
    public static let needsGradients = true
    /// The accepted ε: positive, so that the denominator never vanishes where g ≠ 0.
    public static let epsilonBounds = OptionBounds<Float>(above: 0, through: 1)

    /// ε in the denominator of a_ij.
    public var epsilon: Float = 1e-6

    /// The rule with its default settings.
    public init() {}

    /// The rule with ε = `epsilon` (checked when the explainer is built).
    public init(epsilon: Float) { self.epsilon = epsilon }

    public func validate() throws {
        try Self.epsilonBounds.check(epsilon, option: "epsilon", method: Self.methodName)
    }

    public func channelWeights(activations: Tensor, gradients: Tensor?, pixels: Tensor, point: String) throws -> Tensor {
        Self.channelWeights(activations: activations, gradients: gradients!, epsilon: epsilon)
    }

    /// The weights [N, C] from activations and gradients [N, C, h, w]. Where g = 0 the coefficient
    /// a_ij is 0 (the numerator vanishes), as pytorch-grad-cam sets it.
    static func channelWeights(activations a: Tensor, gradients g: Tensor, epsilon: Float) -> Tensor {
        let g2 = g * g
        let g3 = g2 * g
        let sumA = a.sum(alongAxes: [2, 3], keepingDimensions: true)
        let alpha = g2 / (2 * g2 + sumA * g3 + epsilon)
        return (g.relu() * alpha).sum(alongAxes: [2, 3])
    }
}

/// RandomCAM's rule: C weights from Uniform(−1, 1), drawn afresh for every image as
/// pytorch-grad-cam's `RandomCAM` does, or weights given by the caller.
///
/// An image's draw is seeded by `seed` and the image itself (a digest of its pixels at the
/// model's input), so that a map does not depend on the batch, the order or the shard an image
/// comes in, and the same image always gets the same map.
public struct RandomCAMWeights: CAMWeighting {
    public static let methodName = "randomcam"
    public static let needsGradients = false

    /// Seed of the channel weights, combined with each image's digest.
    public var seed: UInt64 = 42
    /// Channel weights to use instead of the seeded draws: [C] for every image, or [N, C] per image
    /// (to reproduce another implementation's draw). Recorded as `weights = given`.
    public var given: Tensor?

    /// The rule with its default settings.
    public init() {}

    /// The rule drawing weights from `seed`, or using `given` ([C] or [N, C]) instead.
    public init(seed: UInt64 = 42, given: Tensor? = nil) {
        self.seed = seed
        self.given = given
    }

    private enum CodingKeys: String, CodingKey { case seed, weights }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        if given == nil { try container.encode(seed, forKey: .seed) } else { try container.encode("given", forKey: .weights) }
    }

    public init(from decoder: Decoder) throws {
        seed = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(UInt64.self, forKey: .seed) ?? 42
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.seed == b.seed && a.given?.shape == b.given?.shape && a.given?.scalars == b.given?.scalars
    }

    public func channelWeights(activations a: Tensor, gradients: Tensor?, pixels: Tensor, point: String) throws -> Tensor {
        let (n, c) = (a.shape[0], a.shape[1])
        guard let given else {
            let all = pixels.contiguous().scalars
            let perImage = all.count / Swift.max(n, 1)
            let rows = (0..<n).flatMap { i in
                Self.seededWeights(channels: c, seed: Self.imageSeed(all[(i * perImage)..<((i + 1) * perImage)], seed: seed)).scalars
            }
            return Tensor(shape: [n, c], scalars: rows)
        }
        guard given.shape == [c] || given.shape == [n, c] else {
            throw ExplainerError.badInput("randomcam: \(given.shape) channel weights given for \(n) images of \(c) channels at '\(point)'")
        }
        return given.broadcast(to: [n, c]).contiguous()
    }

    /// The seed of one image's draw: FNV-1a over the bit patterns of its pixels, mixed with `seed`.
    public static func imageSeed<C: Collection>(_ pixels: C, seed: UInt64) -> UInt64 where C.Element == Float {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ seed
        for v in pixels {
            var bits = v.bitPattern
            for _ in 0..<4 {
                h = (h ^ UInt64(bits & 0xFF)) &* 0x0000_0100_0000_01B3
                bits >>= 8
            }
        }
        return h
    }

    /// C weights from Uniform(−1, 1), drawn from `SeededGenerator(seed:)`.
    static func seededWeights(channels: Int, seed: UInt64) -> Tensor {
        var generator = SeededGenerator(seed: seed)
        return Tensor(randomUniform: [channels], in: -1...1, generator: &generator)
    }
}

extension ClassActivationMap where Weighting == RandomCAMWeights {
    /// RandomCAM with the caller's channel weights ([C] or [N, C]) instead of a seeded draw.
    public init(point: String? = nil, channelWeights: Tensor) {
        options = Options(point: point, weighting: RandomCAMWeights(given: channelWeights))
    }
}
