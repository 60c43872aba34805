import ArgumentParser
import Foundation
import FovExModels
import FovExWeights
import FovExONNX
import FovExTensor

/// `--model NAME|FILE.onnx [--weights FILE | --random-weights SEED] [--precision fp32|bf16|bf16-backward]`, shared by every
/// command that runs a model, with the preprocessing options an ONNX file needs.
public struct ModelOptions: ParsableArguments {
    @Option(help: "Model name (see `fovex models list`) or an ONNX file (FILE.onnx).") public var model: String
    @Option(help: "Load weights from this checkpoint file instead of the cache.") public var weights: String?
    @Option(parsing: .unconditional, help: "Use random weights drawn from this seed (for timing and tests); not with --weights.")
    public var randomWeights: UInt64?
    @OptionGroup public var onnx: ONNXModelOptions
    @OptionGroup public var precisionOptions: PrecisionOptions

    /// Whether `--model` names an ONNX file rather than a built-in architecture.
    public var isONNX: Bool { model.lowercased().hasSuffix(".onnx") }

    public init() {}

    public func validate() throws {
        // Either source alone decides the weights; both at once would silently drop one of them.
        if weights != nil && randomWeights != nil {
            throw ValidationError("--weights and --random-weights contradict each other: give one of them")
        }
        if let weights, weights.isEmpty { throw ValidationError("--weights needs a file name, got ''") }
        // An ONNX file holds its weights, and built-in models know their preprocessing and classes.
        if isONNX && (weights != nil || randomWeights != nil) {
            throw ValidationError("--weights and --random-weights do not apply to an ONNX file: it carries its weights")
        }
        if !isONNX && onnx.isUsed {
            throw ValidationError("--input-size, --resize, --crop, --interpolation, --preprocess, --mean, --std and --labels apply to ONNX models (--model FILE.onnx) only")
        }
    }

    /// The model with the weights asked for (random, from a file, or from the cache), set to `--precision`.
    public func load() throws -> any ImageClassifier {
        let loaded: any ImageClassifier
        if isONNX { loaded = try onnx.load(model) }
        else if let seed = randomWeights { loaded = try ModelRegistry.randomModel(model, seed: seed) }
        else if let weights { loaded = try ModelRegistry.model(model, weightsFile: URL(fileURLWithPath: weights)) }
        else { loaded = try ModelRegistry.cachedModel(model) }
        try ModelRegistry.setPrecision(precisionOptions.precision, of: loaded)
        return loaded
    }
}
