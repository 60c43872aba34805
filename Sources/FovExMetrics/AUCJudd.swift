import FovExTensor

/// AUC-Judd as the MIT saliency benchmark computes it: the map is min-max normalised; thresholds are
/// the map's values at the fixated pixels (each distinct pixel once), sorted descending;
/// TPᵢ = i/N_f, FPᵢ = (#pixels ≥ thrᵢ − i) / (N_p − N_f); (0, 0) and (1, 1) are added and the curve
/// integrated with the trapezoid rule. The map must be at the image's size. A constant map scores
/// 0.5 (chance), with a warning; an image without fixations, or with every pixel fixated, has no
/// value. Higher is better.
public struct AUCJudd: GazeMetric {
    /// Amplitude of uniform noise added to the map before scoring, to break ties as the MIT code
    /// does (its value is 1e−7); 0, the default, adds none, so the metric is deterministic without
    /// a seed.
    public var jitter: Double
    /// Seed of the noise when `jitter` is on.
    public var seed: UInt64

    /// The MIT benchmark's jitter amplitude.
    public static let benchmarkJitter = 1e-7

    /// AUC-Judd with the map's values jittered by up to `jitter` (0: none; ``benchmarkJitter`` is the benchmark's), drawn from `seed`.
    public init(jitter: Double = 0, seed: UInt64 = 0) {
        precondition(jitter >= 0, "auc_judd: jitter \(jitter) must not be negative")
        self.jitter = jitter
        self.seed = seed
    }

    public var name: String { "auc_judd" }
    public var direction: MetricDirection { .higherIsBetter }
    public var options: [String: String] {
        jitter > 0 ? ["auc_judd_jitter": "\(jitter)", "auc_judd_seed": "\(seed)"] : ["auc_judd_jitter": "0"]
    }

    public func evaluate(map: Tensor, fixations: [PixelPoint], otherFixations: [PixelPoint]) -> MetricResult {
        let (h, w) = (map.shape[0], map.shape[1])
        let (values, mapWarnings, constant) = MapCheck.cleaned(map, metric: name)
        let (points, pointWarnings) = MapCheck.distinctPoints(fixations, height: h, width: w, metric: name)
        let warnings = mapWarnings + pointWarnings
        guard !points.isEmpty else { return .missing("no fixations on the image", warnings: warnings) }
        // In Double: noise of 1e−7 is below a Float's resolution for values near 1.
        var v = values.map(Double.init)
        if jitter > 0 {
            var g = SeededGenerator(seed: seed)
            for i in v.indices { v[i] += jitter * Double(g.nextUniform()) }
        } else if constant {
            return MetricResult(value: 0.5, warnings: warnings)
        }
        let lo = v.min()!, hi = v.max()!
        let s = hi > lo ? v.map { ($0 - lo) / (hi - lo) } : v.map { _ in 0 }
        let thresholds = points.map { s[$0.y * w + $0.x] }.sorted(by: >)
        let nf = Double(thresholds.count), np = Double(s.count)
        guard np > nf else { return .missing("every pixel is fixated: no negatives", warnings: warnings) }
        let sorted = s.sorted(by: >)
        var tp = [0.0], fp = [0.0]
        var above = 0
        for (i, t) in thresholds.enumerated() {
            while above < sorted.count && sorted[above] >= t { above += 1 }
            tp.append(Double(i + 1) / nf)
            fp.append((Double(above) - Double(i + 1)) / (np - nf))
        }
        tp.append(1); fp.append(1)
        var area = 0.0
        for i in 1..<tp.count { area += (fp[i] - fp[i - 1]) * (tp[i] + tp[i - 1]) / 2 }
        return MetricResult(value: area, warnings: warnings)
    }
}
