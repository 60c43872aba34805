import Foundation

/// Scaled time-delay-embedding similarity (FixaTons, `scaled_time_delay_embedding_distance`, after
/// Wang et al., 2011, "Simulating human saccadic scanpaths on natural images").
///
/// Coordinates are divided by the image's larger side. For each embedding dimension k = 1…min(m, n),
/// every run of k consecutive fixations of the predicted scanpath is matched with the nearest run of
/// the human one (the norm of the k point-to-point distances, divided by k); the mean over the predicted
/// runs is the distance d_k, and the similarity is the mean of exp(−d_k) over k. Different lengths are
/// handled by that sliding window; the comparison is asymmetric (predicted runs look for human runs).
/// Higher is more similar, at most 1.
public struct TimeDelayEmbedding: ScanpathMetric {
    public var name: String { "tde" }
    public var direction: MetricDirection { .higherIsBetter }
    public var options: [String: String] { ["distance_mode": "mean"] }

    /// The metric with the reference implementation's settings.
    public init() {}

    public func compare(_ predicted: [ScanpathPoint], with human: [ScanpathPoint], width: Int, height: Int) -> MetricResult {
        guard !predicted.isEmpty, !human.isEmpty else {
            return MetricResult(value: .nan, warnings: ["tde: an empty scanpath has no time-delay embedding"])
        }
        let scale = Double(max(width, height))
        let h = human.map { (x: $0.x / scale, y: $0.y / scale) }
        let s = predicted.map { (x: $0.x / scale, y: $0.y / scale) }
        let maxK = min(h.count, s.count)
        var total = 0.0
        for k in 1...maxK { total += exp(-Self.distance(human: h, simulated: s, k: k)) }
        return MetricResult(value: total / Double(maxK))
    }

    /// The source's `time_delay_embedding_distance` in its `Mean` mode for one k (k ≤ both lengths).
    public static func distance(human: [(x: Double, y: Double)], simulated: [(x: Double, y: Double)], k: Int) -> Double {
        var sum = 0.0
        for i in 0...(simulated.count - k) {
            var best = Double.infinity
            for j in 0...(human.count - k) {
                var squares = 0.0
                for t in 0..<k {
                    let dx = simulated[i + t].x - human[j + t].x, dy = simulated[i + t].y - human[j + t].y
                    squares += dx * dx + dy * dy
                }
                best = min(best, squares.squareRoot())
            }
            sum += best / Double(k)
        }
        return sum / Double(simulated.count - k + 1)
    }
}
