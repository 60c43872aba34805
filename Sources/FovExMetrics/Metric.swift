import FovExModels
import FovExTensor

/// Which way a metric improves.
public enum MetricDirection: String, Sendable, Codable {
    /// Larger values mean a better map (↑).
    case higherIsBetter
    /// Smaller values mean a better map (↓).
    case lowerIsBetter

    /// ↑ or ↓, as the paper's tables mark metrics.
    public var arrow: String { self == .higherIsBetter ? "↑" : "↓" }
}

/// What a metric reads from a sample besides the map and the class it explains.
///
/// A data set declares what its samples carry with the same set, so that a run that asks for a
/// metric its data cannot feed is refused before any work (``MetricNeeds/missing(from:)``).
public struct MetricNeeds: OptionSet, Sendable, Hashable {
    /// The set's bits.
    public let rawValue: Int
    /// The set with these bits.
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// The classifier, run again on modified images (faithfulness metrics).
    public static let model = MetricNeeds(rawValue: 1 << 0)
    /// Ground-truth boxes of the explained class.
    public static let boxes = MetricNeeds(rawValue: 1 << 1)
    /// Human fixations on the image, pooled over observers.
    public static let fixations = MetricNeeds(rawValue: 1 << 2)
    /// Fixations recorded on the data set's other images (shuffled AUC's negatives).
    public static let otherImagesFixations = MetricNeeds(rawValue: 1 << 3)
    /// Each observer's fixations in viewing order, with durations where recorded (scanpath metrics).
    public static let observerScanpaths = MetricNeeds(rawValue: 1 << 4)

    /// The needs in words, for messages: "ground-truth boxes, human fixations".
    public var summary: String {
        let words: [(MetricNeeds, String)] = [
            (.model, "the model"), (.boxes, "ground-truth boxes"), (.fixations, "human fixations"),
            (.otherImagesFixations, "fixations on the other images"),
            (.observerScanpaths, "each observer's ordered fixations"),
        ]
        return words.filter { contains($0.0) }.map(\.1).joined(separator: ", ")
    }

    /// What these needs ask for that `provided` lacks.
    public func missing(from provided: MetricNeeds) -> MetricNeeds { subtracting(provided) }
}

/// One metric value for one image, with its per-step curve where the metric has one.
///
/// Metrics never print and never trap on odd inputs. Where a value is defined for an odd map (a
/// constant map scores chance, for example) it is returned with a warning. Where no value can be
/// computed (no fixations, no ground-truth box, a map without energy) the result is *missing*:
/// `value` is NaN and `missingReason` says why, so that callers never average a made-up 0 into a
/// table.
public struct MetricResult: Sendable, Equatable {
    /// The per-image value; NaN exactly when the result is missing.
    public var value: Double
    /// Scores s₀…sₙ for deletion and insertion; nil for the other metrics.
    public var curve: [Double]?
    /// Why the value is a defined fallback (a constant or NaN map, a fixation outside the image, …), for the caller's log.
    public var warnings: [String]
    /// Why no value could be computed; nil for a real value.
    public var missingReason: String?

    /// A result; metrics build these.
    public init(value: Double, curve: [Double]? = nil, warnings: [String] = []) {
        self.value = value
        self.curve = curve
        self.warnings = warnings
    }

    /// A result that could not be computed, and why.
    public static func missing(_ reason: String, warnings: [String] = []) -> MetricResult {
        var r = MetricResult(value: .nan, warnings: warnings)
        r.missingReason = reason
        return r
    }

    /// Whether no value could be computed.
    public var isMissing: Bool { missingReason != nil || !value.isFinite }
}

/// One image's explanation, with everything a metric may read: the model, the input, the map, the
/// class explained, and the annotations the data set has for the image.
public struct MetricSample {
    /// The classifier that was explained.
    public var model: ImageClassifier
    /// [1, 3, S, S] in [0, 1]: the image as the model saw it.
    public var pixels: Tensor
    /// [h, w], usually S×S: the explanation's map.
    public var map: Tensor
    /// The class the map explains.
    public var classIndex: Int
    /// The data set's ground truth for the image.
    public var annotations: SampleAnnotations
    /// The explanation's own fixations in viewing order, in 0-based pixels of the model's input
    /// grid (FovEx's scanpath); nil for methods without one. Scanpath metrics compare it with the
    /// observers' scanpaths, scaling it to the image with ``HumanGaze/width`` and ``HumanGaze/height``.
    public var predictedScanpath: [HumanFixation]?

    /// A sample; the annotations default to none (enough for the faithfulness metrics).
    public init(model: ImageClassifier, pixels: Tensor, map: Tensor, classIndex: Int, annotations: SampleAnnotations = .init(),
                predictedScanpath: [HumanFixation]? = nil) {
        self.model = model
        self.pixels = pixels
        self.map = map
        self.classIndex = classIndex
        self.annotations = annotations
        self.predictedScanpath = predictedScanpath
    }
}

/// The ground truth a data set gives for one image, already in the grids the metrics use.
public struct SampleAnnotations: Sendable, Equatable {
    /// Boxes of the image's class in pixels of the model's input grid (S×S); nil when the data set
    /// has no boxes at all, empty when this image has no usable box.
    public var boxes: [BoxRegion]?
    /// Why `boxes` is empty (no box recorded, or every box invalid); shown as the missing reason.
    public var boxesUnavailable: String?
    /// Human gaze on the image; nil when the data set has none.
    public var gaze: HumanGaze?

    /// Annotations; each kind defaults to "the data set has none".
    public init(boxes: [BoxRegion]? = nil, boxesUnavailable: String? = nil, gaze: HumanGaze? = nil) {
        self.boxes = boxes
        self.boxesUnavailable = boxesUnavailable
        self.gaze = gaze
    }
}

/// Human gaze on one image, in 0-based pixels of the image as stored.
public struct HumanGaze: Sendable, Equatable {
    /// The image's width in pixels.
    public var width: Int
    /// The image's height in pixels.
    public var height: Int
    /// The distinct fixated pixels on the image, pooled over observers, in recording order
    /// (fixations whose nearest pixel lies off the image are left out by the data set, which reports them).
    public var fixatedPixels: [PixelPoint]
    /// Pixels fixated on the data set's other images, mapped into this image's grid (shuffled AUC's
    /// negatives); empty when the data set was not asked for them.
    public var otherImagesFixatedPixels: [PixelPoint]
    /// Each observer's fixations in viewing order; nil when the data set does not record observers
    /// and order (MIT1003's point maps).
    public var scanpaths: [ObserverScanpath]?

    /// Gaze on a `width`×`height` image.
    public init(width: Int, height: Int, fixatedPixels: [PixelPoint], otherImagesFixatedPixels: [PixelPoint] = [],
                scanpaths: [ObserverScanpath]? = nil) {
        self.width = width
        self.height = height
        self.fixatedPixels = fixatedPixels
        self.otherImagesFixatedPixels = otherImagesFixatedPixels
        self.scanpaths = scanpaths
    }
}

/// One recorded fixation, in 0-based pixels of the image (not rounded, possibly off the image).
public struct HumanFixation: Sendable, Equatable, Codable {
    /// Pixels from the left (0 is the centre of the first column).
    public var x: Float
    /// Pixels from the top.
    public var y: Float
    /// Duration in milliseconds, where the data set records it.
    public var durationMs: Float?

    /// A fixation at (x, y), lasting `durationMs` where known.
    public init(x: Float, y: Float, durationMs: Float? = nil) {
        self.x = x
        self.y = y
        self.durationMs = durationMs
    }
}

/// One observer's fixations on one image, in viewing order.
public struct ObserverScanpath: Sendable, Equatable, Codable {
    /// The observer's identifier in the data set.
    public var observer: String
    /// Their fixations, in viewing order.
    public var fixations: [HumanFixation]

    /// An observer's scanpath.
    public init(observer: String, fixations: [HumanFixation]) {
        self.observer = observer
        self.fixations = fixations
    }
}

/// A metric: one sample in, one result out.
///
/// A metric declares what it reads beyond the map (``needs``) and which way it improves
/// (``direction``). The families below supply ``measure(_:)`` for the common shapes; a metric of a
/// new kind (one that compares the observers' scanpaths, say) conforms to `Metric` directly and
/// reads what it declared from ``MetricSample/annotations``.
public protocol Metric {
    /// Short name used in tables and files (`average_drop`, `deletion`, `nss`, …).
    var name: String { get }
    /// Which way the metric improves.
    var direction: MetricDirection { get }
    /// What the metric reads besides the map; a data set that cannot provide it is refused before a run.
    var needs: MetricNeeds { get }
    /// Option values as name → value strings, for reports.
    var options: [String: String] { get }
    /// Scores one sample; a sample without what the metric needs gives a missing result.
    func measure(_ sample: MetricSample) -> MetricResult
}

/// A faithfulness metric: it runs the model on modified images.
public protocol ModelMetric: Metric {
    /// Scores maps for a batch, one result per image. `pixels` [N, 3, S, S] in [0, 1]; `maps`
    /// [N, h, w] with values in [0, 1], resized (bilinear) to S×S when h×w differs; `classes` the
    /// class explained per image.
    func evaluate(model: ImageClassifier, pixels: Tensor, maps: Tensor, classes: [Int]) -> [MetricResult]
}

extension ModelMetric {
    public var needs: MetricNeeds { .model }

    public func measure(_ sample: MetricSample) -> MetricResult {
        let maps = sample.map.reshaped([1, sample.map.shape[0], sample.map.shape[1]])
        return evaluate(model: sample.model, pixels: sample.pixels, maps: maps, classes: [sample.classIndex])[0]
    }
}

/// A localisation metric: a map against ground-truth boxes.
public protocol BoxMetric: Metric {
    /// `map` [H, W]; `boxes` in pixels of the same H×W grid (see ``BoxRegion/scaled(x:y:)``).
    func evaluate(map: Tensor, boxes: [BoxRegion]) -> MetricResult
}

extension BoxMetric {
    public var needs: MetricNeeds { .boxes }

    /// The sample's boxes are in the input grid, as its map is.
    public func measure(_ sample: MetricSample) -> MetricResult {
        guard let boxes = sample.annotations.boxes else { return .missing("the data set has no ground-truth boxes") }
        guard !boxes.isEmpty else {
            return .missing(sample.annotations.boxesUnavailable ?? "the image has no ground-truth box")
        }
        return evaluate(map: sample.map, boxes: boxes)
    }
}

/// A gaze metric: a map against human fixations on the same image.
public protocol GazeMetric: Metric {
    /// `map` [H, W] at the image's own size (``evaluate(map:imageHeight:imageWidth:fixations:otherFixations:)``
    /// resizes one that is not); `fixations` the pixels fixated on this image, pooled over
    /// observers (repeats count once; points outside the map are dropped with a warning);
    /// `otherFixations` pixels fixated on other images, already in this image's grid (used only by
    /// shuffled AUC, as negatives).
    func evaluate(map: Tensor, fixations: [PixelPoint], otherFixations: [PixelPoint]) -> MetricResult
    /// A row-major h×w map brought to the image's size the way the metric's source does it; by
    /// default bilinearly (half-pixel centres, no antialiasing).
    func resized(_ values: [Float], from: (Int, Int), to: (Int, Int)) -> [Float]
}

extension GazeMetric {
    public var needs: MetricNeeds { .fixations }

    public func resized(_ values: [Float], from: (Int, Int), to: (Int, Int)) -> [Float] {
        MapCheck.resized(values, from: from, to: to)
    }

    /// The map is resized to the image's own size before it meets the fixations.
    public func measure(_ sample: MetricSample) -> MetricResult {
        guard let gaze = sample.annotations.gaze else { return .missing("the data set has no human fixations") }
        return evaluate(map: sample.map, imageHeight: gaze.height, imageWidth: gaze.width, fixations: gaze.fixatedPixels,
                        otherFixations: gaze.otherImagesFixatedPixels)
    }

    /// Scores a map of any size against fixations on an `imageHeight`×`imageWidth` image: the map is
    /// first resized to the image's size by ``resized(_:from:to:)`` (bilinear, half-pixel centres as
    /// PyTorch's `align_corners=False`, unless the metric's convention says otherwise).
    public func evaluate(map: Tensor, imageHeight: Int, imageWidth: Int, fixations: [PixelPoint],
                         otherFixations: [PixelPoint]) -> MetricResult {
        // NaN is cleared before resizing so that it cannot spread to its neighbours; the constant-map
        // check stays with the metric (resizing keeps a constant map constant).
        let (values, warnings) = MapCheck.withoutNaN(map.contiguous().scalars, metric: name)
        let resized = self.resized(values, from: (map.shape[0], map.shape[1]), to: (imageHeight, imageWidth))
        var result = evaluate(map: Tensor(shape: [imageHeight, imageWidth], scalars: resized), fixations: fixations,
                              otherFixations: otherFixations)
        result.warnings = warnings + result.warnings
        return result
    }
}

/// A pixel position (column x, row y), 0-based.
public struct PixelPoint: Sendable, Hashable, Codable {
    /// Column, from the left.
    public var x: Int
    /// Row, from the top.
    public var y: Int
    /// The pixel at column `x`, row `y`.
    public init(x: Int, y: Int) { self.x = x; self.y = y }
}

/// An axis-aligned box in (fractional) pixel coordinates; x1, y1 exclusive.
public struct BoxRegion: Sendable, Equatable, Codable {
    /// Left edge (inclusive).
    public var x0: Float
    /// Top edge (inclusive).
    public var y0: Float
    /// Right edge (exclusive).
    public var x1: Float
    /// Bottom edge (exclusive).
    public var y1: Float
    /// The box from (x0, y0) to (x1, y1), the far edges exclusive.
    public init(x0: Float, y0: Float, x1: Float, y1: Float) { self.x0 = x0; self.y0 = y0; self.x1 = x1; self.y1 = y1 }

    /// The box in a grid scaled by (sx, sy), e.g. from the stored image to the model's input.
    public func scaled(x sx: Float, y sy: Float) -> BoxRegion {
        BoxRegion(x0: x0 * sx, y0: y0 * sy, x1: x1 * sx, y1: y1 * sy)
    }

    /// Why the box cannot be used on a `width`×`height` image, or nil when it can: a coordinate
    /// that is not finite, an inverted or empty box, or a box entirely off the image. A box partly
    /// off the image is usable (the metrics clamp it).
    public func problem(width: Int, height: Int) -> String? {
        guard [x0, y0, x1, y1].allSatisfy(\.isFinite) else { return "a coordinate is not a finite number" }
        guard x1 > x0, y1 > y0 else { return "inverted or empty (x0 \(x0), y0 \(y0), x1 \(x1), y1 \(y1))" }
        guard x1 > 0, y1 > 0, x0 < Float(width), y0 < Float(height) else {
            return "entirely off the \(width)×\(height) image (x0 \(x0), y0 \(y0), x1 \(x1), y1 \(y1))"
        }
        return nil
    }
}
