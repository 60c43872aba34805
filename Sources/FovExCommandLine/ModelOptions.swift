import ArgumentParser
import Foundation
import FovExModels
import FovExWeights

/// `--model NAME [--weights FILE | --random-weights SEED]`, shared by every command that runs a model.
public struct ModelOptions: ParsableArguments {
    @Option(help: "Model name (see `fovex models list`).") public var model: String
    @Option(help: "Load weights from this checkpoint file instead of the cache.") public var weights: String?
    @Option(parsing: .unconditional, help: "Use random weights drawn from this seed (for timing and tests); not with --weights.")
    public var randomWeights: UInt64?

    public init() {}

    public func validate() throws {
        // Either source alone decides the weights; both at once would silently drop one of them.
        if weights != nil && randomWeights != nil {
            throw ValidationError("--weights and --random-weights contradict each other: give one of them")
        }
        if let weights, weights.isEmpty { throw ValidationError("--weights needs a file name, got ''") }
    }

    /// The model with the weights asked for: random, from a file, or from the cache.
    public func load() throws -> any ImageClassifier {
        if let seed = randomWeights { return try ModelRegistry.randomModel(model, seed: seed) }
        if let weights { return try ModelRegistry.model(model, weightsFile: URL(fileURLWithPath: weights)) }
        return try ModelRegistry.cachedModel(model)
    }
}
