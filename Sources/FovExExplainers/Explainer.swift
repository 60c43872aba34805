import FovExModels
import FovExTensor

/// Something a method found beyond its map (FovEx's scanpath, for one), carried by an
/// ``Explanation`` for the writers that know how to show it.
public protocol ExplanationAttachment: Sendable {}

/// An attribution map for one image, with what produced it.
public struct Explanation: Sendable {
    /// The method's name, e.g. `fovex`, `gradcam`.
    public var method: String
    /// [S, S] at the model's input size, min-max normalised to [0, 1].
    public var map: Tensor
    /// The class explained.
    public var classIndex: Int
    /// The class's softmax probability on the clean image.
    public var probability: Float
    /// Every option value the method used, by name.
    public var settings: [String: String]
    /// Method-specific results (e.g. a ``Scanpath``); empty for most methods.
    public var attachments: [any ExplanationAttachment]

    /// An explanation; explainers build these, and tests or other methods may too.
    public init(method: String, map: Tensor, classIndex: Int, probability: Float, settings: [String: String],
                attachments: [any ExplanationAttachment] = []) {
        self.method = method
        self.map = map
        self.classIndex = classIndex
        self.probability = probability
        self.settings = settings
        self.attachments = attachments
    }

    /// The first attachment of type `type`, if the method attached one.
    public func attachment<T: ExplanationAttachment>(_ type: T.Type) -> T? {
        attachments.lazy.compactMap { $0 as? T }.first
    }
}

/// Why a method could not explain the images it was given; each message says what is possible instead.
public enum ExplainerError: Error, CustomStringConvertible {
    /// The method needs more of the model than it offers (GAE asked of a CNN, for one); `reason` names
    /// the methods that can explain it.
    case unsupportedModel(method: String, reason: String)
    /// A CAM method was asked for an inner point the model does not name; `available` lists those it does.
    case unknownPoint(String, available: [String])
    /// The images, classes or method name given cannot be used; the message says why.
    case badInput(String)

    public var description: String {
        switch self {
        case let .unsupportedModel(m, r): return "\(m) cannot explain this model: \(r)"
        case let .unknownPoint(p, a): return "the model has no inner point named '\(p)'; it has: \(a.joined(separator: ", "))"
        case let .badInput(s): return s
        }
    }
}

/// An attribution method: one verb, for a batch of images.
public protocol Explainer {
    /// The method's short name (`fovex`, `gradcam`, …).
    var name: String { get }

    /// Explains `pixels` ([N, 3, S, S] in [0, 1]) for the given classes, or for each image's top-1
    /// prediction when `classes` is nil.
    func explain(_ pixels: Tensor, model: ImageClassifier, classes: [Int]?) throws -> [Explanation]

    /// The method's options as name → value strings, for run records; empty for methods without any.
    var settings: [String: String] { get }
}

extension Explainer {
    public var settings: [String: String] { [:] }
}

/// Helpers shared by explainers.
enum ExplainerSupport {
    /// Per-image min-max normalisation of [N, H, W] maps to [0, 1]; a constant map becomes zeros.
    static func minMaxNormalized(_ maps: Tensor) -> Tensor {
        let n = maps.shape[0]
        let lo = maps.reshaped([n, -1]).min(alongAxes: [1]).reshaped([n, 1, 1])
        let hi = maps.reshaped([n, -1]).max(alongAxes: [1]).reshaped([n, 1, 1])
        let range = Tensor.maximum(hi - lo, Tensor(Float.leastNormalMagnitude))
        return (maps - lo) / range
    }
}
