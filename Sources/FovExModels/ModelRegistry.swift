import Foundation
import FovExCheckpoints
import FovExTensor

/// A model name the registry does not know.
public struct UnknownModelError: Error, CustomStringConvertible {
    /// The name that was asked for.
    public var name: String

    public var description: String {
        "unknown model '\(name)'; known models: \(ModelRegistry.names.joined(separator: ", "))"
    }
}

/// The built-in architectures by name, built with random weights (for tests and benchmarks) or with
/// weights from a checkpoint.
///
///     let model = try ModelRegistry.model("efficientnet-lite0", weightsFile: url)
///     let random = try ModelRegistry.randomModel("resnet50", seed: 1)
public enum ModelRegistry {
    /// One architecture: its parameter list and how to build it from matching weights.
    public struct Architecture {
        /// The name the registry knows it by (`resnet50`, `vit-b16`, …).
        public let name: String
        /// Every tensor a checkpoint for it holds, in the reference implementation's order.
        public let parameters: [ParameterSpec]
        /// The preprocessing its checkpoints were trained with.
        public let preprocessing: Preprocessing
        let build: (ModelWeights, ModelIdentity) -> any ImageClassifier
    }

    /// All architecture names, in the order `fovex models list` shows them.
    public static let names = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
                               "vit-ti16", "vit-s16", "vit-b16", "vit-l16",
                               "efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2",
                               "efficientnet-lite3", "efficientnet-lite4"]

    /// The architecture called `name`.
    public static func architecture(_ name: String) throws -> Architecture {
        let resnets: [String: ResNet.Configuration] = [
            "resnet18": .resnet18, "resnet34": .resnet34, "resnet50": .resnet50, "resnet101": .resnet101,
            "resnet152": .resnet152,
        ]
        let vits: [String: VisionTransformer.Configuration] = [
            "vit-ti16": .tiny, "vit-s16": .small, "vit-b16": .base, "vit-l16": .large,
        ]
        let lites: [String: EfficientNetLite.Configuration] = [
            "efficientnet-lite0": .lite0, "efficientnet-lite1": .lite1, "efficientnet-lite2": .lite2,
            "efficientnet-lite3": .lite3, "efficientnet-lite4": .lite4,
        ]
        if let c = resnets[name] {
            return Architecture(name: name, parameters: ResNet.parameters(c), preprocessing: ResNet.imageNetPreprocessing) {
                ResNet(c, weights: $0, identity: $1)
            }
        }
        if let c = vits[name] {
            return Architecture(name: name, parameters: VisionTransformer.parameters(c),
                                preprocessing: VisionTransformer.defaultPreprocessing) {
                VisionTransformer(c, weights: $0, identity: $1)
            }
        }
        if let c = lites[name] {
            return Architecture(name: name, parameters: EfficientNetLite.parameters(c), preprocessing: c.preprocessing) {
                EfficientNetLite(c, weights: $0, identity: $1)
            }
        }
        throw UnknownModelError(name: name)
    }

    /// The model `name` with weights drawn from `seed` (see ``ModelWeights/init(random:seed:)``).
    public static func randomModel(_ name: String, seed: UInt64) throws -> any ImageClassifier {
        let arch = try architecture(name)
        let weights = ModelWeights(random: arch.parameters, seed: seed)
        return arch.build(weights, ModelIdentity(architecture: name, weights: weights.source))
    }

    /// The model `name` with weights from a checkpoint already read.
    ///
    /// - Throws: ``WeightMismatchError`` when the checkpoint does not fit the architecture.
    public static func model(_ name: String, checkpoint: Checkpoint, source: String,
                             sha256: String? = nil) throws -> any ImageClassifier {
        let arch = try architecture(name)
        let weights = try ModelWeights(checkpoint: checkpoint, expecting: arch.parameters, architecture: name, source: source)
        return arch.build(weights, ModelIdentity(architecture: name, weights: source, weightsSHA256: sha256))
    }
}
