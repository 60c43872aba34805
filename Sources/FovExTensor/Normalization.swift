import Foundation

extension Tensor {
    /// Batch normalisation in inference form on axis 1 (channels) of an [N, C, …] tensor:
    /// (x − mean) / √(variance + ε) · scale + offset with the stored statistics, computed as
    /// PyTorch does, x · α + β with α = scale / √(variance + ε) and β = offset − mean · α.
    ///
    /// All parameters are [C] constants; `scale` defaults to ones and `offset` to zeros. Keeps a
    /// channels-last input's layout. Differentiable with respect to the input.
    public func batchNorm(mean: Tensor, variance: Tensor, scale: Tensor? = nil, offset: Tensor? = nil,
                          epsilon: Float = 1e-5) -> Tensor {
        precondition(rank >= 2, "batchNorm needs an [N, C, …] tensor, got shape \(shape)")
        let (alpha, beta) = batchNormCoefficients(channels: shape[1], mean: mean, variance: variance, scale: scale,
                                                  offset: offset, epsilon: epsilon)
        return channelAffine(alpha, beta).recorded(from: [self]) { g in [g.channelAffine(alpha, nil)] }
    }

    /// x · a[c] (+ b[c]) on axis 1, in the tensor's layout when its channels are innermost
    /// (channels-last, or a row-major [N, C]), else on row-major planes.
    fileprivate func channelAffine(_ a: [Float], _ b: [Float]?) -> Tensor {
        let c = shape[1]
        let channelsInnermost = isChannelsLast || (rank == 2 && isContiguous)
        let x = channelsInnermost ? self : contiguous()
        let out = Tensor.uninitialized(like: x)
        let src = x.basePointer, dst = out.storage.pointer
        let bias = b ?? [Float](repeating: 0, count: c)
        a.withUnsafeBufferPointer { ap in
            bias.withUnsafeBufferPointer { bp in
                let (av, bv) = (ap.baseAddress!, bp.baseAddress!)
                if channelsInnermost {
                    let pixels = count / Swift.max(c, 1)
                    splitAcrossThreads(pixels, work: count) { range in
                        for p in range {
                            let s = src + p * c, d = dst + p * c
                            var k = 0
                            while k + 16 <= c {
                                storeVec(loadVec(s + k) * loadVec(av + k) + loadVec(bv + k), d + k)
                                k += 16
                            }
                            while k < c { d[k] = s[k] * av[k] + bv[k]; k += 1 }
                        }
                    }
                } else {
                    let inner = count / Swift.max(shape[0] * c, 1)
                    splitAcrossThreads(shape[0] * c, work: count) { range in
                        for plane in range {
                            let ch = plane % c
                            let s = src + plane * inner, d = dst + plane * inner
                            let (scaleV, shiftV) = (Vec(repeating: av[ch]), Vec(repeating: bv[ch]))
                            var k = 0
                            while k + 16 <= inner { storeVec(loadVec(s + k) * scaleV + shiftV, d + k); k += 16 }
                            while k < inner { d[k] = s[k] * av[ch] + bv[ch]; k += 1 }
                        }
                    }
                }
            }
        }
        return out
    }
}

/// The per-channel (α, β) of inference batch norm: α = scale / √(variance + ε), β = offset − mean · α.
private func batchNormCoefficients(channels c: Int, mean: Tensor, variance: Tensor, scale: Tensor?, offset: Tensor?,
                                   epsilon: Float) -> (alpha: [Float], beta: [Float]) {
    for (name, t) in [("mean", mean), ("variance", variance), ("scale", scale), ("offset", offset)] {
        guard let t else { continue }
        precondition(t.count == c, "batch norm \(name) has shape \(t.shape); expected \(c) values (one per channel)")
        precondition(t.node == nil, "batch norm \(name) is a constant; gradients with respect to it are not computed")
    }
    let m = mean.scalars, v = variance.scalars
    let s = scale?.scalars ?? [Float](repeating: 1, count: c)
    let o = offset?.scalars ?? [Float](repeating: 0, count: c)
    let alpha = (0..<c).map { s[$0] * (1 / (v[$0] + epsilon).squareRoot()) }
    return (alpha, (0..<c).map { o[$0] - m[$0] * alpha[$0] })
}

/// Folds an inference batch norm into the convolution before it, so that
/// `x.conv2d(weight: w′, bias: b′)` equals `x.conv2d(weight: w, bias: b).batchNorm(…)`:
/// w′ = w · α per output channel and b′ = (b − mean) · α + offset with α = scale / √(variance + ε)
/// (the arithmetic of PyTorch's `fuse_conv_bn_weights`).
///
/// - Parameters:
///   - weight: the convolution's [O, I, kH, kW] weights (any rank with the output channels first).
///   - bias: its [O] bias, or `nil` for none (zeros).
///   - mean: the batch norm's [O] running mean.
///   - variance: its [O] running variance.
///   - scale: its [O] affine scale (γ); `nil` for ones.
///   - offset: its [O] affine offset (β); `nil` for zeros.
///   - epsilon: the ε added to the variance (PyTorch's default 1e−5; EfficientNet-Lite uses 1e−3).
/// - Returns: the folded weight (row-major, `weight`'s shape) and bias ([O]).
public func foldBatchNorm(intoConvWeight weight: Tensor, bias: Tensor?, mean: Tensor, variance: Tensor,
                          scale: Tensor? = nil, offset: Tensor? = nil, epsilon: Float = 1e-5)
    -> (weight: Tensor, bias: Tensor) {
    precondition(weight.rank >= 1, "foldBatchNorm needs weights with the output channels first, got shape \(weight.shape)")
    let o = weight.shape[0]
    if let bias { precondition(bias.count == o, "foldBatchNorm: bias shape \(bias.shape) for \(o) output channels") }
    let (alpha, _) = batchNormCoefficients(channels: o, mean: mean, variance: variance, scale: scale, offset: offset,
                                           epsilon: epsilon)
    let m = mean.scalars, v = variance.scalars
    let s = scale?.scalars ?? [Float](repeating: 1, count: o)
    let beta = offset?.scalars ?? [Float](repeating: 0, count: o)
    let b = bias?.scalars ?? [Float](repeating: 0, count: o)
    let folded = withoutGradients { weight.contiguous() }.scalars
    let per = folded.count / Swift.max(o, 1)
    var w = folded
    for k in 0..<o {
        for j in 0..<per { w[k * per + j] *= alpha[k] }
    }
    let newBias = (0..<o).map { (b[$0] - m[$0]) * (1 / (v[$0] + epsilon).squareRoot()) * s[$0] + beta[$0] }
    return (Tensor(shape: weight.shape, scalars: w), Tensor(shape: [o], scalars: newBias))
}

extension Tensor {
    /// Layer normalisation over the last axis: (x − μ) / √(σ² + ε) · weight + bias, with the row's
    /// mean μ and population variance σ², as PyTorch's `layer_norm`.
    ///
    /// `weight` and `bias` are constants shaped like the last axis (ones and zeros when `nil`).
    /// Fused SIMD kernels compute the forward pass and the input gradient. Differentiable with
    /// respect to the input.
    public func layerNorm(weight: Tensor? = nil, bias: Tensor? = nil, epsilon: Float = 1e-5) -> Tensor {
        precondition(rank >= 1 && shape[rank - 1] > 0, "layerNorm needs a non-empty last axis, got shape \(shape)")
        let d = shape[rank - 1]
        for (name, t) in [("weight", weight), ("bias", bias)] {
            guard let t else { continue }
            precondition(t.count == d, "layerNorm \(name) has shape \(t.shape); expected \(d) values")
            precondition(t.node == nil, "layerNorm \(name) is a constant; gradients with respect to it are not computed")
        }
        let x = contiguous()
        let rows = count / d
        let gamma = weight?.scalars ?? [Float](repeating: 1, count: d)
        let beta = bias?.scalars ?? [Float](repeating: 0, count: d)
        var means = [Float](repeating: 0, count: rows), rstds = [Float](repeating: 0, count: rows)
        let out = Tensor.uninitialized(shape)
        let (src, dst) = (x.basePointer, out.storage.pointer)
        means.withUnsafeMutableBufferPointer { mb in
            rstds.withUnsafeMutableBufferPointer { rb in
                gamma.withUnsafeBufferPointer { gb in
                    beta.withUnsafeBufferPointer { bb in
                        let (mp, rp, gp, bp) = (mb.baseAddress!, rb.baseAddress!, gb.baseAddress!, bb.baseAddress!)
                        splitAcrossThreads(rows, work: 4 * count) { range in
                            for r in range {
                                (mp[r], rp[r]) = layerNormRow(src + r * d, dst + r * d, d, gp, bp, epsilon)
                            }
                        }
                    }
                }
            }
        }
        return out.recorded(from: [x]) { g in
            let gc = g.contiguous()
            let dx = Tensor.uninitialized(x.shape)
            let (gs, dxp) = (gc.basePointer, dx.storage.pointer)
            means.withUnsafeBufferPointer { mb in
                rstds.withUnsafeBufferPointer { rb in
                    gamma.withUnsafeBufferPointer { gb in
                        let (mp, rp, gp) = (mb.baseAddress!, rb.baseAddress!, gb.baseAddress!)
                        splitAcrossThreads(rows, work: 6 * x.count) { range in
                            for r in range {
                                layerNormBackwardRow(src + r * d, gs + r * d, dxp + r * d, d, gp, mp[r], rp[r])
                            }
                        }
                    }
                }
            }
            return [dx]
        }
    }
}

/// Normalises one row; returns its mean and 1/√(σ² + ε). Two passes (mean, then squared
/// deviations) keep the variance accurate when the mean is large.
@inline(__always) private func layerNormRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ d: Int,
                                            _ gamma: UnsafePointer<Float>, _ beta: UnsafePointer<Float>,
                                            _ epsilon: Float) -> (Float, Float) {
    var acc = Vec(repeating: 0)
    var i = 0
    while i + 16 <= d { acc += loadVec(x + i); i += 16 }
    var sum = acc.sum()
    while i < d { sum += x[i]; i += 1 }
    let mean = sum / Float(d)
    let mv = Vec(repeating: mean)
    acc = Vec(repeating: 0)
    i = 0
    while i + 16 <= d { let t = loadVec(x + i) - mv; acc += t * t; i += 16 }
    var squares = acc.sum()
    while i < d { let t = x[i] - mean; squares += t * t; i += 1 }
    let rstd = 1 / (squares / Float(d) + epsilon).squareRoot()
    let rv = Vec(repeating: rstd)
    i = 0
    while i + 16 <= d {
        storeVec((loadVec(x + i) - mv) * rv * loadVec(gamma + i) + loadVec(beta + i), y + i)
        i += 16
    }
    while i < d { y[i] = (x[i] - mean) * rstd * gamma[i] + beta[i]; i += 1 }
    return (mean, rstd)
}

/// The input gradient of one row: with x̂ = (x − μ)·r and ĝ = g·γ,
/// dx = r · (ĝ − mean(ĝ) − x̂ · mean(ĝ ⊙ x̂)).
@inline(__always) private func layerNormBackwardRow(_ x: UnsafePointer<Float>, _ g: UnsafePointer<Float>,
                                                    _ dx: UnsafeMutablePointer<Float>, _ d: Int,
                                                    _ gamma: UnsafePointer<Float>, _ mean: Float, _ rstd: Float) {
    let mv = Vec(repeating: mean), rv = Vec(repeating: rstd)
    var sg = Vec(repeating: 0), sgx = Vec(repeating: 0)
    var i = 0
    while i + 16 <= d {
        let gh = loadVec(g + i) * loadVec(gamma + i)
        sg += gh
        sgx += gh * ((loadVec(x + i) - mv) * rv)
        i += 16
    }
    var sumG = sg.sum(), sumGX = sgx.sum()
    while i < d {
        let gh = g[i] * gamma[i]
        sumG += gh
        sumGX += gh * ((x[i] - mean) * rstd)
        i += 1
    }
    let meanG = Vec(repeating: sumG / Float(d)), meanGX = Vec(repeating: sumGX / Float(d))
    i = 0
    while i + 16 <= d {
        let gh = loadVec(g + i) * loadVec(gamma + i)
        let xh = (loadVec(x + i) - mv) * rv
        storeVec(rv * (gh - meanG - xh * meanGX), dx + i)
        i += 16
    }
    while i < d {
        let xh = (x[i] - mean) * rstd
        dx[i] = rstd * (g[i] * gamma[i] - meanG[0] - xh * meanGX[0])
        i += 1
    }
}
