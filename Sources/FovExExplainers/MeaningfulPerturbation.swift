import Foundation
import FovExModels
import FovExTensor

/// Meaningful Perturbation (Fong & Vedaldi, 2017), as its common PyTorch implementation runs it: a
/// low-resolution mask m (1 keeps a pixel, 0 replaces it by its blurred value) is optimised with
/// Adam to minimise 0.01·mean|1−m| + 0.2·TV_β(m) + softmax_c(model(x·M + b·(1−M) + noise)),
/// M the upsampled mask, b the blurred image and the noise Gaussian, fresh every iteration; m is
/// clamped to [0, 1] after each step and the saliency is 1 − M, min-max normalised.
///
/// Two modes (``Options/Mode``): `reference` follows the reference script (`explain.py` of
/// jacobgil/pytorch-explain-black-box, the implementation baselines cite): b is an 11×11 median
/// filter of the 8-bit image and the noise N(0, 0.2²) is added to the model's *normalised* input
/// (so in [0, 1] pixels it has σ = 0.2·std_c per channel). `pixel` is this project's earlier form:
/// b a Gaussian blur (K 11, σ 5) and the noise added in [0, 1] pixel space. Images in a batch are
/// optimised together, each with its own mask and its own seeded noise generator, so a batch
/// gives exactly what batch size 1 gives.
public struct MeaningfulPerturbation: Explainer {
    /// The settings of the mask search; the defaults are the project's (the reference script's, with 300 iterations).
    public struct Options: Sendable, Codable, Equatable {
        /// Where the deleted pixels and the noise come from.
        public enum Mode: String, Sendable, Codable, CaseIterable {
            /// The reference `explain.py`: median-filtered deleted pixels, noise in normalised space.
            case reference
            /// Gaussian-blurred deleted pixels, noise in [0, 1] pixel space.
            case pixel
        }

        /// The reference script's form by default.
        public var mode = Mode.reference
        /// Side of the square mask that is optimised.
        public var maskSize = 28
        /// Adam steps (the reference script used 500; 300 is the project's default).
        public var iterations = 300
        /// Adam's learning rate for the mask.
        public var learningRate: Float = 0.1
        /// Weight of mean|1 − m|, which asks for as little deletion as possible.
        public var l1Coefficient: Float = 0.01
        /// Weight of the total variation Σ over both axes of mean|Δm|^β, which asks for smooth masks.
        public var tvCoefficient: Float = 0.2
        /// The exponent β of the total variation.
        public var tvBeta: Float = 3
        /// The blur that supplies the deleted pixels: its kernel size (the median filter's window in
        /// `reference` mode) and, in `pixel` mode, the Gaussian's σ in pixels (reflect padding).
        public var blurKernelSize = 11
        /// σ of that blur, in pixels.
        public var blurSigma: Float = 5
        /// σ of the Gaussian noise added to the perturbed image at every iteration: in the model's
        /// normalised units (`reference`) or in [0, 1] pixel units (`pixel`).
        public var noiseStandardDeviation: Float = 0.2
        /// Upsample the mask with align_corners = true, as the reference's `UpsamplingBilinear2d`
        /// does (otherwise align_corners = false).
        public var alignCorners = true
        /// Adam's β1, β2 and ε (PyTorch's defaults).
        public var adamBeta1: Float = 0.9
        /// Adam's β2.
        public var adamBeta2: Float = 0.999
        /// Adam's ε.
        public var adamEpsilon: Float = 1e-8
        /// Seed of each image's noise generator.
        public var seed: UInt64 = 42

        /// The default settings.
        public init() {}

        /// A mask of 2…1024 cells per side (and, checked per image, at most its side): the
        /// optimiser's state grows with its square.
        public static let maskSizeBounds = OptionBounds<Int>(2...1024)
        /// 1…100 000 Adam steps.
        public static let iterationsBounds = OptionBounds<Int>(1...100_000)
        /// Adam's learning rate in (0, 10].
        public static let learningRateBounds = OptionBounds<Float>(above: 0, through: 10)
        /// The L1 and total-variation weights in [0, 1000].
        public static let coefficientBounds = OptionBounds<Float>(0...1000)
        /// The total variation's exponent β in (0, 10].
        public static let tvBetaBounds = OptionBounds<Float>(above: 0, through: 10)
        /// An odd blur kernel of 1…1023 pixels (and, checked per image, smaller than twice its side).
        public static let blurKernelBounds = OptionBounds<Int>(1...1023)
        /// The blur's σ in (0, 1000] pixels.
        public static let blurSigmaBounds = OptionBounds<Float>(above: 0, through: 1000)
        /// The noise's σ in [0, 10] pixel units.
        public static let noiseBounds = OptionBounds<Float>(0...10)
        /// Adam's β1 and β2 in [0, 1).
        public static let adamBetaBounds = OptionBounds<Float>(0..<1)
        /// Adam's ε in (0, 1].
        public static let adamEpsilonBounds = OptionBounds<Float>(above: 0, through: 1)

        /// Throws ``InvalidOptionError`` for the first value outside its accepted range.
        public func validate() throws {
            let m = "mp"
            try Self.maskSizeBounds.check(maskSize, option: "mask_size", method: m)
            try Self.iterationsBounds.check(iterations, option: "iterations", method: m)
            try Self.learningRateBounds.check(learningRate, option: "learning_rate", method: m)
            try Self.coefficientBounds.check(l1Coefficient, option: "l1_coefficient", method: m)
            try Self.coefficientBounds.check(tvCoefficient, option: "tv_coefficient", method: m)
            try Self.tvBetaBounds.check(tvBeta, option: "tv_beta", method: m)
            try Self.blurKernelBounds.checkOdd(blurKernelSize, option: "blur_kernel_size", method: m)
            try Self.blurSigmaBounds.check(blurSigma, option: "blur_sigma", method: m)
            try Self.noiseBounds.check(noiseStandardDeviation, option: "noise_standard_deviation", method: m)
            try Self.adamBetaBounds.check(adamBeta1, option: "adam_beta1", method: m)
            try Self.adamBetaBounds.check(adamBeta2, option: "adam_beta2", method: m)
            try Self.adamEpsilonBounds.check(adamEpsilon, option: "adam_epsilon", method: m)
        }
    }

    /// The settings this explainer runs with (checked when it was built).
    public var options: Options
    /// Noise to add instead of seeded noise, one tensor per iteration, each [N, 3, S, S] or
    /// [1, 3, S, S] (the same for every image), in the mode's units (normalised in `reference` mode).
    public var noise: [Tensor]?
    /// Called after each iteration with (iterations done, iterations in all).
    public var progress: ((_ done: Int, _ total: Int) -> Void)?
    public var name: String { "mp" }

    /// - Throws: ``InvalidOptionError`` for a value outside its accepted range.
    public init(options: Options = Options(), noise: [Tensor]? = nil,
                progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws {
        try options.validate()
        self.options = options
        self.noise = noise
        self.progress = progress
    }

    /// The options as run records write them; with given noise, `noise = given` replaces the σ and
    /// seed that did not make it.
    public var settings: [String: String] {
        var s = SettingsEncoder.settings(of: options)
        if noise != nil {
            s["noise_standard_deviation"] = nil
            s["seed"] = nil
            s["noise"] = "given"
        }
        return s
    }

    public func explain(_ pixels: Tensor, model: ImageClassifier, classes: [Int]?) throws -> [Explanation] {
        try TargetedForward.validate(pixels, method: name)
        let o = options
        let (n, size) = (pixels.shape[0], pixels.shape[2])
        try check(size: size, images: n)
        let (targets, probabilities) = try TargetedForward.targets(pixels, model: model, classes: classes, method: name)
        let x = pixels.detached().contiguous()
        let blurred = withoutGradients {
            o.mode == .reference ? x.medianFiltered(kernelSize: o.blurKernelSize)
                : x.gaussianBlurred(kernelSize: o.blurKernelSize, sigma: o.blurSigma)
        }

        let upsample = MaskUpsampler(from: o.maskSize, to: size, alignCorners: o.alignCorners)
        let m = o.maskSize
        var mask = [Float](repeating: 1, count: n * m * m)
        var adam = AdamState(count: mask.count)
        var generators = (0..<n).map { _ in SeededGenerator(seed: o.seed) }

        for t in 0..<o.iterations {
            var perturbation = noise.map { $0[t].broadcast(to: [n, 3, size, size]) }
                ?? MeaningfulPerturbation.gaussianNoise(images: n, size: size, standardDeviation: o.noiseStandardDeviation,
                                                        generators: &generators)
            perturbation = MeaningfulPerturbation.noiseInPixels(perturbation, mode: o.mode, std: model.preprocessing.std)
            let mt = Tensor(shape: [n, 1, m, m], scalars: mask).requiringGradient()
            let up = upsample(mt)
            let input = x * up + blurred * (1 - up) + perturbation
            let probs = model.logits(input).softmax()
            let k = probs.shape[1]
            let oneHot = Tensor(shape: [n, k], scalars: targets.flatMap { c in (0..<k).map { $0 == c ? 1 : 0 } })
            let score = (probs * oneHot).sum(alongAxes: [1])
            let l1 = (1 - mt).abs().mean(alongAxes: [1, 2, 3])
            let loss = l1 * o.l1Coefficient + MeaningfulPerturbation.totalVariation(mt, beta: o.tvBeta) * o.tvCoefficient + score
            let g = try gradients(of: loss.sum(), withRespectTo: [mt])[0].scalars
            adam.step(&mask, gradient: g, options: o)
            for j in mask.indices { mask[j] = Swift.min(Swift.max(mask[j], 0), 1) }
            progress?(t + 1, o.iterations)
        }
        let maps = withoutGradients {
            ExplainerSupport.minMaxNormalized((1 - upsample(Tensor(shape: [n, 1, m, m], scalars: mask))).reshaped([n, size, size]))
        }
        let settings = self.settings
        return (0..<n).map { i in
            Explanation(method: name, map: maps.selecting(axis: 0, index: i).contiguous(), classIndex: targets[i],
                        probability: probabilities[i], settings: settings)
        }
    }

    /// Throws unless the options and the given noise fit `images` images of `size`×`size`.
    private func check(size: Int, images n: Int) throws {
        let o = options
        // Options set after the initialiser (they are a `var`) are checked again here.
        try o.validate()
        guard o.maskSize <= size else {
            throw InvalidOptionError(method: name, option: "mask_size", value: "\(o.maskSize)",
                                     accepted: "a whole number in 2…\(size) (the image side)")
        }
        guard o.blurKernelSize / 2 < size else {
            throw InvalidOptionError(method: name, option: "blur_kernel_size", value: "\(o.blurKernelSize)",
                                     accepted: "an odd whole number below twice the image side (\(2 * size))")
        }
        if let noise {
            guard noise.count >= o.iterations else {
                throw ExplainerError.badInput("mp: \(noise.count) noise tensors given for \(o.iterations) iterations")
            }
            for t in noise.prefix(o.iterations) where t.shape != [n, 3, size, size] && t.shape != [1, 3, size, size] {
                throw ExplainerError.badInput("mp: noise of shape \(t.shape) does not fit \(n) images of \(size)×\(size)")
            }
        }
    }

    /// mean|m[i+1, j] − m[i, j]|^β + mean|m[i, j+1] − m[i, j]|^β per image of masks [N, 1, h, w] → [N].
    static func totalVariation(_ m: Tensor, beta: Float) -> Tensor {
        let (h, w) = (m.shape[2], m.shape[3])
        let rows = (m.sliced(axis: 2, 0..<(h - 1)) - m.sliced(axis: 2, 1..<h)).abs().pow(beta)
        let cols = (m.sliced(axis: 3, 0..<(w - 1)) - m.sliced(axis: 3, 1..<w)).abs().pow(beta)
        return rows.mean(alongAxes: [1, 2, 3]) + cols.mean(alongAxes: [1, 2, 3])
    }

    /// Noise in the mode's units as it reaches the [0, 1] pixels the model takes: in `reference` mode
    /// it was drawn in the model's normalised space, (x − mean)/std, so a step of 1 there is std_c
    /// in pixels; in `pixel` mode it is already in pixels.
    static func noiseInPixels(_ noise: Tensor, mode: Options.Mode, std: [Float]) -> Tensor {
        mode == .reference ? noise * Tensor(shape: [1, std.count, 1, 1], scalars: std) : noise
    }

    /// Noise [N, 3, S, S] with image i's values drawn from `generators[i]`.
    static func gaussianNoise(images n: Int, size: Int, standardDeviation: Float,
                              generators: inout [SeededGenerator]) -> Tensor {
        let parts = (0..<n).map { i in
            Tensor(randomNormal: [1, 3, size, size], standardDeviation: standardDeviation, generator: &generators[i])
        }
        return n == 1 ? parts[0] : Tensor.concatenate(parts, axis: 0)
    }
}

/// Adam's moment estimates for a flat parameter vector, updated as PyTorch's `Adam` does
/// (no weight decay, no AMSGrad).
private struct AdamState {
    var first: [Float]
    var second: [Float]
    var steps = 0

    init(count: Int) {
        first = [Float](repeating: 0, count: count)
        second = [Float](repeating: 0, count: count)
    }

    mutating func step(_ parameters: inout [Float], gradient g: [Float], options o: MeaningfulPerturbation.Options) {
        steps += 1
        let correction1 = 1 - Foundation.pow(o.adamBeta1, Float(steps))
        let correction2 = (1 - Foundation.pow(o.adamBeta2, Float(steps))).squareRoot()
        let stepSize = o.learningRate / correction1
        for j in parameters.indices {
            first[j] = o.adamBeta1 * first[j] + (1 - o.adamBeta1) * g[j]
            second[j] = o.adamBeta2 * second[j] + (1 - o.adamBeta2) * g[j] * g[j]
            parameters[j] -= stepSize * first[j] / (second[j].squareRoot() / correction2 + o.adamEpsilon)
        }
    }
}

/// Bilinear upsampling of square masks [N, 1, m, m] to S×S, differentiable.
private struct MaskUpsampler {
    let size: Int
    let alignCorners: Bool
    /// The interpolation matrix transposed, [m, S] (align_corners = true only).
    let columnWeights: Tensor?

    init(from m: Int, to size: Int, alignCorners: Bool) {
        self.size = size
        self.alignCorners = alignCorners
        guard alignCorners else { columnWeights = nil; return }
        // Output i samples input position i·(m−1)/(S−1), PyTorch's align_corners = true rule.
        var w = [Float](repeating: 0, count: m * size)
        let scale = size > 1 ? Float(m - 1) / Float(size - 1) : 0
        for i in 0..<size {
            let source = scale * Float(i)
            let i0 = Swift.min(Int(source), m - 1)
            let i1 = Swift.min(i0 + 1, m - 1)
            let l1 = source - Float(i0)
            w[i0 * size + i] += 1 - l1
            w[i1 * size + i] += l1
        }
        columnWeights = Tensor(shape: [m, size], scalars: w)
    }

    func callAsFunction(_ mask: Tensor) -> Tensor {
        guard let rt = columnWeights else { return mask.resized(height: size, width: size) }
        // R·M·Rᵀ as two products with Rᵀ: (M·Rᵀ)ᵀ·Rᵀ = R·Mᵀ·Rᵀ, transposed back.
        return mask.matmul(rt).transposed().matmul(rt).transposed()
    }
}
