import FovExModels
import FovExTensor

/// FovEx (Panda et al., 2024): a differentiable fovea is moved over the image by signed-gradient
/// descent on the classifier's cross-entropy; the resulting scanpath becomes the attribution map.
///
/// Every value is an option with the paper's setting as default (see `docs/design/fovex.md`). Images in a
/// batch are searched together; each gets its own seeded random generator, so a batch gives exactly what
/// batch size 1 gives.
public struct FovEx: Explainer {
    /// `paper` reproduces the reference code, including storing the position one step past the
    /// evaluated point as the best one; `refined` stores the evaluated point and keeps positions
    /// inside the image.
    public enum Variant: String, Sendable, Codable, CaseIterable {
        /// The reference code's behaviour, kept for parity with the paper's numbers.
        case paper
        /// The evaluated position is stored, and positions stay inside the image.
        case refined
    }

    /// FovEx's settings, named after the specification's symbols; every default is the paper's.
    public struct Options: Sendable, Codable, Equatable {
        /// Fixations per image (N).
        public var fixations = 10
        /// Optimisation steps per fixation (OS).
        public var stepsPerFixation = 20
        /// Signed-gradient step λ in normalised units.
        public var stepSize: Float = 0.1
        /// Fovea width σ_f in W_p(u) = exp(−‖u − p‖² / σ_f), normalised units.
        public var foveaSigma: Float = 0.15
        /// Memory forgetting β: s ← β·s + W(best p).
        public var forgetting: Float = 0.1
        /// Peripheral blur: Gaussian kernel size K and σ_b in pixels (reflect padding).
        public var blurKernelSize = 41
        /// σ_b of the peripheral blur, in pixels.
        public var blurSigma: Float = 10
        /// Width σ_ε of the Gaussians summed into the attribution map.
        public var heatmapSigma: Float = 0.15
        /// Per-fixation factors f_i of the reference's heat-map recursion h ← f_i·h + G_i
        /// (empty: all 1, i.e. a plain sum).
        public var heatmapForgetting: [Float] = []
        /// Restart from a uniform random position after a non-improving step (otherwise jitter
        /// by Uniform(−λ/2, λ/2)).
        public var randomRestarts = true
        /// Seed of each image's random generator.
        public var seed: UInt64 = 42
        /// Which reading of the reference code to follow (see ``FovEx/Variant``).
        public var variant: Variant = .paper

        /// The paper's settings.
        public init() {}

        // The accepted values, declared once: the initialiser checks them, and command lines say them.
        /// 1…1000 fixations (the paper: 10).
        public static let fixationsBounds = OptionBounds<Int>(1...1000)
        /// 1…10 000 steps per fixation (the paper: 20).
        public static let stepsBounds = OptionBounds<Int>(1...10_000)
        /// λ in (0, 2]: the image spans 2 normalised units, so a longer step only jumps off it.
        public static let stepSizeBounds = OptionBounds<Float>(above: 0, through: 2)
        /// σ_f and σ_ε in (0, 10]: at 10 a blob is within 33 % of its peak across the whole image.
        public static let sigmaBounds = OptionBounds<Float>(above: 0, through: 10)
        /// β and the heat-map factors in [0, 1]: above 1, old fixations would outweigh new ones without bound.
        public static let forgettingBounds = OptionBounds<Float>(0...1)
        /// An odd kernel of 1…1023 pixels (and, checked per image, smaller than twice its side).
        public static let blurKernelBounds = OptionBounds<Int>(1...1023)
        /// σ_b in (0, 1000] pixels.
        public static let blurSigmaBounds = OptionBounds<Float>(above: 0, through: 1000)

        /// Throws ``InvalidOptionError`` for the first value outside its accepted range.
        public func validate() throws {
            let m = "fovex"
            try Self.fixationsBounds.check(fixations, option: "fixations", method: m)
            try Self.stepsBounds.check(stepsPerFixation, option: "steps_per_fixation", method: m)
            try Self.stepSizeBounds.check(stepSize, option: "step_size", method: m)
            try Self.sigmaBounds.check(foveaSigma, option: "fovea_sigma", method: m)
            try Self.forgettingBounds.check(forgetting, option: "forgetting", method: m)
            try Self.blurKernelBounds.checkOdd(blurKernelSize, option: "blur_kernel_size", method: m)
            try Self.blurSigmaBounds.check(blurSigma, option: "blur_sigma", method: m)
            try Self.sigmaBounds.check(heatmapSigma, option: "heatmap_sigma", method: m)
            for f in heatmapForgetting { try Self.forgettingBounds.check(f, option: "heatmap_forgetting", method: m) }
            guard heatmapForgetting.isEmpty || heatmapForgetting.count == fixations else {
                throw InvalidOptionError(method: m, option: "heatmap_forgetting",
                                         value: "\(heatmapForgetting.count) factors",
                                         accepted: "empty or one factor per fixation (\(fixations))")
            }
        }
    }

    /// The settings this explainer runs with (checked when it was built).
    public var options: Options
    public var name: String { "fovex" }

    /// FovEx with the paper's settings.
    public init() { options = Options() }

    /// - Throws: ``InvalidOptionError`` for a value outside its accepted range.
    public init(options: Options) throws {
        try options.validate()
        self.options = options
    }

    /// What the search found for one image, before it is turned into a map.
    public struct Search {
        /// The fixations in the order they were made.
        public var scanpath: [Fixation]
        /// The class the search explained.
        public var classIndex: Int
        /// That class's softmax probability on the clean image.
        public var probability: Float
    }

    public func explain(_ pixels: Tensor, model: ImageClassifier, classes: [Int]?) throws -> [Explanation] {
        let searches = try scanpaths(pixels, model: model, classes: classes)
        let size = pixels.shape[2]
        let settings = self.settings
        return searches.map { s in
            Explanation(method: name, map: attributionMap(s.scanpath, size: size), classIndex: s.classIndex,
                        probability: s.probability, settings: settings, attachments: [Scanpath(fixations: s.scanpath)])
        }
    }

    /// The options as run records write them.
    public var settings: [String: String] { SettingsEncoder.settings(of: options) }

    /// Fovea blobs W_p(u) = exp(−‖u − p‖² / σ) for positions [N, 2] (row, col) → [N, S, S], the outer product of
    /// the row and the column ``FovExTensor/Tensor/foveaProfile(at:size:sigma:)``.
    /// Differentiable with respect to the positions.
    public static func blob(at positions: Tensor, size: Int, sigma: Float) -> Tensor {
        let n = positions.shape[0]
        let rows = Tensor.foveaProfile(at: positions.sliced(axis: 1, 0..<1), size: size, sigma: sigma)  // [N, S]
        let cols = Tensor.foveaProfile(at: positions.sliced(axis: 1, 1..<2), size: size, sigma: sigma)
        return rows.reshaped([n, size, 1]) * cols.reshaped([n, 1, size])
    }

    /// The foveated image x + B · clip(1 − (s + W_p), 0, 1) with B = blur(x) − x, W_p = ``blob(at:size:sigma:)``
    /// (``FovExTensor/Tensor/foveated(peripheral:memory:positions:sigma:)``, one fused pass each way).
    /// Differentiable with respect to `positions` (and every other argument).
    public static func foveate(_ pixels: Tensor, peripheral: Tensor, memory: Tensor, positions: Tensor,
                               sigma: Float) -> Tensor {
        pixels.foveated(peripheral: peripheral, memory: memory, positions: positions, sigma: sigma)
    }

    /// Runs the fixation search for a batch and returns each image's scanpath.
    public func scanpaths(_ pixels: Tensor, model: ImageClassifier, classes: [Int]?) throws -> [Search] {
        guard pixels.rank == 4, pixels.shape[1] == 3, pixels.shape[2] == pixels.shape[3] else {
            throw ExplainerError.badInput("FovEx needs square RGB images [N, 3, S, S], got \(pixels.shape)")
        }
        let o = options
        // Options set after the initialiser (it is a `var`) are checked again here.
        try o.validate()
        let (n, size) = (pixels.shape[0], pixels.shape[2])
        guard o.blurKernelSize / 2 < size else {
            throw InvalidOptionError(method: name, option: "blur_kernel_size", value: "\(o.blurKernelSize)",
                                     accepted: "an odd whole number below twice the image side (\(2 * size))")
        }
        let (targets, probabilities) = try TargetedForward.targets(pixels, model: model, classes: classes, method: name)
        let x = pixels.detached().contiguous()
        let peripheral = withoutGradients {
            x.gaussianBlurred(kernelSize: o.blurKernelSize, sigma: o.blurSigma) - x
        }
        var generators = (0..<n).map { _ in SeededGenerator(seed: o.seed) }
        var memory = Tensor(zeros: [n, size, size])
        var paths = [[Fixation]](repeating: [], count: n)

        for _ in 0..<o.fixations {
            var p = [Float](repeating: 0, count: 2 * n)
            var best = [Float](repeating: 0, count: 2 * n)
            var bestLoss = [Float](repeating: .infinity, count: n)
            for _ in 0..<o.stepsPerFixation {
                let pos = Tensor(shape: [n, 2], scalars: p).requiringGradient()
                let foveated = FovEx.foveate(x, peripheral: peripheral, memory: memory, positions: pos, sigma: o.foveaSigma)
                let losses = model.logits(foveated).crossEntropy(labels: targets)
                let grad = try gradients(of: losses.sum(), withRespectTo: [pos])[0].scalars
                let lossValues = losses.scalars
                for i in 0..<n {
                    let evaluated = (p[2 * i], p[2 * i + 1])
                    for a in 0..<2 {
                        let gi = grad[2 * i + a]
                        p[2 * i + a] -= o.stepSize * (gi > 0 ? 1 : gi < 0 ? -1 : 0)
                    }
                    if lossValues[i] < bestLoss[i] {
                        bestLoss[i] = lossValues[i]
                        if o.variant == .paper {
                            best[2 * i] = p[2 * i]; best[2 * i + 1] = p[2 * i + 1]
                        } else {
                            best[2 * i] = evaluated.0; best[2 * i + 1] = evaluated.1
                        }
                    } else if o.randomRestarts {
                        p[2 * i] = generators[i].nextUniform() * 2 - 1
                        p[2 * i + 1] = generators[i].nextUniform() * 2 - 1
                    } else {
                        p[2 * i] += generators[i].nextUniform() * o.stepSize - o.stepSize / 2
                        p[2 * i + 1] += generators[i].nextUniform() * o.stepSize - o.stepSize / 2
                    }
                    if o.variant == .refined {
                        p[2 * i] = Swift.min(Swift.max(p[2 * i], -1), 1)
                        p[2 * i + 1] = Swift.min(Swift.max(p[2 * i + 1], -1), 1)
                    }
                }
            }
            for i in 0..<n { paths[i].append(Fixation(row: best[2 * i], col: best[2 * i + 1], loss: bestLoss[i])) }
            memory = withoutGradients {
                memory * o.forgetting + FovEx.blob(at: Tensor(shape: [n, 2], scalars: best), size: size, sigma: o.foveaSigma)
            }
        }
        return (0..<n).map { Search(scanpath: paths[$0], classIndex: targets[$0], probability: probabilities[$0]) }
    }

    /// The attribution map of a scanpath: h ← f_i·h + exp(−‖u − p_i‖²/σ_ε) over the fixations,
    /// then min-max normalised to [0, 1]. Returns [S, S].
    public func attributionMap(_ scanpath: [Fixation], size: Int) -> Tensor {
        withoutGradients {
            var h = Tensor(zeros: [1, size, size])
            for (i, f) in scanpath.enumerated() {
                let factor = options.heatmapForgetting.isEmpty ? 1 : options.heatmapForgetting[i]
                let g = FovEx.blob(at: Tensor(shape: [1, 2], scalars: [f.row, f.col]), size: size, sigma: options.heatmapSigma)
                h = h * factor + g
            }
            return ExplainerSupport.minMaxNormalized(h).reshaped([size, size])
        }
    }
}

/// FovEx's scanpath, attached to each of its explanations.
public struct Scanpath: ExplanationAttachment, Equatable {
    /// The fixations in the order they were made.
    public var fixations: [Fixation]

    /// A scanpath of these fixations, in order.
    public init(fixations: [Fixation]) { self.fixations = fixations }
}

/// One fixation of a FovEx scanpath.
public struct Fixation: Sendable, Codable, Equatable {
    /// Row position in normalised units: the model input's pixel grid spans −1…1 on each axis
    /// (pixel centre i at −1 + 2i/(S−1)); positions may lie outside that range.
    public var row: Float
    /// Column position in the same normalised units.
    public var col: Float
    /// Cross-entropy of the class explained with this fixation applied (the best loss found).
    public var loss: Float

    /// A fixation at (row, col) in normalised units with the loss found there.
    public init(row: Float, col: Float, loss: Float) {
        self.row = row
        self.col = col
        self.loss = loss
    }

    /// The fixation in pixels of the model input (S×S): pixel centre i sits at −1 + 2i/(S−1).
    public func inputPixel(size: Int) -> (x: Float, y: Float) {
        ((col + 1) / 2 * Float(size - 1), (row + 1) / 2 * Float(size - 1))
    }

    /// The fixation in pixels of an original `width`×`height` image that was resized straight onto
    /// the S×S input (align_corners = false: input pixel i covers original [i·W/S, (i+1)·W/S)).
    public func pixel(width: Int, height: Int, inputSize size: Int) -> (x: Float, y: Float) {
        let p = inputPixel(size: size)
        return ((p.x + 0.5) * Float(width) / Float(size) - 0.5, (p.y + 0.5) * Float(height) / Float(size) - 0.5)
    }
}
