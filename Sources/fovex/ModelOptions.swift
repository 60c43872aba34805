import ArgumentParser
import Foundation
import FovExModels

/// `--model NAME [--weights FILE] [--random-weights SEED]`, shared by every command that runs a model.
struct ModelOptions: ParsableArguments {
    @Option(help: "Model name (see `fovex models list`).") var model: String
    @Option(help: "Load weights from this checkpoint file instead of the cache.") var weights: String?
    @Option(help: "Use random weights drawn from this seed (for timing and tests).") var randomWeights: UInt64?

    func load() throws -> any ImageClassifier {
        if let seed = randomWeights { return try ModelRegistry.randomModel(model, seed: seed) }
        if let weights { return try ModelRegistry.model(model, weightsFile: URL(fileURLWithPath: weights)) }
        return try ModelRegistry.cachedModel(model)
    }
}
