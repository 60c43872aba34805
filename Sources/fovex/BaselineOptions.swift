import ArgumentParser
import FovExExplainers

/// The baselines' options shared by `fovex explain` and `fovex evaluate`, each defaulting to the
/// specification's value.
struct BaselineOptions: ParsableArguments {
    @Option(help: "RISE: number of random masks N.") var riseMasks = RISE.Options().masks
    @Option(help: "RISE: grid cells per side s.") var riseCells = RISE.Options().cells
    @Option(help: "RISE: probability p1 that a cell is kept.") var riseP = RISE.Options().keepProbability
    @Option(help: "RISE: masked images per forward pass.") var riseBatch = RISE.Options().batchSize
    @Option(help: "Meaningful Perturbation: Adam iterations.") var mpIterations = MeaningfulPerturbation.Options().iterations
    @Option(help: "Meaningful Perturbation: side of the optimised mask.") var mpMaskSize = MeaningfulPerturbation.Options().maskSize
    @Option(help: "Meaningful Perturbation: Adam learning rate.") var mpLearningRate = MeaningfulPerturbation.Options().learningRate
    @Option(help: "Meaningful Perturbation: weight of the L1 (area) term.") var mpL1 = MeaningfulPerturbation.Options().l1Coefficient
    @Option(help: "Meaningful Perturbation: weight of the total-variation term.") var mpTv = MeaningfulPerturbation.Options().tvCoefficient

    func validate() throws {
        guard riseMasks > 0, riseCells > 0, riseBatch > 0, riseP > 0, riseP <= 1 else {
            throw ValidationError("RISE needs positive --rise-masks, --rise-cells and --rise-batch, and 0 < --rise-p ≤ 1")
        }
        guard mpIterations > 0, mpMaskSize > 0, mpLearningRate > 0, mpL1 >= 0, mpTv >= 0 else {
            throw ValidationError("Meaningful Perturbation needs positive --mp-iterations, --mp-mask-size and "
                                  + "--mp-learning-rate, and non-negative --mp-l1 and --mp-tv")
        }
    }

    /// Writes these values into the registry's options.
    func apply(to options: inout ExplainerRegistry.Options) {
        options.rise.masks = riseMasks
        options.rise.cells = riseCells
        options.rise.keepProbability = riseP
        options.rise.batchSize = riseBatch
        options.meaningfulPerturbation.iterations = mpIterations
        options.meaningfulPerturbation.maskSize = mpMaskSize
        options.meaningfulPerturbation.learningRate = mpLearningRate
        options.meaningfulPerturbation.l1Coefficient = mpL1
        options.meaningfulPerturbation.tvCoefficient = mpTv
    }
}
