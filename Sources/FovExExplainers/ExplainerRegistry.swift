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
        /// Grad-CAM's options.
        public var gradCAM = GradCAM.Options()
        /// Grad-CAM++'s options.
        public var gradCAMPlusPlus = GradCAMPlusPlus.Options()
        /// RandomCAM's options.
        public var randomCAM = RandomCAM.Options()
        /// RISE's options.
        public var rise = RISE.Options()
        /// Meaningful Perturbation's options.
        public var meaningfulPerturbation = MeaningfulPerturbation.Options()
        /// FovEx's options.
        public var fovex = FovEx.Options()
        public var centre = CentreBiasMap.Options()
        /// Progress of the long-running methods (RISE, Meaningful Perturbation): (method, done, total).
        public var progress: ((_ method: String, _ done: Int, _ total: Int) -> Void)?

        /// Every method's defaults.
        public init() {}

        /// Sets the inner point of all three CAM methods (nil: each model's default).
        public mutating func setCAMPoint(_ point: String?) {
            gradCAM.point = point
            gradCAMPlusPlus.point = point
            randomCAM.point = point
        }

        /// Sets the seed of every seeded method.
        public mutating func setSeed(_ seed: UInt64) {
            randomCAM.weighting.seed = seed
            rise.seed = seed
            meaningfulPerturbation.seed = seed
            fovex.seed = seed
        }
    }

    /// What a method needs of the model it explains.
    public enum Requirement: Sendable {
        /// Any `ImageClassifier`.
        case anyClassifier
        /// A Vision Transformer's attention probabilities (a `TokenClassifier`).
        case tokenClassifier
        /// A Vision Transformer's attention probabilities and a head that reads one token, projectable onto the
        /// classes token by token.
        case tokenProjection

        func isMet(by model: ImageClassifier) -> Bool {
            switch self {
            case .anyClassifier: return true
            case .tokenClassifier: return model.usableTokenClassifier != nil
            case .tokenProjection: return model.projectableTokenClassifier != nil
            }
        }
    }

    /// One method: its name, what it needs of the model, and how it is built from the options.
    public struct Entry: Sendable {
        /// The name the method is asked for by (`gradcam`, `fovex`, …).
        public var name: String
        /// What the method needs of the model.
        public var requirement: Requirement
        /// Whether the method's map ignores the image (`uniform`, `centre`): a calibration row, asked for
        /// by name only (`all` leaves it out) and not ranked against the explainers in reports.
        public var ignoresImage = false
        /// Builds the method; throws ``InvalidOptionError`` for options out of range.
        public var make: @Sendable (Options) throws -> Explainer

        public init(name: String, requirement: Requirement, ignoresImage: Bool = false,
                    make: @escaping @Sendable (Options) throws -> Explainer) {
            self.name = name
            self.requirement = requirement
            self.ignoresImage = ignoresImage
            self.make = make
        }
    }

    /// Every method, in the order `all` lists them: the one list of method names.
    public static let entries: [Entry] = [
        Entry(name: GradCAMWeights.methodName, requirement: .anyClassifier) { try GradCAM(options: $0.gradCAM) },
        Entry(name: GradCAMPlusPlusWeights.methodName, requirement: .anyClassifier) {
            try GradCAMPlusPlus(options: $0.gradCAMPlusPlus)
        },
        Entry(name: RandomCAMWeights.methodName, requirement: .anyClassifier) { try RandomCAM(options: $0.randomCAM) },
        Entry(name: "rise", requirement: .anyClassifier) { o in
            try RISE(options: o.rise, progress: o.progress.map { p in { p("rise", $0, $1) } })
        },
        Entry(name: "mp", requirement: .anyClassifier) { o in
            try MeaningfulPerturbation(options: o.meaningfulPerturbation, progress: o.progress.map { p in { p("mp", $0, $1) } })
        },
        Entry(name: "gae", requirement: .tokenClassifier) { _ in GenericAttention() },
        Entry(name: "clsemb", requirement: .tokenProjection) { _ in ClassEmbeddingProjection() },
        Entry(name: "fovex", requirement: .anyClassifier) { try FovEx(options: $0.fovex) },
        // Maps that ignore the image, to calibrate a table (not in `all`).
        Entry(name: "uniform", requirement: .anyClassifier, ignoresImage: true) { _ in UniformMap() },
        Entry(name: "centre", requirement: .anyClassifier, ignoresImage: true) { try CentreBiasMap(options: $0.centre) },
    ]

    /// All method names, in the order `all` lists them.
    public static var names: [String] { entries.map(\.name) }

    /// The calibration rows: methods whose maps ignore the image.
    public static var imageIndependentNames: Set<String> { Set(entries.filter(\.ignoresImage).map(\.name)) }

    /// Methods that need a Vision Transformer's attention (a `TokenClassifier`).
    public static var tokenOnlyNames: Set<String> { Set(entries.filter { $0.requirement != .anyClassifier }.map(\.name)) }

    /// The methods that can explain `model`, in ``names`` order.
    public static func names(validFor model: ImageClassifier) -> [String] {
        entries.filter { $0.requirement.isMet(by: model) }.map(\.name)
    }

    /// The methods `all` gives for `model`: those that can explain it, without the image-independent baselines.
    public static func allNames(for model: ImageClassifier) -> [String] {
        entries.filter { !$0.ignoresImage && $0.requirement.isMet(by: model) }.map(\.name)
    }

    /// The method called `name` (case-insensitive) with its options from `options`.
    ///
    /// - Throws: ``ExplainerError/badInput(_:)`` for an unknown name,
    ///   ``ExplainerError/unsupportedModel(method:reason:)`` for a method that needs more of the model
    ///   (GAE or class-embedding projection asked of a model that is not a `TokenClassifier`), and
    ///   ``InvalidOptionError`` for its options out of range.
    public static func explainer(named name: String, for model: ImageClassifier, options: Options = Options()) throws -> Explainer {
        let key = name.lowercased()
        guard let entry = entries.first(where: { $0.name == key }) else {
            throw ExplainerError.badInput("unknown method '\(name)'; known methods: \(names.joined(separator: ", ")), or all")
        }
        guard entry.requirement.isMet(by: model) else {
            if let problem = (model as? TokenClassifier)?.tokenSurfaceProblem {
                throw ExplainerError.unsupportedModel(
                    method: key, reason: "it needs a Vision Transformer's attention probabilities and class token, and "
                        + "the model has none: \(problem) (methods for it: \(names(validFor: model).joined(separator: ", ")))")
            }
            if let problem = (model as? TokenClassifier)?.tokenProjectionProblem {
                throw ExplainerError.unsupportedModel(
                    method: key, reason: "it needs the head's read-out of single tokens: \(problem) (methods for it: "
                        + "\(names(validFor: model).joined(separator: ", ")))")
            }
            throw ExplainerError.unsupportedModel(
                method: key, reason: "it needs a Vision Transformer's attention probabilities, and "
                    + "\(model.identity.architecture) is not a token model (methods for it: "
                    + "\(names(validFor: model).joined(separator: ", ")))")
        }
        return try entry.make(options)
    }

    /// The methods in a comma-separated `list` (`all`: every method valid for `model` except `uniform`
    /// and `centre`), without repeats.
    public static func explainers(_ list: String, for model: ImageClassifier, options: Options = Options()) throws -> [Explainer] {
        var chosen: [String] = []
        for item in list.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) where !item.isEmpty {
            for n in item == "all" ? allNames(for: model) : [item] where !chosen.contains(n) { chosen.append(n) }
        }
        guard !chosen.isEmpty else { throw ExplainerError.badInput("no method given; known methods: \(names.joined(separator: ", ")), or all") }
        return try chosen.map { try explainer(named: $0, for: model, options: options) }
    }
}
