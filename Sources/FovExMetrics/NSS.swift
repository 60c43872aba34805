import FovExTensor

/// Normalised scanpath saliency (Peters et al.): the map z-scored, averaged over the fixations; the
/// table value is the mean over images. Higher is better.
///
/// The details follow ``convention`` (``GazeConvention``): FixaTons' by default, the paper's source
/// (8-bit `imresize`, the map divided by its maximum, ddof 1, each fixated pixel once), or the MIT
/// benchmark's (bicubic resize, ddof 1) or pysaliency's (ddof 0, every fixation). A map with no
/// spread scores what its source gives it, with a warning: 1 under FixaTons (its code leaves the
/// map unscaled, so the maximum-divided map reads 1 everywhere; 0 for an all-zero map), 0 under
/// pysaliency, and no value under MIT's (a division by a zero standard deviation). An image
/// without fixations has no value.
public struct NSS: GazeMetric {
    /// Whose code the statistic follows.
    public var convention: GazeConvention

    /// NSS under `convention` (FixaTons', the paper's source, by default).
    public init(convention: GazeConvention = .fixatons) { self.convention = convention }

    public var name: String { "nss" }
    public var direction: MetricDirection { .higherIsBetter }
    public var options: [String: String] { ["nss_convention": convention.rawValue] }

    public func measure(_ sample: MetricSample) -> MetricResult {
        guard let gaze = sample.annotations.gaze else { return .missing("the data set has no human fixations") }
        return evaluate(map: sample.map, imageHeight: gaze.height, imageWidth: gaze.width,
                        fixations: convention.fixations(of: gaze), otherFixations: [])
    }

    public func resized(_ values: [Float], from: (Int, Int), to: (Int, Int)) -> [Float] {
        convention.resized(values, from: from, to: to, always: true)
    }

    /// `fixations`: pixels on `map`'s grid; under pysaliency each fixation (repeats count), otherwise
    /// each distinct pixel once (repeats are dropped, as a binary fixation map drops them).
    public func evaluate(map: Tensor, fixations: [PixelPoint], otherFixations: [PixelPoint]) -> MetricResult {
        let (h, w) = (map.shape[0], map.shape[1])
        let (cleaned, mapWarnings, constant) = MapCheck.cleaned(map, metric: name)
        let (points, pointWarnings) = convention == .pysaliency
            ? MapCheck.pointsOnMap(fixations, height: h, width: w, metric: name)
            : MapCheck.distinctPoints(fixations, height: h, width: w, metric: name)
        var warnings = mapWarnings + pointWarnings
        guard !points.isEmpty else { return .missing("no fixations on the image", warnings: warnings) }
        var v = cleaned.map(Double.init)
        if convention == .fixatons, let hi = v.max(), hi != 0 { v = v.map { $0 / hi } }
        let n = Double(v.count)
        let mean = v.reduce(0, +) / n
        let squares = v.reduce(0.0) { $0 + ($1 - mean) * ($1 - mean) }
        let std = (squares / (convention == .pysaliency ? n : n - 1)).squareRoot()
        if constant || !(std > 0) {
            switch convention {
            case .mit:
                return .missing("the map is constant: MIT's NSS divides by its zero standard deviation", warnings: warnings)
            case .pysaliency:
                return MetricResult(value: 0, warnings: warnings)
            case .fixatons:
                // FixaTons skips the z-score and averages the (maximum-divided) map itself.
                warnings.append("nss: the map is constant; FixaTons' NSS averages it unscaled")
                return MetricResult(value: points.reduce(0.0) { $0 + v[$1.y * w + $1.x] } / Double(points.count), warnings: warnings)
            }
        }
        let s = points.reduce(0.0) { $0 + (v[$1.y * w + $1.x] - mean) / std }
        return MetricResult(value: s / Double(points.count), warnings: warnings)
    }
}
