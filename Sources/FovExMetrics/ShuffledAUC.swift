import FovExTensor

/// Shuffled AUC (sAUC): the area under the ROC curve separating the map's values at this image's
/// fixated pixels (positives) from its values at pixels fixated on other images (negatives, in this
/// image's grid), which discounts centre bias. Both sets count each distinct pixel once, as the MIT
/// benchmark's binary fixation maps do; the area is computed exactly, as the Mann–Whitney statistic
/// over all negatives (ties count one half), instead of the benchmark's 100 random splits of
/// thresholds. A constant map scores 0.5 (chance) with a warning; an image without fixations, or
/// without negatives, has no value. Higher is better.
public struct ShuffledAUC: GazeMetric {
    /// The metric; it has no options (the negatives are passed to it).
    public init() {}
    public var name: String { "sauc" }
    public var direction: MetricDirection { .higherIsBetter }
    public var needs: MetricNeeds { [.fixations, .otherImagesFixations] }
    public var options: [String: String] { ["sauc_negatives": "distinct pixels fixated on the other images"] }

    public func evaluate(map: Tensor, fixations: [PixelPoint], otherFixations: [PixelPoint]) -> MetricResult {
        let (h, w) = (map.shape[0], map.shape[1])
        let (v, mapWarnings, constant) = MapCheck.cleaned(map, metric: name)
        let (positives, positiveWarnings) = MapCheck.distinctPoints(fixations, height: h, width: w, metric: name)
        let (negatives, negativeWarnings) = MapCheck.distinctPoints(otherFixations, height: h, width: w, metric: name,
                                                                    role: "negatives")
        let warnings = mapWarnings + positiveWarnings + negativeWarnings
        guard !positives.isEmpty else { return .missing("no fixations on the image", warnings: warnings) }
        guard !negatives.isEmpty else { return .missing("no fixations on other images to serve as negatives", warnings: warnings) }
        if constant { return MetricResult(value: 0.5, warnings: warnings) }
        let neg = negatives.map { v[$0.y * w + $0.x] }.sorted()
        var wins = 0.0
        for p in positives.map({ v[$0.y * w + $0.x] }) {
            // Negatives below p, then those equal to it (each tie worth one half).
            var lo = 0, hi = neg.count
            while lo < hi { let m = (lo + hi) / 2; if neg[m] < p { lo = m + 1 } else { hi = m } }
            var up = lo
            while up < neg.count && neg[up] == p { up += 1 }
            wins += Double(lo) + 0.5 * Double(up - lo)
        }
        return MetricResult(value: wins / (Double(positives.count) * Double(neg.count)), warnings: warnings)
    }
}
