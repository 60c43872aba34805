import Foundation

/// MultiMatch (Jarodzka, Holmqvist & Nyström, 2010; Dewhurst et al., 2012) as PyPI's `multimatch-gaze`
/// 0.1.3 computes it (`docomparison` without grouping, the package's default).
///
/// Each scanpath becomes a sequence of saccade vectors between consecutive fixations. The saccades are
/// aligned by the cheapest monotone path through the matrix of vector differences (the package's
/// Dijkstra on a grid graph: steps right, down or diagonal), so scanpaths of different lengths are
/// aligned with repeats. Along the alignment, five medians are normalised to similarities in [0, 1]
/// (1 = identical): shape (vector difference / 2·diagonal), direction (angle / π), length
/// (amplitude difference / diagonal), position (start-point distance / diagonal) and duration
/// (|d₁ − d₂| / max). Fewer than 3 fixations on either side gives NaN, as in the package.
public struct MultiMatch: Sendable {
    /// The five dimensions, in the package's order.
    public enum Dimension: String, Sendable, CaseIterable {
        /// Similarity of the saccade vectors.
        case shape
        /// Similarity of the saccades' angles.
        case direction
        /// Similarity of the saccades' amplitudes.
        case length
        /// Similarity of the fixations' positions.
        case position
        /// Similarity of the fixations' durations.
        case duration
    }

    /// The metric with the reference implementation's settings.
    public init() {}

    struct Saccade { var x, y, lenX, lenY, theta, rho: Double }

    /// The five similarities, or nil where the package returns NaN (fewer than 3 fixations, or a
    /// missing duration).
    public func similarities(_ a: [ScanpathPoint], _ b: [ScanpathPoint], width: Int, height: Int) -> [Dimension: Double]? {
        guard a.count >= 3, b.count >= 3 else { return nil }
        let s1 = Self.saccades(a), s2 = Self.saccades(b)
        let (n, m) = (s1.count, s2.count)
        var cost = [[Double]](repeating: [Double](repeating: 0, count: m), count: n)
        for i in 0..<n { for j in 0..<m {
            cost[i][j] = hypot(abs(s1[i].lenX - s2[j].lenX), abs(s1[i].lenY - s2[j].lenY))
        }}
        // Cheapest path from (0, 0) to (n−1, m−1); entering a cell costs its value (the start's is free).
        var dist = [[Double]](repeating: [Double](repeating: .infinity, count: m), count: n)
        var from = [[(Int, Int)?]](repeating: [(Int, Int)?](repeating: nil, count: m), count: n)
        dist[0][0] = 0
        for i in 0..<n { for j in 0..<m where !(i == 0 && j == 0) {
            for (pi, pj) in [(i, j - 1), (i - 1, j), (i - 1, j - 1)] where pi >= 0 && pj >= 0 {
                let d = dist[pi][pj] + cost[i][j]
                if d < dist[i][j] { dist[i][j] = d; from[i][j] = (pi, pj) }
            }
        }}
        var path: [(Int, Int)] = [(n - 1, m - 1)]
        while let p = from[path.last!.0][path.last!.1] { path.append(p) }
        path.reverse()

        var shape: [Double] = [], angle: [Double] = [], length: [Double] = [], position: [Double] = []
        var duration: [Double] = []
        for (i, j) in path {
            shape.append(hypot(s1[i].lenX - s2[j].lenX, s1[i].lenY - s2[j].lenY))
            var t1 = s1[i].theta, t2 = s2[j].theta
            if t1 < 0 { t1 = .pi + (.pi + t1) }
            if t2 < 0 { t2 = .pi + (.pi + t2) }
            var dt = abs(t1 - t2)
            if dt > .pi { dt = 2 * .pi - dt }
            angle.append(dt)
            length.append(abs(s1[i].rho - s2[j].rho))
            position.append(hypot(s1[i].x - s2[j].x, s1[i].y - s2[j].y))
            if let d1 = a[i].duration, let d2 = b[j].duration {
                duration.append(abs(d1 - d2) / abs(max(d1, d2)))
            }
        }
        let diagonal = hypot(Double(width), Double(height))
        var out: [Dimension: Double] = [
            .shape: 1 - Self.median(shape) / (2 * diagonal),
            .direction: 1 - Self.median(angle) / .pi,
            .length: 1 - Self.median(length) / diagonal,
            .position: 1 - Self.median(position) / diagonal,
        ]
        out[.duration] = duration.count == path.count ? 1 - Self.median(duration) : .nan
        return out
    }

    static func saccades(_ p: [ScanpathPoint]) -> [Saccade] {
        zip(p, p.dropFirst()).map { a, b in
            let (lx, ly) = (b.x - a.x, b.y - a.y)
            return Saccade(x: a.x, y: a.y, lenX: lx, lenY: ly, theta: atan2(ly, lx), rho: (lx * lx + ly * ly).squareRoot())
        }
    }

    /// NumPy's median: the mean of the two middle values for an even count.
    static func median(_ v: [Double]) -> Double {
        let s = v.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}

/// One MultiMatch dimension as a scanpath metric (`mm_shape`, `mm_direction`, `mm_length`,
/// `mm_position`, `mm_duration`); higher is more similar.
public struct MultiMatchMetric: ScanpathMetric {
    /// Which of MultiMatch's five similarities this metric reports.
    public var dimension: MultiMatch.Dimension
    public var name: String { "mm_" + dimension.rawValue }
    public var direction: MetricDirection { .higherIsBetter }
    public var options: [String: String] { ["grouping": "false"] }

    /// The metric for `dimension`.
    public init(dimension: MultiMatch.Dimension) { self.dimension = dimension }

    public func compare(_ predicted: [ScanpathPoint], with human: [ScanpathPoint], width: Int, height: Int) -> MetricResult {
        guard let s = MultiMatch().similarities(predicted, human, width: width, height: height) else {
            return MetricResult(value: .nan, warnings: ["\(name): MultiMatch needs at least 3 fixations on each side"])
        }
        let v = s[dimension]!
        return MetricResult(value: v, warnings: v.isNaN ? ["\(name): a fixation without a duration"] : [])
    }
}
