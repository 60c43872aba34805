import FovExTensor

/// Shuffled AUC: the area under the ROC curve separating the map's values at this image's fixated
/// pixels (positives) from its values at pixels fixated on other images (negatives), which discounts
/// centre bias. Computed exactly as the Mann–Whitney statistic (ties count one half) over all
/// negatives. No negatives, or a constant map, score 0.5. Higher is better.
public struct ShuffledAUC: GazeMetric {
    public init() {}
    public var name: String { "sauc" }
    public var direction: MetricDirection { .higherIsBetter }
    public var options: [String: String] { ["sauc_negatives": "all fixations of the other images"] }

    public func evaluate(map: Tensor, fixations: [PixelPoint], otherFixations: [PixelPoint]) -> MetricResult {
        let w = map.shape[1]
        var (v, warnings, constant) = MapCheck.cleaned(map, metric: name)
        guard !fixations.isEmpty else { return MetricResult(value: .nan, warnings: warnings + ["sauc: no fixations"]) }
        if otherFixations.isEmpty { warnings.append("sauc: no negatives") }
        if constant || otherFixations.isEmpty { return MetricResult(value: 0.5, warnings: warnings) }
        let pos = fixations.map { v[$0.y * w + $0.x] }
        let neg = otherFixations.map { v[$0.y * w + $0.x] }.sorted()
        var wins = 0.0
        for p in pos {
            // Negatives below p, and equal to p (each tie worth one half).
            var lo = 0, hi = neg.count
            while lo < hi { let m = (lo + hi) / 2; if neg[m] < p { lo = m + 1 } else { hi = m } }
            var up = lo
            while up < neg.count && neg[up] == p { up += 1 }
            wins += Double(lo) + 0.5 * Double(up - lo)
        }
        v.removeAll()
        return MetricResult(value: wins / (Double(pos.count) * Double(neg.count)), warnings: warnings)
    }
}
