/// One fixation of a scanpath, in pixels of the image it was made on.
///
/// Coordinates are 0-based pixel positions (column x, row y); `duration` is in milliseconds where the
/// data has it (human recordings) and nil for generated scanpaths (FovEx, baselines), which have none.
public struct ScanpathPoint: Sendable, Equatable, Codable {
    /// Column, in pixels.
    public var x: Double
    /// Row, in pixels.
    public var y: Double
    /// Milliseconds, where recorded.
    public var duration: Double?

    /// A fixation at (x, y), lasting `duration` milliseconds where known.
    public init(x: Double, y: Double, duration: Double? = nil) {
        self.x = x
        self.y = y
        self.duration = duration
    }
}

/// A metric that compares two scanpaths on the same image.
///
/// The comparison has a direction: `predicted` is the scanpath being judged (a model's, a baseline's,
/// or the held-out observer's under leave-one-out) and `human` the reference observer's. Only the
/// time-delay embedding is asymmetric in its source; the others give the same value either way round.
/// Scanpaths of different lengths are handled as each metric's source does (documented per metric);
/// a comparison the source leaves undefined gives NaN and says why in `warnings`.
///
/// As a ``Metric`` of the evaluation harness, a scanpath metric scores a sample's own scanpath
/// (``MetricSample/predictedScanpath``, e.g. FovEx's) against every observer's and returns the mean;
/// `fovex evaluate --metrics scanpath` runs the fuller protocol of `ScanpathEvaluator` (baselines, the
/// human ceiling, each image's best-matching observer).
public protocol ScanpathMetric: Metric {
    /// Scores `predicted` against `human` on a `width`×`height` image (both in its pixels); a pair that
    /// cannot be compared (too short, no durations) gives a missing result.
    func compare(_ predicted: [ScanpathPoint], with human: [ScanpathPoint], width: Int, height: Int) -> MetricResult
}

extension ScanpathMetric {
    public var needs: MetricNeeds { .observerScanpaths }

    public func measure(_ sample: MetricSample) -> MetricResult {
        guard let gaze = sample.annotations.gaze, let observers = gaze.scanpaths, !observers.isEmpty else {
            return .missing("no observer scanpaths for this image")
        }
        guard let own = sample.predictedScanpath, !own.isEmpty else {
            return .missing("\(name) needs the method's own scanpath; this method has none")
        }
        // The sample's scanpath is in pixels of the S×S input, which the image was resized onto.
        let s = Double(sample.pixels.shape[3])
        let predicted = own.map { f in
            ScanpathPoint(x: (Double(f.x) + 0.5) * Double(gaze.width) / s - 0.5, y: (Double(f.y) + 0.5) * Double(gaze.height) / s - 0.5)
        }
        var values: [Double] = [], warnings: [String] = []
        for o in observers {
            let r = compare(predicted, with: o.fixations.map(ScanpathPoint.init), width: gaze.width, height: gaze.height)
            warnings += r.warnings
            if r.value.isFinite { values.append(r.value) }
        }
        guard !values.isEmpty else { return .missing("\(name) is undefined against every observer", warnings: Array(Set(warnings)).sorted()) }
        return MetricResult(value: values.reduce(0, +) / Double(values.count))
    }
}

extension ScanpathPoint {
    /// A recorded fixation, with its duration where the data set has one.
    public init(_ f: HumanFixation) {
        self.init(x: Double(f.x), y: Double(f.y), duration: f.durationMs.map(Double.init))
    }
}
