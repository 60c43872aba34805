import FovExModels
import FovExTensor

/// Which way a metric improves.
public enum MetricDirection: String, Sendable, Codable {
    case higherIsBetter, lowerIsBetter

    /// ↑ or ↓, as the paper's tables mark metrics.
    public var arrow: String { self == .higherIsBetter ? "↑" : "↓" }
}

/// One metric value for one image, with its per-step curve where the metric has one.
///
/// Metrics never print and never trap on odd maps: a NaN or constant map, a fixation outside the
/// image or a map without energy gets the defined value each metric documents, and the reason is
/// returned in `warnings` for the caller's warning sink (the evaluation harness passes them to its
/// `warn` closure, tagged with the image and method).
public struct MetricResult: Sendable, Equatable {
    /// The per-image value; NaN only where the metric is undefined for the image (no fixations).
    public var value: Double
    /// Scores s₀…sₙ for deletion and insertion; nil for the other metrics.
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
    /// Scores maps for a batch, one result per image. `pixels` [N, 3, S, S] in [0, 1]; `maps`
    /// [N, h, w] with values in [0, 1], resized (bilinear) to S×S when h×w differs; `classes` the
    /// class explained per image.
    func evaluate(model: ImageClassifier, pixels: Tensor, maps: Tensor, classes: [Int]) -> [MetricResult]
}

/// A localisation metric: a map against ground-truth boxes.
public protocol BoxMetric: MetricDescription {
    /// `map` [H, W]; `boxes` in pixels of the same H×W grid (see ``BoxRegion/scaled(x:y:)``).
    func evaluate(map: Tensor, boxes: [BoxRegion]) -> MetricResult
}

/// A gaze metric: a map against human fixations on the same image.
public protocol GazeMetric: MetricDescription {
    /// `map` [H, W] at the image's own size (``evaluate(map:imageHeight:imageWidth:fixations:otherFixations:)``
    /// resizes one that is not); `fixations` the pixels fixated on this image, pooled over
    /// observers (repeats count once; points outside the map are dropped with a warning);
    /// `otherFixations` pixels fixated on other images, already in this image's grid (used only by
    /// shuffled AUC, as negatives).
    func evaluate(map: Tensor, fixations: [PixelPoint], otherFixations: [PixelPoint]) -> MetricResult
}

extension GazeMetric {
    /// Scores a map of any size against fixations on an `imageHeight`×`imageWidth` image: the map is
    /// first resized to the image's size (bilinear, half-pixel centres as PyTorch's
    /// `align_corners=False`, no antialiasing), as the metric definitions require.
    public func evaluate(map: Tensor, imageHeight: Int, imageWidth: Int, fixations: [PixelPoint],
                         otherFixations: [PixelPoint]) -> MetricResult {
        // NaN is cleared before resizing so that it cannot spread to its neighbours; the constant-map
        // check stays with the metric (resizing keeps a constant map constant).
        let (values, warnings) = MapCheck.withoutNaN(map.contiguous().scalars, metric: name)
        let resized = MapCheck.resized(values, from: (map.shape[0], map.shape[1]), to: (imageHeight, imageWidth))
        var result = evaluate(map: Tensor(shape: [imageHeight, imageWidth], scalars: resized), fixations: fixations,
                              otherFixations: otherFixations)
        result.warnings = warnings + result.warnings
        return result
    }
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
