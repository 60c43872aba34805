import FovExModels
import FovExTensor

/// The machinery shared by deletion and insertion (RISE's causal metric): pixels are moved from
/// a start image to a finish image in order of decreasing saliency, `step` at a time, and the
/// class probability is scored after each move. The n + 1 images of a curve go through the model
/// `batchSize` at a time.
struct CausalCurve {
    /// Pixels moved per iteration.
    var step: Int
    /// Images per forward pass.
    var batchSize: Int

    /// Pixel indices by decreasing saliency; ties keep index order (a stable sort), so a constant map
    /// moves pixels in row-major order.
    static func order(_ saliency: [Float]) -> [Int] {
        saliency.indices.sorted { a, b in saliency[a] != saliency[b] ? saliency[a] > saliency[b] : a < b }
    }

    /// The trapezoid area under n+1 equally spaced scores on [0, 1]: (Σ s − s₀/2 − sₙ/2) / n.
    static func area(_ scores: [Double]) -> Double {
        guard scores.count > 1 else { return scores.first ?? 0 }
        let n = Double(scores.count - 1)
        return (scores.reduce(0, +) - scores[0] / 2 - scores[scores.count - 1] / 2) / n
    }

    /// Scores s₀…sₙ for one image: start [3, H, W] → finish [3, H, W] in saliency order.
    func scores(model: ImageClassifier, start: Tensor, finish: Tensor, saliency: [Float], classIndex: Int) -> [Double] {
        let (h, w) = (start.shape[1], start.shape[2])
        let hw = h * w
        precondition(saliency.count == hw, "causal curve: saliency has \(saliency.count) values for a \(h)×\(w) image")
        let n = (hw + step - 1) / step
        let order = CausalCurve.order(saliency)
        let s = start.contiguous().scalars, f = finish.contiguous().scalars
        var current = s
        var out: [Double] = []
        out.reserveCapacity(n + 1)
        var pending: [Float] = []
        var pendingCount = 0
        func flush() {
            guard pendingCount > 0 else { return }
            let batch = Tensor(shape: [pendingCount, 3, h, w], scalars: pending)
            let p = withoutGradients { model.probabilities(batch) }
            for i in 0..<pendingCount { out.append(Double(p[i, classIndex])) }
            pending.removeAll(keepingCapacity: true)
            pendingCount = 0
        }
        for i in 0...n {
            pending += current
            pendingCount += 1
            if pendingCount == batchSize { flush() }
            if i < n {
                for k in (i * step)..<Swift.min((i + 1) * step, hw) {
                    let px = order[k]
                    for c in 0..<3 { current[c * hw + px] = f[c * hw + px] }
                }
            }
        }
        flush()
        return out
    }
}
