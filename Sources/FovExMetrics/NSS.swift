import FovExTensor

/// Normalised scanpath saliency (Peters et al.): the map z-scored with the population standard
/// deviation, averaged over the fixated pixels (each distinct pixel once, pooled over observers).
/// The map must already be at the image's size. A constant map scores 0. Higher is better.
public struct NSS: GazeMetric {
    public init() {}
    public var name: String { "nss" }
    public var direction: MetricDirection { .higherIsBetter }
    public var options: [String: String] { ["nss_std": "population (ddof 0)"] }

    public func evaluate(map: Tensor, fixations: [PixelPoint], otherFixations: [PixelPoint]) -> MetricResult {
        let w = map.shape[1]
        let (v, warnings, constant) = MapCheck.cleaned(map, metric: name)
        guard !fixations.isEmpty else { return MetricResult(value: .nan, warnings: warnings + ["nss: no fixations"]) }
        if constant { return MetricResult(value: 0, warnings: warnings) }
        let n = Double(v.count)
        let mean = v.reduce(0.0) { $0 + Double($1) } / n
        let std = (v.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n).squareRoot()
        let s = fixations.reduce(0.0) { $0 + (Double(v[$1.y * w + $1.x]) - mean) / std }
        return MetricResult(value: s / Double(fixations.count), warnings: warnings)
    }
}
