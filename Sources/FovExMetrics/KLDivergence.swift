import Foundation
import FovExTensor

/// Kullback–Leibler divergence KL(P ‖ Q) of the fixation density P (as for
/// ``CorrelationCoefficient``) from the map Q, both scaled to sum 1:
/// Σ P · log(ε + P / (Q + ε)) with ε = 2.2204e−16, as the MIT benchmark computes it. A map with
/// negative values is first shifted to minimum 0; a map with no mass at all counts as uniform
/// (with a warning); an image without fixations has no value. Lower is better.
public struct KLDivergence: GazeMetric {
    /// σ in pixels of the Gaussian that turns fixations into a density (0: the binary fixation map).
    public var fixationSigma: Float

    /// KL divergence from fixations blurred with a Gaussian of `fixationSigma` pixels.
    public init(fixationSigma: Float = 19) {
        precondition(fixationSigma >= 0, "kld: fixation sigma \(fixationSigma) must not be negative")
        self.fixationSigma = fixationSigma
    }

    public var name: String { "kld" }
    public var direction: MetricDirection { .lowerIsBetter }
    public var options: [String: String] { ["kld_fixation_sigma_px": "\(fixationSigma)", "kld_epsilon": "2.2204e-16"] }

    public func evaluate(map: Tensor, fixations: [PixelPoint], otherFixations: [PixelPoint]) -> MetricResult {
        let (h, w) = (map.shape[0], map.shape[1])
        var (v, warnings, _) = MapCheck.cleaned(map, metric: name)
        let (points, pointWarnings) = MapCheck.distinctPoints(fixations, height: h, width: w, metric: name)
        warnings += pointWarnings
        guard !points.isEmpty else { return .missing("no fixations on the image", warnings: warnings) }
        let lo = v.min() ?? 0
        if lo < 0 { v = v.map { $0 - lo } }
        let d = fixationDensity(points, height: h, width: w, sigma: fixationSigma)
        let sq = v.reduce(0.0) { $0 + Double($1) }, sp = d.reduce(0.0) { $0 + Double($1) }
        if !(sq > 0) { warnings.append("kld: the map has no mass; it counts as uniform") }
        let eps = 2.2204e-16
        var kl = 0.0
        for i in v.indices {
            let q = sq > 0 ? Double(v[i]) / sq : 1 / Double(v.count)
            let p = Double(d[i]) / sp
            kl += p * Foundation.log(eps + p / (q + eps))
        }
        return MetricResult(value: kl, warnings: warnings)
    }
}
