import FovExTensor

/// Pearson's linear correlation coefficient (CC) between the map and the fixation density (the
/// distinct fixated pixels blurred with a Gaussian of `fixationSigma` pixels). The map must be at
/// the image's size. A constant map scores 0 (no linear relation), with a warning; an image without
/// fixations, or whose density is constant, has no value. Higher is better.
public struct CorrelationCoefficient: GazeMetric {
    /// σ in pixels of the Gaussian that turns fixations into a density (0: the binary fixation map).
    public var fixationSigma: Float

    /// CC against fixations blurred with a Gaussian of `fixationSigma` pixels.
    public init(fixationSigma: Float = 19) {
        precondition(fixationSigma >= 0, "cc: fixation sigma \(fixationSigma) must not be negative")
        self.fixationSigma = fixationSigma
    }

    public var name: String { "cc" }
    public var direction: MetricDirection { .higherIsBetter }
    public var options: [String: String] { ["cc_fixation_sigma_px": "\(fixationSigma)"] }

    public func evaluate(map: Tensor, fixations: [PixelPoint], otherFixations: [PixelPoint]) -> MetricResult {
        let (h, w) = (map.shape[0], map.shape[1])
        let (v, mapWarnings, constant) = MapCheck.cleaned(map, metric: name)
        let (points, pointWarnings) = MapCheck.distinctPoints(fixations, height: h, width: w, metric: name)
        let warnings = mapWarnings + pointWarnings
        guard !points.isEmpty else { return .missing("no fixations on the image", warnings: warnings) }
        if constant { return MetricResult(value: 0, warnings: warnings) }
        let d = fixationDensity(points, height: h, width: w, sigma: fixationSigma)
        let n = Double(v.count)
        let ma = v.reduce(0.0) { $0 + Double($1) } / n, mb = d.reduce(0.0) { $0 + Double($1) } / n
        var sab = 0.0, saa = 0.0, sbb = 0.0
        for i in v.indices {
            let a = Double(v[i]) - ma, b = Double(d[i]) - mb
            sab += a * b; saa += a * a; sbb += b * b
        }
        // Every pixel fixated leaves a constant density: no correlation can be measured.
        guard sbb > 0 else { return .missing("the fixation density is constant (every pixel fixated)", warnings: warnings) }
        return MetricResult(value: sab / (saa * sbb).squareRoot(), warnings: warnings)
    }
}
