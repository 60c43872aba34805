import FovExTensor

/// AUC-Judd as the MIT saliency benchmark computes it: the map is min-max normalised; thresholds are
/// the map's values at the fixated pixels, sorted descending; TPᵢ = i/N_f, FPᵢ = (#pixels ≥ thrᵢ − i) /
/// (N_p − N_f); (0, 0) and (1, 1) are added and the curve integrated with the trapezoid rule.
/// A constant map scores 0.5 (chance). Higher is better.
public struct AUCJudd: GazeMetric {
    /// Uniform noise of this amplitude added to the map before scoring to break ties (the MIT code's
    /// option; 0 = off, the default), drawn from a generator seeded with `seed`.
    public var jitter: Float
    public var seed: UInt64

    public init(jitter: Float = 0, seed: UInt64 = 0) {
        self.jitter = jitter
        self.seed = seed
    }

    public var name: String { "auc_judd" }
    public var direction: MetricDirection { .higherIsBetter }
    public var options: [String: String] { ["auc_judd_jitter": "\(jitter)", "auc_judd_seed": "\(seed)"] }

    public func evaluate(map: Tensor, fixations: [PixelPoint], otherFixations: [PixelPoint]) -> MetricResult {
        let w = map.shape[1]
        var (v, warnings, constant) = MapCheck.cleaned(map, metric: name)
        guard !fixations.isEmpty else { return MetricResult(value: .nan, warnings: warnings + ["auc_judd: no fixations"]) }
        if jitter > 0 {
            var g = SeededGenerator(seed: seed)
            for i in v.indices { v[i] += jitter * g.nextUniform() }
            constant = false
        }
        if constant { return MetricResult(value: 0.5, warnings: warnings) }
        let lo = v.min()!, hi = v.max()!
        let s = v.map { Double(($0 - lo) / (hi - lo)) }
        let thresholds = fixations.map { s[$0.y * w + $0.x] }.sorted(by: >)
        let nf = Double(thresholds.count), np = Double(s.count)
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
