import Foundation
import FovExTensor

/// A continuous fixation map: fixated pixels (1 each) blurred with a Gaussian of `sigma` pixels
/// (kernel 2·⌈3σ⌉ + 1, zero padding), as the saliency benchmarks build their CC and KLD targets.
func fixationDensity(_ fixations: [PixelPoint], height: Int, width: Int, sigma: Float) -> [Float] {
    var v = [Float](repeating: 0, count: height * width)
    for f in fixations { v[f.y * width + f.x] += 1 }
    guard sigma > 0 else { return v }
    let radius = Swift.min(Int((3 * sigma).rounded(.up)), (Swift.min(height, width) - 1) / 2)
    let k = 2 * radius + 1
    let t = Tensor(shape: [1, 1, height, width], scalars: v)
    return withoutGradients { t.gaussianBlurred(kernelSize: k, sigma: sigma, padding: .zeros) }.scalars
}

/// Pearson's linear correlation coefficient between the map and the blurred fixation map.
/// A constant map scores 0. Higher is better.
public struct CorrelationCoefficient: GazeMetric {
    /// σ in pixels of the Gaussian that turns fixations into a density.
    public var fixationSigma: Float

    public init(fixationSigma: Float = 19) { self.fixationSigma = fixationSigma }

    public var name: String { "cc" }
    public var direction: MetricDirection { .higherIsBetter }
    public var options: [String: String] { ["fixation_sigma_px": "\(fixationSigma)"] }

    public func evaluate(map: Tensor, fixations: [PixelPoint], otherFixations: [PixelPoint]) -> MetricResult {
        let (h, w) = (map.shape[0], map.shape[1])
        let (v, warnings, constant) = MapCheck.cleaned(map, metric: name)
        guard !fixations.isEmpty else { return MetricResult(value: .nan, warnings: warnings + ["cc: no fixations"]) }
        if constant { return MetricResult(value: 0, warnings: warnings) }
        let d = fixationDensity(fixations, height: h, width: w, sigma: fixationSigma)
        let n = Double(v.count)
        let ma = v.reduce(0.0) { $0 + Double($1) } / n, mb = d.reduce(0.0) { $0 + Double($1) } / n
        var sab = 0.0, saa = 0.0, sbb = 0.0
        for i in v.indices {
            let a = Double(v[i]) - ma, b = Double(d[i]) - mb
            sab += a * b; saa += a * a; sbb += b * b
        }
        return MetricResult(value: sab / (saa * sbb).squareRoot(), warnings: warnings)
    }
}

/// Kullback–Leibler divergence KL(P ‖ Q) of the blurred fixation map P from the map Q, both scaled to
/// sum 1: Σ P · log(ε + P / (Q + ε)) with ε = 2.2204e−16, as the MIT benchmark computes it.
/// Lower is better.
public struct KLDivergence: GazeMetric {
    public var fixationSigma: Float

    public init(fixationSigma: Float = 19) { self.fixationSigma = fixationSigma }

    public var name: String { "kld" }
    public var direction: MetricDirection { .lowerIsBetter }
    public var options: [String: String] { ["fixation_sigma_px": "\(fixationSigma)"] }

    public func evaluate(map: Tensor, fixations: [PixelPoint], otherFixations: [PixelPoint]) -> MetricResult {
        let (h, w) = (map.shape[0], map.shape[1])
        var (v, warnings, _) = MapCheck.cleaned(map, metric: name)
        guard !fixations.isEmpty else { return MetricResult(value: .nan, warnings: warnings + ["kld: no fixations"]) }
        let lo = v.min() ?? 0
        if lo < 0 { for i in v.indices { v[i] -= lo } }
        let d = fixationDensity(fixations, height: h, width: w, sigma: fixationSigma)
        let sq = v.reduce(0.0) { $0 + Double($1) }, sp = d.reduce(0.0) { $0 + Double($1) }
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
