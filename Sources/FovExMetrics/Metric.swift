import FovExModels
import FovExTensor

/// Which way a metric improves.
public enum MetricDirection: String, Sendable, Codable {
    case higherIsBetter, lowerIsBetter

    /// ↑ or ↓, as the paper's tables mark metrics.
    public var arrow: String { self == .higherIsBetter ? "↑" : "↓" }
}

/// One metric value for one image, with its per-step curve where the metric has one and any
/// warnings about the input (NaN or constant maps).
public struct MetricResult: Sendable, Equatable {
    public var value: Double
    public var curve: [Double]?
    public var warnings: [String]

    public init(value: Double, curve: [Double]? = nil, warnings: [String] = []) {
        self.value = value
        self.curve = curve
        self.warnings = warnings
    }
}

/// What every metric tells about itself.
public protocol MetricDescription {
    /// Short name used in tables and files (`average_drop`, `deletion`, `nss`, …).
    var name: String { get }
    var direction: MetricDirection { get }
    /// Option values as name → value strings, for reports.
    var options: [String: String] { get }
}

/// A faithfulness metric: it runs the model on modified images.
public protocol ModelMetric: MetricDescription {
    /// Scores maps for a batch. `pixels` [N, 3, S, S] in [0, 1]; `maps` [N, S, S] in [0, 1];
    /// `classes` the class explained per image.
    func evaluate(model: ImageClassifier, pixels: Tensor, maps: Tensor, classes: [Int]) -> [MetricResult]
}

/// A localisation metric: a map against ground-truth boxes.
public protocol BoxMetric: MetricDescription {
    /// `map` [H, W] in [0, 1]; `boxes` in pixels of the same H×W grid.
    func evaluate(map: Tensor, boxes: [BoxRegion]) -> MetricResult
}

/// A gaze metric: a map against human fixations on the same image.
public protocol GazeMetric: MetricDescription {
    /// `map` [H, W] at the image's own size; `fixations` the distinct fixated pixels of this image;
    /// `otherFixations` fixated pixels of other images (used only by shuffled AUC as negatives).
    func evaluate(map: Tensor, fixations: [PixelPoint], otherFixations: [PixelPoint]) -> MetricResult
}

/// A pixel position (column x, row y), 0-based.
public struct PixelPoint: Sendable, Hashable, Codable {
    public var x: Int
    public var y: Int
    public init(x: Int, y: Int) { self.x = x; self.y = y }
}

/// An axis-aligned box in (fractional) pixel coordinates; x1, y1 exclusive.
public struct BoxRegion: Sendable, Equatable, Codable {
    public var x0, y0, x1, y1: Float
    public init(x0: Float, y0: Float, x1: Float, y1: Float) { self.x0 = x0; self.y0 = y0; self.x1 = x1; self.y1 = y1 }

    /// The box in a grid scaled by (sx, sy), e.g. from the stored image to the model's input.
    public func scaled(x sx: Float, y sy: Float) -> BoxRegion {
        BoxRegion(x0: x0 * sx, y0: y0 * sy, x1: x1 * sx, y1: y1 * sy)
    }
}

/// Map hygiene shared by the metrics: NaN values are read as 0, and a constant map is reported.
enum MapCheck {
    /// The map's values with NaN replaced by 0, and warnings.
    static func cleaned(_ map: Tensor, metric: String) -> (values: [Float], warnings: [String], constant: Bool) {
        var v = map.contiguous().scalars
        var warnings: [String] = []
        let nans = v.reduce(0) { $0 + ($1.isNaN ? 1 : 0) }
        if nans > 0 {
            warnings.append("\(metric): the map has \(nans) NaN values; they count as 0")
            for i in v.indices where v[i].isNaN { v[i] = 0 }
        }
        let lo = v.min() ?? 0, hi = v.max() ?? 0
        let constant = !(hi > lo)
        if constant { warnings.append("\(metric): the map is constant (\(lo))") }
        return (v, warnings, constant)
    }
}
