import Foundation
import FovExModels
import FovExTensor

/// A map that ignores the image: every pixel equal (1). The floor a table's rows are read against:
/// on EBPG it scores the box's share of the image, on AUC-Judd 0.5, and NSS, a z-score over the map,
/// is undefined for it (recorded as missing with its reason).
public struct UniformMap: Explainer {
    public var name: String { "uniform" }

    public init() {}

    public func explain(_ pixels: Tensor, model: ImageClassifier, classes: [Int]?) throws -> [Explanation] {
        try TargetedForward.validate(pixels, method: name)
        let (targets, probabilities) = try TargetedForward.targets(pixels, model: model, classes: classes, method: name)
        let size = pixels.shape[2]
        let map = Tensor(shape: [size, size], scalars: [Float](repeating: 1, count: size * size))
        return zip(targets, probabilities).map { Explanation(method: name, map: map, classIndex: $0, probability: $1, settings: [:]) }
    }
}

/// The centre-bias baseline of saliency research: a Gaussian centred on the image, the same for
/// every image. Human observers fixate the centre of a picture more than anything in it, so a
/// method that beats this map on NSS or AUC-Judd says something about the image.
///
/// The default spread is Clark & Tatler's (2014, "Systematic tendencies in scene viewing",
/// Journal of Vision 14(6):4) best-fitting anisotropic Gaussian for scene viewing: with x in
/// [−1, 1] across the image's width, variance σ²_x = 0.22, and σ²_y = ν·σ²_x with ν = 0.45 (the
/// vertical spread is narrower). The model sees the image resized to a square, so y is in [−1, 1]
/// too; the map is exp(−x²/2σ²_x − y²/2σ²_y), at most 1 at the centre.
public struct CentreBiasMap: Explainer {
    public struct Options: Sendable, Codable, Equatable {
        /// σ²_x in units of the half-width.
        public var varianceX: Float = 0.22
        /// ν = σ²_y / σ²_x.
        public var anisotropy: Float = 0.45

        public init() {}

        /// Variances and ν in (0, 100].
        public static let bounds = OptionBounds<Float>(above: 0, through: 100)

        public func validate() throws {
            try Self.bounds.check(varianceX, option: "variance_x", method: "centre")
            try Self.bounds.check(anisotropy, option: "anisotropy", method: "centre")
        }
    }

    public var options: Options
    public var name: String { "centre" }

    /// - Throws: ``InvalidOptionError`` for a value outside its accepted range.
    public init(options: Options = Options()) throws {
        try options.validate()
        self.options = options
    }

    public var settings: [String: String] { SettingsEncoder.settings(of: options) }

    /// The S×S map: pixel centres at x = (2i + 1)/S − 1, likewise y.
    public func map(size: Int) -> Tensor {
        let vx = options.varianceX, vy = options.varianceX * options.anisotropy
        var values = [Float](repeating: 0, count: size * size)
        for r in 0..<size { for c in 0..<size {
            let x = (2 * Float(c) + 1) / Float(size) - 1
            let y = (2 * Float(r) + 1) / Float(size) - 1
            values[r * size + c] = Foundation.exp(-x * x / (2 * vx) - y * y / (2 * vy))
        }}
        return Tensor(shape: [size, size], scalars: values)
    }

    public func explain(_ pixels: Tensor, model: ImageClassifier, classes: [Int]?) throws -> [Explanation] {
        try TargetedForward.validate(pixels, method: name)
        try options.validate()
        let (targets, probabilities) = try TargetedForward.targets(pixels, model: model, classes: classes, method: name)
        let map = self.map(size: pixels.shape[2])
        let settings = self.settings
        return zip(targets, probabilities).map { Explanation(method: name, map: map, classIndex: $0, probability: $1, settings: settings) }
    }
}
