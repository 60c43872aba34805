import FovExModels
import FovExTensor

/// FovEx (Panda et al., 2024): a differentiable fovea is moved over the image by signed-gradient
/// descent on the classifier's cross-entropy; the resulting scanpath becomes the attribution map.
///
/// Every value is an option with the paper's setting as default (see the project's spec,
/// `fovex.md`). Images in a batch are searched together; each gets its own seeded random
/// generator, so a batch gives exactly what batch size 1 gives.
public struct FovEx: Explainer {
    /// `paper` reproduces the reference code, including storing the position one step past the
    /// evaluated point as the best one; `refined` stores the evaluated point and keeps positions
    /// inside the image.
    public enum Variant: String, Sendable, Codable, CaseIterable { case paper, refined }

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
        public var variant: Variant = .paper

        public init() {}
    }

    public var options: Options
    public var name: String { "fovex" }

    public init(options: Options = Options()) { self.options = options }

    /// What the search found for one image, before it is turned into a map.
    public struct Search {
        public var scanpath: [Fixation]
        public var classIndex: Int
        public var probability: Float
    }

    public func explain(_ pixels: Tensor, model: ImageClassifier, classes: [Int]?) throws -> [Explanation] {
        let searches = try scanpaths(pixels, model: model, classes: classes)
        let size = pixels.shape[2]
        return searches.map { s in
            Explanation(method: name, map: attributionMap(s.scanpath, size: size), classIndex: s.classIndex,
                        probability: s.probability, scanpath: s.scanpath, settings: settings)
        }
    }

    /// The options as name → value strings, for records.
    public var settings: [String: String] {
        var s: [String: String] = [
            "fixations": "\(options.fixations)", "steps_per_fixation": "\(options.stepsPerFixation)",
            "step_size": "\(options.stepSize)", "fovea_sigma": "\(options.foveaSigma)",
            "forgetting": "\(options.forgetting)", "blur_kernel_size": "\(options.blurKernelSize)",
            "blur_sigma": "\(options.blurSigma)", "heatmap_sigma": "\(options.heatmapSigma)",
            "random_restarts": "\(options.randomRestarts)", "seed": "\(options.seed)",
            "variant": options.variant.rawValue,
        ]
        if !options.heatmapForgetting.isEmpty {
            s["heatmap_forgetting"] = options.heatmapForgetting.map { "\($0)" }.joined(separator: ",")
        }
        return s
    }

    /// The normalised coordinate of each pixel centre along one axis: linspace(−1, 1, size).
    static func grid(_ size: Int) -> Tensor {
        Tensor(shape: [1, size], scalars: (0..<size).map { -1 + 2 * Float($0) / Float(size - 1) })
    }

    /// Fovea blobs W_p(u) = exp(−‖u − p‖² / σ) for positions [N, 2] (row, col) → [N, S, S].
    /// Differentiable with respect to the positions.
    public static func blob(at positions: Tensor, size: Int, sigma: Float) -> Tensor {
        let n = positions.shape[0]
        let g = grid(size)
        let rows = ((g - positions.sliced(axis: 1, 0..<1)).pow(2) * (-1 / sigma)).exp()  // [N, S]
        let cols = ((g - positions.sliced(axis: 1, 1..<2)).pow(2) * (-1 / sigma)).exp()
        return rows.reshaped([n, size, 1]) * cols.reshaped([n, 1, size])
    }

    /// The foveated image x + B · clip(1 − (s + W_p), 0, 1) with B = blur(x) − x.
    /// Differentiable with respect to `positions`.
    public static func foveate(_ pixels: Tensor, peripheral: Tensor, memory: Tensor, positions: Tensor,
                               sigma: Float) -> Tensor {
        let (n, size) = (pixels.shape[0], pixels.shape[2])
        let w = blob(at: positions, size: size, sigma: sigma)
        let mask = (1 - (memory + w)).clamped(min: 0, max: 1).reshaped([n, 1, size, size])
        return pixels + peripheral * mask
    }

    /// Runs the fixation search for a batch and returns each image's scanpath.
    public func scanpaths(_ pixels: Tensor, model: ImageClassifier, classes: [Int]?) throws -> [Search] {
        guard pixels.rank == 4, pixels.shape[1] == 3, pixels.shape[2] == pixels.shape[3] else {
            throw ExplainerError.badInput("FovEx needs square RGB images [N, 3, S, S], got \(pixels.shape)")
        }
        let o = options
        guard o.fixations > 0, o.stepsPerFixation > 0, o.foveaSigma > 0, o.heatmapSigma > 0 else {
            throw ExplainerError.badInput("FovEx needs positive fixations, steps and sigmas")
        }
        if !o.heatmapForgetting.isEmpty && o.heatmapForgetting.count != o.fixations {
            throw ExplainerError.badInput("heatmapForgetting has \(o.heatmapForgetting.count) factors for \(o.fixations) fixations")
        }
        let (n, size) = (pixels.shape[0], pixels.shape[2])
        let (targets, probabilities) = try ExplainerSupport.targets(pixels, model: model, classes: classes)
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
