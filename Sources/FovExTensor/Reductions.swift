import Foundation

extension Tensor {
    /// Moves `axes` to the end and returns (contiguous tensor, outer count, reduced count, kept shape).
    fileprivate func reductionLayout(_ axes: [Int]) -> (Tensor, Int, Int, [Int]) {
        let red = Set(axes.map(normalizedAxis))
        let kept = (0..<rank).filter { !red.contains($0) }
        let order = kept + red.sorted()
        let c = withoutGradients { permuted(order).contiguous() }
        let inner = red.reduce(1) { $0 * shape[$1] }
        return (c, count / Swift.max(inner, 1), inner, kept.map { shape[$0] })
    }

    fileprivate func reducedShape(_ axes: [Int], keep: Bool) -> [Int] {
        let red = Set(axes.map(normalizedAxis))
        return keep ? shape.enumerated().map { red.contains($0.offset) ? 1 : $0.element }
                    : shape.enumerated().filter { !red.contains($0.offset) }.map(\.element)
    }

    /// Sum over `axes` (all axes when empty). Differentiable.
    public func sum(alongAxes axes: [Int] = [], keepingDimensions keep: Bool = false) -> Tensor {
        let ax = axes.isEmpty ? Array(0..<rank) : axes
        let (c, outer, inner, _) = reductionLayout(ax)
        let out = Tensor.uninitialized(reducedShape(ax, keep: keep))
        let src = c.basePointer, dst = out.storage.pointer
        for o in 0..<outer {
            let p = src + o * inner
            var acc = Vec(repeating: 0)
            var i = 0
            while i + 16 <= inner { acc += loadVec(p + i); i += 16 }
            var s = acc.sum()
            while i < inner { s += p[i]; i += 1 }
            dst[o] = s
        }
        let inShape = shape, keptShape = reducedShape(ax, keep: true)
        return out.recorded(from: [self]) { g in [g.reshaped(keptShape).broadcast(to: inShape)] }
    }

    /// Running sums along `axis`: element i is the sum of elements 0…i (`exclusive`: 0…i−1; `reverse`: i…end,
    /// or i+1…end). Summed in Float64. Differentiable: the gradient is the running sum of g the other way.
    public func cumulativeSum(alongAxis axis: Int, exclusive: Bool = false, reverse: Bool = false) -> Tensor {
        let a = normalizedAxis(axis)
        let c = contiguous()
        let out = Tensor.uninitialized(shape)
        let n = shape[a], inner = shape[(a + 1)...].reduce(1, *), outer = shape[..<a].reduce(1, *)
        let src = c.basePointer, dst = out.storage.pointer
        for o in 0..<outer {
            for j in 0..<inner {
                var acc = 0.0
                for step in 0..<n {
                    let i = reverse ? n - 1 - step : step
                    let at = (o * n + i) * inner + j
                    if exclusive { dst[at] = Float(acc); acc += Double(src[at]) } else { acc += Double(src[at]); dst[at] = Float(acc) }
                }
            }
        }
        return out.recorded(from: [self]) { g in [g.cumulativeSum(alongAxis: a, exclusive: exclusive, reverse: !reverse)] }
    }

    /// Mean over `axes` (all axes when empty). Differentiable.
    public func mean(alongAxes axes: [Int] = [], keepingDimensions keep: Bool = false) -> Tensor {
        let ax = axes.isEmpty ? Array(0..<rank) : axes
        let n = ax.reduce(1) { $0 * shape[normalizedAxis($1)] }
        return sum(alongAxes: ax, keepingDimensions: keep) * (1 / Float(n))
    }

    /// Population variance (ddof 0) over `axes`. Differentiable.
    public func variance(alongAxes axes: [Int] = [], keepingDimensions keep: Bool = false) -> Tensor {
        let ax = axes.isEmpty ? Array(0..<rank) : axes
        let m = mean(alongAxes: ax, keepingDimensions: true)
        return (self - m).pow(2).mean(alongAxes: ax, keepingDimensions: keep)
    }

    private func extreme(_ axes: [Int], keep: Bool, isMax: Bool) -> (Tensor, [Int]) {
        let ax = axes.isEmpty ? Array(0..<rank) : axes
        let (c, outer, inner, _) = reductionLayout(ax)
        let out = Tensor.uninitialized(reducedShape(ax, keep: keep))
        var where_ = [Int](repeating: 0, count: outer)
        let src = c.basePointer
        for o in 0..<outer {
            let p = src + o * inner
            var best = p[0], at = 0
            for i in 1..<inner where isMax ? p[i] > best : p[i] < best { best = p[i]; at = i }
            out.storage.pointer[o] = best
            where_[o] = at
        }
        return (out, where_)
    }

    /// Maximum over `axes`; the gradient goes to the first maximal element. Differentiable.
    public func max(alongAxes axes: [Int] = [], keepingDimensions keep: Bool = false) -> Tensor {
        extremeRecorded(axes, keep: keep, isMax: true)
    }

    /// Minimum over `axes`; the gradient goes to the first minimal element. Differentiable.
    public func min(alongAxes axes: [Int] = [], keepingDimensions keep: Bool = false) -> Tensor {
        extremeRecorded(axes, keep: keep, isMax: false)
    }

    private func extremeRecorded(_ axes: [Int], keep: Bool, isMax: Bool) -> Tensor {
        let ax = axes.isEmpty ? Array(0..<rank) : axes
        let (out, at) = extreme(ax, keep: keep, isMax: isMax)
        let red = Set(ax.map(normalizedAxis))
        let kept = (0..<rank).filter { !red.contains($0) }
        let order = kept + red.sorted()
        let permShape = order.map { shape[$0] }
        var inverse = [Int](repeating: 0, count: rank)
        for (i, o) in order.enumerated() { inverse[o] = i }
        return out.recorded(from: [self]) { g in
            let gc = g.contiguous()
            let inner = permShape.reduce(1, *) / Swift.max(at.count, 1)
            let r = Tensor(zeros: permShape)
            for (o, i) in at.enumerated() { r.storage.pointer[o * inner + i] = gc.basePointer[o] }
            return [r.permuted(inverse)]
        }
    }

    /// Index of the largest element along `axis` (first on ties).
    public func argmax(alongAxis axis: Int) -> [Int] { extreme([axis], keep: false, isMax: true).1 }

    /// Index of the smallest element along `axis` (first on ties).
    public func argmin(alongAxis axis: Int) -> [Int] { extreme([axis], keep: false, isMax: false).1 }

    /// log Σ exp over `axes`, computed stably. Differentiable.
    public func logSumExp(alongAxes axes: [Int], keepingDimensions keep: Bool = false) -> Tensor {
        let m = withoutGradients { max(alongAxes: axes, keepingDimensions: true) }
        let s = (self - m).exp().sum(alongAxes: axes, keepingDimensions: true).log() + m
        return keep ? s : s.reshaped(reducedShape(axes, keep: false))
    }
}

// MARK: - Softmax family (fused kernels over the last axis)

extension Tensor {
    /// Rows of the last axis as (contiguous tensor, rows, row length).
    fileprivate var lastAxisRows: (Tensor, Int, Int) {
        let c = contiguous()
        let n = shape.last ?? 1
        return (c, count / Swift.max(n, 1), n)
    }

    /// Softmax over the last axis. Differentiable.
    public func softmax() -> Tensor {
        let (c, rows, n) = lastAxisRows
        let out = Tensor.uninitialized(shape)
        parallelChunks(rows, minimumChunk: Swift.max(1, 65536 / Swift.max(n, 1))) { range in
            for r in range { softmaxRow(c.basePointer + r * n, out.storage.pointer + r * n, n, log: false) }
        }
        return out.recorded(from: [self]) { g in
            // dx = y ⊙ (g − Σ g⊙y), one pass per row: as four tensor ops with three temporaries it took 1.3 ms
            // per ViT-B/16 block at batch 1, as one pass 0.1 ms (docs/results/floor.md).
            let gc = g.contiguous()
            let dx = Tensor.uninitialized(out.shape)
            parallelChunks(rows, minimumChunk: Swift.max(1, 65536 / Swift.max(n, 1))) { range in
                for r in range {
                    softmaxGradientRow(gc.basePointer + r * n, out.storage.pointer + r * n, dx.storage.pointer + r * n, n)
                }
            }
            return [dx]
        }
    }

    /// Log-softmax over the last axis. Differentiable.
    public func logSoftmax() -> Tensor {
        let (c, rows, n) = lastAxisRows
        let out = Tensor.uninitialized(shape)
        for r in 0..<rows { softmaxRow(c.basePointer + r * n, out.storage.pointer + r * n, n, log: true) }
        return out.recorded(from: [self]) { g in
            [g - out.exp() * g.sum(alongAxes: [-1], keepingDimensions: true)]
        }
    }

    /// Cross-entropy of logits `self` ([N, K]) against integer labels, per row:
    /// −log softmax(self)[i, labels[i]]. Returns shape [N]. Differentiable.
    public func crossEntropy(labels: [Int]) -> Tensor {
        precondition(rank == 2 && labels.count == shape[0], "crossEntropy needs [N, K] logits and N labels, got \(shape), \(labels.count)")
        let k = shape[1]
        let one = Tensor(shape: shape, scalars: labels.enumerated().flatMap { (i, l) -> [Float] in
            precondition(l >= 0 && l < k, "label \(l) out of range 0..<\(k) in row \(i)")
            var row = [Float](repeating: 0, count: k); row[l] = 1; return row
        })
        return -(logSoftmax() * one).sum(alongAxes: [1])
    }
}

@inline(__always) private func softmaxRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int, log: Bool) {
    if !log && n >= 16 { softmaxRowWithOverlappingTail(src, dst, n); return }
    // The row's maximum, sixteen lanes at a time (a NaN makes the whole row NaN either way).
    var lanes = Vec(repeating: -.infinity)
    var i = 0
    while i + 16 <= n { lanes = vmax(lanes, loadVec(src + i)); i += 16 }
    var m = lanes.max()
    while i < n { if src[i] > m { m = src[i] }; i += 1 }
    let mv = Vec(repeating: m)
    var acc = Vec(repeating: 0)
    i = 0
    while i + 16 <= n { let e = vexp(loadVec(src + i) - mv); storeVec(e, dst + i); acc += e; i += 16 }
    var s = acc.sum()
    if i < n {
        let e = vexp(loadPartial(src + i, n - i) - mv)
        for j in 0..<(n - i) { dst[i + j] = e[j]; s += e[j] }
    }
    if log {
        let ls = Foundation.log(s) + m
        for j in 0..<n { dst[j] = src[j] - ls }
    } else {
        let inv = Vec(repeating: 1 / s)
        i = 0
        while i + 16 <= n { storeVec(loadVec(dst + i) * inv, dst + i); i += 16 }
        while i < n { dst[i] *= inv[0]; i += 1 }
    }
}

/// Softmax of a row of at least 16 values, whose tail is the row's last 16 values read as one vector (overlapping
/// the vector before it) instead of lane by lane: on ViT-B/16's attention rows (197 values, twelve vectors and five
/// more) the pass's softmax steps took 4.0 ms instead of 4.9 (docs/design/onnx-speed.md).
@inline(__always) private func softmaxRowWithOverlappingTail(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                                                          _ n: Int) {
    let last = n - 16
    // The maximum: the overlapping tail counts its lanes twice, which a maximum ignores (a NaN makes the row NaN
    // through the exponentials below either way).
    var lanes = loadVec(src + last)
    var i = 0
    while i + 16 <= n { lanes = vmax(lanes, loadVec(src + i)); i += 16 }
    let mv = Vec(repeating: lanes.max())
    var acc = Vec(repeating: 0)
    i = 0
    while i + 16 <= n { let e = vexp(loadVec(src + i) - mv); storeVec(e, dst + i); acc += e; i += 16 }
    if i < n {
        // Lanes before index 16 − (n − i) were summed already; they are rewritten with the same values.
        var e = vexp(loadVec(src + last) - mv)
        storeVec(e, dst + last)
        let index = Vec(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        e.replace(with: 0, where: index .< Vec(repeating: Float(16 - (n - i))))
        acc += e
    }
    let inv = Vec(repeating: 1 / acc.sum())
    // The tail's unscaled values are read before the full vectors are scaled, and written last.
    let tail = loadVec(dst + last)
    i = 0
    while i + 16 <= n { storeVec(loadVec(dst + i) * inv, dst + i); i += 16 }
    storeVec(tail * inv, dst + last)
}

/// One row of softmax's input gradient: dx = y ⊙ (g − Σ g⊙y).
@inline(__always) private func softmaxGradientRow(_ g: UnsafePointer<Float>, _ y: UnsafePointer<Float>,
                                                  _ dx: UnsafeMutablePointer<Float>, _ n: Int) {
    var acc = Vec(repeating: 0)
    var i = 0
    while i + 16 <= n { acc += loadVec(g + i) * loadVec(y + i); i += 16 }
    var dot = acc.sum()
    while i < n { dot += g[i] * y[i]; i += 1 }
    let dv = Vec(repeating: dot)
    i = 0
    while i + 16 <= n { storeVec(loadVec(y + i) * (loadVec(g + i) - dv), dx + i); i += 16 }
    while i < n { dx[i] = y[i] * (g[i] - dot); i += 1 }
}
