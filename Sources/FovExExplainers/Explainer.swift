import FovExModels
import FovExTensor

/// One fixation of a FovEx scanpath.
public struct Fixation: Sendable, Codable, Equatable {
    /// Position in normalised units: the model input's pixel grid spans −1…1 on each axis
    /// (pixel centre i at −1 + 2i/(S−1)); positions may lie outside that range.
    public var row: Float
    public var col: Float
    /// Cross-entropy of the class explained with this fixation applied (the best loss found).
    public var loss: Float

    public init(row: Float, col: Float, loss: Float) {
        self.row = row
        self.col = col
        self.loss = loss
    }

    /// The fixation in pixels of the model input (S×S): pixel centre i sits at −1 + 2i/(S−1).
    public func inputPixel(size: Int) -> (x: Float, y: Float) {
        ((col + 1) / 2 * Float(size - 1), (row + 1) / 2 * Float(size - 1))
    }

    /// The fixation in pixels of an original `width`×`height` image that was resized straight onto
    /// the S×S input (align_corners = false: input pixel i covers original [i·W/S, (i+1)·W/S)).
    public func pixel(width: Int, height: Int, inputSize size: Int) -> (x: Float, y: Float) {
        let p = inputPixel(size: size)
        return ((p.x + 0.5) * Float(width) / Float(size) - 0.5, (p.y + 0.5) * Float(height) / Float(size) - 0.5)
    }
}

/// An attribution map for one image, with what produced it.
public struct Explanation: Sendable {
    /// The method's name, e.g. `fovex`, `gradcam`.
    public var method: String
    /// [S, S] at the model's input size, min-max normalised to [0, 1].
    public var map: Tensor
    /// The class explained and its softmax probability on the clean image.
    public var classIndex: Int
    public var probability: Float
    /// FovEx's scanpath in order; empty for other methods.
    public var scanpath: [Fixation]
    /// Every option value the method used, by name.
    public var settings: [String: String]

    public init(method: String, map: Tensor, classIndex: Int, probability: Float, scanpath: [Fixation] = [],
                settings: [String: String]) {
        self.method = method
        self.map = map
        self.classIndex = classIndex
        self.probability = probability
        self.scanpath = scanpath
        self.settings = settings
    }
}

public enum ExplainerError: Error, CustomStringConvertible {
    case unsupportedModel(method: String, reason: String)
    case unknownPoint(String, available: [String])
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
    /// The class to explain per image and its probability on the clean image.
    static func targets(_ pixels: Tensor, model: ImageClassifier, classes: [Int]?) throws -> (classes: [Int], probabilities: [Float]) {
        let n = pixels.shape[0]
        if let classes, classes.count != n {
            throw ExplainerError.badInput("\(classes.count) classes given for \(n) images")
        }
        let probs = model.probabilities(pixels)
        let k = probs.shape[1]
        let chosen = classes ?? probs.argmax(alongAxis: 1)
        for c in chosen where c < 0 || c >= k {
            throw ExplainerError.badInput("class \(c) is out of range 0..<\(k)")
        }
        return (chosen, chosen.enumerated().map { probs[$0.offset, $0.element] })
    }

    /// Per-image min-max normalisation of [N, H, W] maps to [0, 1]; a constant map becomes zeros.
    static func minMaxNormalized(_ maps: Tensor) -> Tensor {
        let n = maps.shape[0]
        let lo = maps.reshaped([n, -1]).min(alongAxes: [1]).reshaped([n, 1, 1])
        let hi = maps.reshaped([n, -1]).max(alongAxes: [1]).reshaped([n, 1, 1])
        let range = Tensor.maximum(hi - lo, Tensor(Float.leastNormalMagnitude))
        return (maps - lo) / range
    }
}
