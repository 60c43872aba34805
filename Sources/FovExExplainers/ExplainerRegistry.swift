import Foundation
import FovExModels
import FovExTensor

/// Every attribution method by name, built with its options.
///
///     let explainers = try ExplainerRegistry.explainers("gradcam,rise", for: model)
///     let every = try ExplainerRegistry.explainers("all", for: vit)   // GAE and clsemb included
public enum ExplainerRegistry {
    /// The options of every method, each defaulting to the project's settings.
    public struct Options {
        public var gradCAM = GradCAM.Options()
        public var gradCAMPlusPlus = GradCAMPlusPlus.Options()
        public var randomCAM = RandomCAM.Options()
        public var rise = RISE.Options()
        public var meaningfulPerturbation = MeaningfulPerturbation.Options()
        public var fovex = FovEx.Options()
        /// Progress of the long-running methods (RISE, Meaningful Perturbation): (method, done, total).
        public var progress: ((_ method: String, _ done: Int, _ total: Int) -> Void)?

        public init() {}

        /// Sets the inner point of all three CAM methods (nil: each model's default).
        public mutating func setCAMPoint(_ point: String?) {
            gradCAM.point = point
            gradCAMPlusPlus.point = point
            randomCAM.point = point
        }

        /// Sets the seed of every seeded method.
        public mutating func setSeed(_ seed: UInt64) {
            randomCAM.seed = seed
            rise.seed = seed
            meaningfulPerturbation.seed = seed
            fovex.seed = seed
        }
    }

    /// All method names, in the order `all` lists them.
    public static let names = ["gradcam", "gradcam++", "randomcam", "rise", "mp", "gae", "clsemb", "fovex"]

    /// Methods that need a Vision Transformer's attention (a ``TokenClassifier``).
    public static let tokenOnlyNames: Set<String> = ["gae", "clsemb"]

    /// The methods that can explain `model`, in ``names`` order.
    public static func names(validFor model: ImageClassifier) -> [String] {
        model is TokenClassifier ? names : names.filter { !tokenOnlyNames.contains($0) }
    }

    /// The method called `name` (case-insensitive) with its options from `options`.
    ///
    /// - Throws: ``ExplainerError/badInput(_:)`` for an unknown name, and
    ///   ``ExplainerError/unsupportedModel(method:reason:)`` for GAE or class-embedding projection
    ///   asked of a model that is not a ``TokenClassifier``.
    public static func explainer(named name: String, for model: ImageClassifier, options: Options = Options()) throws -> Explainer {
        let key = name.lowercased()
        if tokenOnlyNames.contains(key) && !(model is TokenClassifier) {
            throw ExplainerError.unsupportedModel(
                method: key, reason: "it needs a Vision Transformer's attention probabilities, and "
                    + "\(model.identity.architecture) is not a token model (methods for it: "
                    + "\(names(validFor: model).joined(separator: ", ")))")
        }
        let progress = options.progress
        switch key {
        case "gradcam": return GradCAM(options: options.gradCAM)
        case "gradcam++": return GradCAMPlusPlus(options: options.gradCAMPlusPlus)
        case "randomcam": return RandomCAM(options: options.randomCAM)
        case "rise": return RISE(options: options.rise, progress: progress.map { p in { p("rise", $0, $1) } })
        case "mp": return MeaningfulPerturbation(options: options.meaningfulPerturbation,
                                                 progress: progress.map { p in { p("mp", $0, $1) } })
        case "gae": return GenericAttention()
        case "clsemb": return ClassEmbeddingProjection()
        case "fovex": return FovEx(options: options.fovex)
        default:
            throw ExplainerError.badInput("unknown method '\(name)'; known methods: \(names.joined(separator: ", ")), or all")
        }
    }

    /// The methods in a comma-separated `list` (`all`: every method valid for `model`), without repeats.
    public static func explainers(_ list: String, for model: ImageClassifier, options: Options = Options()) throws -> [Explainer] {
        var chosen: [String] = []
        for item in list.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) where !item.isEmpty {
            for n in item == "all" ? names(validFor: model) : [item] where !chosen.contains(n) { chosen.append(n) }
        }
        guard !chosen.isEmpty else { throw ExplainerError.badInput("no method given; known methods: \(names.joined(separator: ", ")), or all") }
        return try chosen.map { try explainer(named: $0, for: model, options: options) }
    }
}
