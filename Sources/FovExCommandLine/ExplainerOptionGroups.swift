import ArgumentParser
import FovExExplainers

// The explainers' command-line options, one group per method family, declared once and used by
// `fovex explain`, `fovex evaluate` and `fovex bench`. Each flag's default is the library's
// default, and each group's `validate()` runs the library's own range checks when the command
// line is parsed, naming the flag (so a range is declared once, beside the option, in the library).

/// Rethrows the library's ``InvalidOptionError`` as a parse error naming the flag that set it.
private func validated<T>(_ flags: [String: String], _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as InvalidOptionError {
        throw ValidationError(error.message(naming: flags[error.option] ?? error.option))
    }
}

/// FovEx: `--fixations`, `--steps`, `--step-size`, `--sigma`, `--heatmap-sigma`, `--forgetting`,
/// `--heatmap-forgetting`, `--blur-kernel-size`, `--blur-sigma`, `--[no-]random-restarts`, `--variant`.
public struct FovExOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "FovEx: fixations per image (N); \(FovEx.Options.fixationsBounds.accepted).")
    public var fixations = FovEx.Options().fixations
    @Option(parsing: .unconditional, help: "FovEx: optimisation steps per fixation (OS); \(FovEx.Options.stepsBounds.accepted).")
    public var steps = FovEx.Options().stepsPerFixation
    @Option(parsing: .unconditional, help: "FovEx: signed-gradient step λ (normalised units); \(FovEx.Options.stepSizeBounds.accepted).")
    public var stepSize = FovEx.Options().stepSize
    @Option(parsing: .unconditional,
            help: "FovEx: fovea width σ_f (normalised units); also the heat map's σ_ε unless --heatmap-sigma is given (the paper sets σ_ε = σ_f); \(FovEx.Options.sigmaBounds.accepted).")
    public var sigma = FovEx.Options().foveaSigma
    @Option(parsing: .unconditional, help: "FovEx: width σ_ε of the Gaussians summed into the map (default: --sigma); \(FovEx.Options.sigmaBounds.accepted).")
    public var heatmapSigma: Float?
    @Option(parsing: .unconditional, help: "FovEx: memory forgetting β; \(FovEx.Options.forgettingBounds.accepted).")
    public var forgetting = FovEx.Options().forgetting
    @Option(parsing: .unconditional,
            help: "FovEx: per-fixation factors f_i of the heat map h ← f_i·h + G_i, comma-separated, one per fixation (default: a plain sum).")
    public var heatmapForgetting: String?
    @Option(parsing: .unconditional, help: "FovEx: peripheral blur kernel size K in pixels; an odd \(FovEx.Options.blurKernelBounds.accepted.dropFirst(2)).")
    public var blurKernelSize = FovEx.Options().blurKernelSize
    @Option(parsing: .unconditional, help: "FovEx: peripheral blur σ_b in pixels; \(FovEx.Options.blurSigmaBounds.accepted).")
    public var blurSigma = FovEx.Options().blurSigma
    @Flag(inversion: .prefixedNo, help: "FovEx: restart at a random position after a non-improving step (otherwise jitter).")
    public var randomRestarts = FovEx.Options().randomRestarts
    @Option(help: "FovEx: variant (\(FovEx.Variant.allCases.map(\.rawValue).joined(separator: " or "))).")
    public var variant: FovEx.Variant = FovEx.Options().variant

    public init() {}

    /// The record name of each option → its flag.
    static let flags = ["fixations": "--fixations", "steps_per_fixation": "--steps", "step_size": "--step-size",
                        "fovea_sigma": "--sigma", "heatmap_sigma": "--heatmap-sigma", "forgetting": "--forgetting",
                        "heatmap_forgetting": "--heatmap-forgetting", "blur_kernel_size": "--blur-kernel-size",
                        "blur_sigma": "--blur-sigma"]

    public func validate() throws { _ = try options() }

    /// The library's options with these values (the seed is the shared `--seed`'s).
    public func options() throws -> FovEx.Options {
        var o = FovEx.Options()
        o.fixations = fixations
        o.stepsPerFixation = steps
        o.stepSize = stepSize
        o.foveaSigma = sigma
        o.heatmapSigma = heatmapSigma ?? sigma
        o.forgetting = forgetting
        if let heatmapForgetting {
            o.heatmapForgetting = try heatmapForgetting.split(separator: ",", omittingEmptySubsequences: false).map {
                guard let f = Float($0.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--heatmap-forgetting must be numbers separated by commas, got '\(heatmapForgetting)'")
                }
                return f
            }
        }
        o.blurKernelSize = blurKernelSize
        o.blurSigma = blurSigma
        o.randomRestarts = randomRestarts
        o.variant = variant
        return try validated(Self.flags) { try o.validate(); return o }
    }
}

extension FovEx.Variant: ExpressibleByArgument {}

/// RISE: `--rise-masks`, `--rise-cells`, `--rise-p`, `--rise-batch`.
public struct RISEOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "RISE: number of random masks N; \(RISE.Options.masksBounds.accepted).") public var riseMasks = RISE.Options().masks
    @Option(parsing: .unconditional, help: "RISE: grid cells per side s; \(RISE.Options.cellsBounds.accepted), at most the image side.") public var riseCells = RISE.Options().cells
    @Option(parsing: .unconditional, help: "RISE: probability p1 that a cell is kept; \(RISE.Options.keepProbabilityBounds.accepted).")
    public var riseP = RISE.Options().keepProbability
    @Option(parsing: .unconditional, help: "RISE: masked images per forward pass; \(RISE.Options.batchSizeBounds.accepted).") public var riseBatch = RISE.Options().batchSize

    public init() {}

    static let flags = ["masks": "--rise-masks", "cells": "--rise-cells", "keep_probability": "--rise-p",
                        "batch_size": "--rise-batch"]

    public func validate() throws { _ = try options() }

    /// The library's options with these values (the seed is the shared `--seed`'s).
    public func options() throws -> RISE.Options {
        var o = RISE.Options()
        o.masks = riseMasks
        o.cells = riseCells
        o.keepProbability = riseP
        o.batchSize = riseBatch
        return try validated(Self.flags) { try o.validate(); return o }
    }
}

extension MeaningfulPerturbation.Options.Mode: ExpressibleByArgument {}

/// Meaningful Perturbation: `--mp-mode`, `--mp-iterations`, `--mp-mask-size`, `--mp-learning-rate`, `--mp-l1`, `--mp-tv`,
/// `--mp-tv-beta`, `--mp-blur-kernel-size`, `--mp-blur-sigma`, `--mp-noise`.
public struct MPOptions: ParsableArguments {
    @Option(help: "Meaningful Perturbation: reference (explain.py: 8-bit median-filtered deleted pixels, noise in the model's normalised space) or pixel (Gaussian blur, noise in [0, 1] pixels).")
    public var mpMode = MeaningfulPerturbation.Options().mode
    @Option(parsing: .unconditional, help: "Meaningful Perturbation: Adam iterations; \(MeaningfulPerturbation.Options.iterationsBounds.accepted).")
    public var mpIterations = MeaningfulPerturbation.Options().iterations
    @Option(parsing: .unconditional, help: "Meaningful Perturbation: side of the optimised mask; \(MeaningfulPerturbation.Options.maskSizeBounds.accepted), at most the image side.")
    public var mpMaskSize = MeaningfulPerturbation.Options().maskSize
    @Option(parsing: .unconditional, help: "Meaningful Perturbation: Adam learning rate; \(MeaningfulPerturbation.Options.learningRateBounds.accepted).")
    public var mpLearningRate = MeaningfulPerturbation.Options().learningRate
    @Option(parsing: .unconditional, help: "Meaningful Perturbation: weight of the L1 (area) term; \(MeaningfulPerturbation.Options.coefficientBounds.accepted).")
    public var mpL1 = MeaningfulPerturbation.Options().l1Coefficient
    @Option(parsing: .unconditional, help: "Meaningful Perturbation: weight of the total-variation term; \(MeaningfulPerturbation.Options.coefficientBounds.accepted).")
    public var mpTv = MeaningfulPerturbation.Options().tvCoefficient
    @Option(parsing: .unconditional, help: "Meaningful Perturbation: exponent β of the total variation; \(MeaningfulPerturbation.Options.tvBetaBounds.accepted).")
    public var mpTvBeta = MeaningfulPerturbation.Options().tvBeta
    @Option(parsing: .unconditional, help: "Meaningful Perturbation: blur kernel size in pixels (the median window in reference mode); an odd \(MeaningfulPerturbation.Options.blurKernelBounds.accepted.dropFirst(2)).")
    public var mpBlurKernelSize = MeaningfulPerturbation.Options().blurKernelSize
    @Option(parsing: .unconditional, help: "Meaningful Perturbation: Gaussian blur σ in pixels (pixel mode); \(MeaningfulPerturbation.Options.blurSigmaBounds.accepted).")
    public var mpBlurSigma = MeaningfulPerturbation.Options().blurSigma
    @Option(parsing: .unconditional, help: "Meaningful Perturbation: σ of the noise added at each iteration (normalised units in reference mode, pixel units in pixel mode); \(MeaningfulPerturbation.Options.noiseBounds.accepted).")
    public var mpNoise = MeaningfulPerturbation.Options().noiseStandardDeviation

    public init() {}

    static let flags = ["iterations": "--mp-iterations", "mask_size": "--mp-mask-size", "learning_rate": "--mp-learning-rate",
                        "l1_coefficient": "--mp-l1", "tv_coefficient": "--mp-tv", "tv_beta": "--mp-tv-beta",
                        "blur_kernel_size": "--mp-blur-kernel-size", "blur_sigma": "--mp-blur-sigma",
                        "noise_standard_deviation": "--mp-noise"]

    public func validate() throws { _ = try options() }

    /// The library's options with these values (the seed is the shared `--seed`'s).
    public func options() throws -> MeaningfulPerturbation.Options {
        var o = MeaningfulPerturbation.Options()
        o.mode = mpMode
        o.iterations = mpIterations
        o.maskSize = mpMaskSize
        o.learningRate = mpLearningRate
        o.l1Coefficient = mpL1
        o.tvCoefficient = mpTv
        o.tvBeta = mpTvBeta
        o.blurKernelSize = mpBlurKernelSize
        o.blurSigma = mpBlurSigma
        o.noiseStandardDeviation = mpNoise
        return try validated(Self.flags) { try o.validate(); return o }
    }
}

/// The CAM methods (Grad-CAM, Grad-CAM++, RandomCAM): `--cam-point`.
public struct CAMOptions: ParsableArguments {
    @Option(help: "CAM methods: the model's inner point to explain (default: the model's own, e.g. layer4).")
    public var camPoint: String?

    public init() {}

    public func validate() throws {
        if let camPoint, camPoint.isEmpty { throw ValidationError("--cam-point needs a point name, got ''") }
    }
}

/// `--seed`: every seeded method's seed (and, in `evaluate`, the image subset's).
public struct SeedOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Random seed of every seeded method (and of evaluate's image subset).")
    public var seed: UInt64 = 42

    public init() {}
}

/// Every method's options: the groups above together, as `explain` and `evaluate` take them.
public struct ExplainerOptions: ParsableArguments {
    @OptionGroup public var fovex: FovExOptions
    @OptionGroup public var rise: RISEOptions
    @OptionGroup public var mp: MPOptions
    @OptionGroup public var cam: CAMOptions
    @OptionGroup public var seed: SeedOptions

    public init() {}

    /// The registry's options with every value of the command line.
    public func registryOptions() throws -> ExplainerRegistry.Options {
        var options = ExplainerRegistry.Options()
        options.fovex = try fovex.options()
        options.rise = try rise.options()
        options.meaningfulPerturbation = try mp.options()
        options.setCAMPoint(cam.camPoint)
        options.setSeed(seed.seed)
        return options
    }
}
