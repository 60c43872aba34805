import FovExTensor

/// Normalised scanpath saliency (Peters et al.): the map z-scored with the population standard
/// deviation (ddof 0), averaged over the fixated pixels (each distinct pixel once, pooled over
/// observers); the table value is the mean over images. The map must be at the image's size
/// (``GazeMetric/evaluate(map:imageHeight:imageWidth:fixations:otherFixations:)`` resizes it).
/// A constant map scores 0 (it predicts nothing), with a warning; an image without fixations has no value.
/// Higher is better.
public struct NSS: GazeMetric {
    /// The metric; it has no options.
    public init() {}
    public var name: String { "nss" }
    public var direction: MetricDirection { .higherIsBetter }
    public var options: [String: String] { ["nss_std": "population (ddof 0)", "nss_fixations": "distinct pixels"] }

    public func evaluate(map: Tensor, fixations: [PixelPoint], otherFixations: [PixelPoint]) -> MetricResult {
        let (h, w) = (map.shape[0], map.shape[1])
        let (v, mapWarnings, constant) = MapCheck.cleaned(map, metric: name)
        let (points, pointWarnings) = MapCheck.distinctPoints(fixations, height: h, width: w, metric: name)
        let warnings = mapWarnings + pointWarnings
        guard !points.isEmpty else { return .missing("no fixations on the image", warnings: warnings) }
        if constant { return MetricResult(value: 0, warnings: warnings) }
        let n = Double(v.count)
        let mean = v.reduce(0.0) { $0 + Double($1) } / n
        let std = (v.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n).squareRoot()
        let s = points.reduce(0.0) { $0 + (Double(v[$1.y * w + $1.x]) - mean) / std }
        return MetricResult(value: s / Double(points.count), warnings: warnings)
    }
}
