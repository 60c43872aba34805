/// Dynamic time warping distance between scanpaths, in pixels.
///
/// The classic formulation (the `symmetric1` step pattern of Giorgino's `dtw-python`, the reference the
/// tests are checked against): the two fixation sequences are aligned monotonically, every fixation
/// paired with at least one of the other sequence, and the cost is the sum of the Euclidean distances
/// of the aligned pairs. Different lengths are absorbed by the warping (one fixation may stand for
/// several); the sum grows with the longer length. Lower is more similar.
public struct DynamicTimeWarping: ScanpathMetric {
    public var name: String { "dtw" }
    public var direction: MetricDirection { .lowerIsBetter }
    public var options: [String: String] { ["step_pattern": "symmetric1"] }

    /// The metric with the reference implementation's settings.
    public init() {}

    public func compare(_ predicted: [ScanpathPoint], with human: [ScanpathPoint], width: Int, height: Int) -> MetricResult {
        guard !predicted.isEmpty, !human.isEmpty else {
            return MetricResult(value: .nan, warnings: ["dtw: an empty scanpath cannot be aligned"])
        }
        let (n, m) = (predicted.count, human.count)
        var g = [[Double]](repeating: [Double](repeating: .infinity, count: m + 1), count: n + 1)
        g[0][0] = 0
        for i in 1...n {
            for j in 1...m {
                let dx = predicted[i - 1].x - human[j - 1].x, dy = predicted[i - 1].y - human[j - 1].y
                g[i][j] = (dx * dx + dy * dy).squareRoot() + min(g[i - 1][j - 1], g[i - 1][j], g[i][j - 1])
            }
        }
        return MetricResult(value: g[n][m])
    }
}
