import FovExTensor

/// AUC-Judd: how well the map's values at fixated pixels stand out from the rest, as the area under
/// the ROC curve whose thresholds are the fixated values. Higher is better; the table value is the
/// mean over images. An image without fixations, or with every pixel fixated, has no value.
///
/// The details follow ``convention`` (``GazeConvention``), FixaTons' by default (the paper's
/// source). FixaTons and MIT: the map (jittered, then min–max normalised) gives thresholds at the
/// distinct fixated pixels, sorted descending; TPᵢ = i/N_f and FPᵢ = (#pixels ≥ thrᵢ − i) / (N_p − N_f)
/// with i counted from 1 (MIT) or from 0 (FixaTons' port); (0, 0) and (1, 1) are added and the curve
/// integrated with the trapezoid rule. pysaliency: positives are the values at every fixation
/// (repeats included), negatives the unfixated pixels, thresholds the positives plus one above and
/// one at the bottom, and the rates count values ≥ each threshold exactly.
///
/// The sources jitter the map to break ties (uniform 1e−7 for FixaTons and MIT, Gaussian for
/// pysaliency); here the noise is seeded, so the metric is deterministic. With `jitter` 0 a
/// constant map scores 0.5 (chance), with a warning.
public struct AUCJudd: GazeMetric {
    /// Whose code the AUC follows (FixaTons', the paper's source, by default).
    public var convention: GazeConvention
    /// Amplitude of the tie-breaking noise: the sources' 1e−7 by default, 0 for none.
    public var jitter: Double
    /// Seed of the noise.
    public var seed: UInt64

    /// The sources' jitter amplitude.
    public static let benchmarkJitter = 1e-7

    /// AUC-Judd under `convention`, with the map's values jittered by up to `jitter` (0: none; ``benchmarkJitter`` is the sources'), drawn from `seed`.
    public init(convention: GazeConvention = .fixatons, jitter: Double = AUCJudd.benchmarkJitter, seed: UInt64 = 0) {
        precondition(jitter >= 0, "auc_judd: jitter \(jitter) must not be negative")
        self.convention = convention
        self.jitter = jitter
        self.seed = seed
    }

    public var name: String { "auc_judd" }
    public var direction: MetricDirection { .higherIsBetter }
    public var options: [String: String] {
        var o = ["auc_judd_convention": convention.rawValue, "auc_judd_jitter": "\(jitter)"]
        if jitter > 0 { o["auc_judd_seed"] = "\(seed)" }
        return o
    }

    public func measure(_ sample: MetricSample) -> MetricResult {
        guard let gaze = sample.annotations.gaze else { return .missing("the data set has no human fixations") }
        return evaluate(map: sample.map, imageHeight: gaze.height, imageWidth: gaze.width,
                        fixations: convention.fixations(of: gaze), otherFixations: [])
    }

    public func resized(_ values: [Float], from: (Int, Int), to: (Int, Int)) -> [Float] {
        convention.resized(values, from: from, to: to, always: false)
    }

    /// `fixations`: pixels on `map`'s grid; repeats count under pysaliency, once otherwise.
    public func evaluate(map: Tensor, fixations: [PixelPoint], otherFixations: [PixelPoint]) -> MetricResult {
        let (h, w) = (map.shape[0], map.shape[1])
        let (values, mapWarnings, constant) = MapCheck.cleaned(map, metric: name)
        let (points, pointWarnings) = convention == .pysaliency
            ? MapCheck.pointsOnMap(fixations, height: h, width: w, metric: name)
            : MapCheck.distinctPoints(fixations, height: h, width: w, metric: name)
        let warnings = mapWarnings + pointWarnings
        guard !points.isEmpty else { return .missing("no fixations on the image", warnings: warnings) }
        // In Double: noise of 1e−7 is below a Float's resolution for values near 1.
        var v = values.map(Double.init)
        if jitter > 0 {
            var g = SeededGenerator(seed: seed)
            if convention == .pysaliency {
                for i in v.indices { v[i] += jitter * Double(g.nextNormal()) }
            } else {
                for i in v.indices { v[i] += jitter * Double(g.nextUniform()) }
            }
        } else if constant {
            return MetricResult(value: 0.5, warnings: warnings)
        }
        if convention == .pysaliency {
            let fixated = Set(points.map { $0.y * w + $0.x })
            guard fixated.count < v.count else { return .missing("every pixel is fixated: no negatives", warnings: warnings) }
            let positives = points.map { v[$0.y * w + $0.x] }
            let negatives = v.indices.filter { !fixated.contains($0) }.map { v[$0] }
            return MetricResult(value: AUCJudd.rocArea(positives: positives, negatives: negatives), warnings: warnings)
        }
        let lo = v.min()!, hi = v.max()!
        let s = hi > lo ? v.map { ($0 - lo) / (hi - lo) } : v.map { _ in 0 }
        let thresholds = points.map { s[$0.y * w + $0.x] }.sorted(by: >)
        let nf = Double(thresholds.count), np = Double(s.count)
        guard np > nf else { return .missing("every pixel is fixated: no negatives", warnings: warnings) }
        // FixaTons subtracts the 0-based index, the MIT code the 1-based one.
        let offset = convention == .fixatons ? 0 : 1
        let sorted = s.sorted(by: >)
        var tp = [0.0], fp = [0.0]
        var above = 0
        for (i, t) in thresholds.enumerated() {
            while above < sorted.count && sorted[above] >= t { above += 1 }
            tp.append(Double(i + 1) / nf)
            fp.append((Double(above) - Double(i + offset)) / (np - nf))
        }
        tp.append(1); fp.append(1)
        return MetricResult(value: AUCJudd.trapezoid(tp: tp, fp: fp), warnings: warnings)
    }

    /// pysaliency's `general_roc` with `judd=1`: thresholds at the positives, one above every value
    /// and one at the smallest; rates count values ≥ each threshold.
    static func rocArea(positives: [Double], negatives: [Double]) -> Double {
        let p = positives.sorted(by: >), n = negatives.sorted(by: >)
        let top = Swift.max(p[0], n[0]) + 1, bottom = Swift.min(p[p.count - 1], n[n.count - 1])
        let thresholds = ([top, bottom] + positives).sorted(by: >)
        var tp = [0.0], fp = [0.0]
        var pi = 0, ni = 0
        for theta in thresholds {
            while pi < p.count && p[pi] >= theta { pi += 1 }
            while ni < n.count && n[ni] >= theta { ni += 1 }
            tp.append(Double(pi) / Double(p.count))
            fp.append(Double(ni) / Double(n.count))
        }
        return trapezoid(tp: tp, fp: fp)
    }

    static func trapezoid(tp: [Double], fp: [Double]) -> Double {
        var area = 0.0
        for i in 1..<tp.count { area += (fp[i] - fp[i - 1]) * (tp[i] + tp[i - 1]) / 2 }
        return area
    }
}
