// Vectorised transcendental functions for the element-wise kernels. glibc's scalar expf/erff
// are 5–10× slower per element; these stay within a few ULP (exp, log) or 2e-7 absolute (erf).
// The functions are @_transparent, not @inline(__always): the latter left vexp a call inside the
// element-wise loops, passing each vector through memory (GELU ran 4× slower; docs/design/conventions.md).

typealias Vec = SIMD16<Float>
typealias VecBits = SIMD16<UInt32>

@inline(__always) func vselect(_ mask: SIMDMask<SIMD16<Int32>>, _ a: Vec, _ b: Vec) -> Vec {
    var r = b
    r.replace(with: a, where: mask)
    return r
}

@inline(__always) func vmax(_ a: Vec, _ b: Vec) -> Vec { vselect(a .> b, a, b) }
@inline(__always) func vmin(_ a: Vec, _ b: Vec) -> Vec { vselect(a .< b, a, b) }

/// a·b + c: one fused multiply-add (a single rounding) where the build targets a CPU that has it (`FOVEX_FMA`,
/// defined by Package.swift for native x86-64 builds, which the Makefile makes only on CPUs with FMA; always on
/// arm64). Swift never contracts `a * b + c` itself, so the polynomials below were a multiply and an add per
/// step; fused, GELU's forward pass on ViT-B/16's MLP activations ran 1.2× faster (docs/design/conventions.md). A
/// portable x86-64 build keeps the two operations: there the fused form would be a library call per lane.
@_transparent func vfma(_ a: Vec, _ b: Vec, _ c: Vec) -> Vec {
#if FOVEX_FMA || arch(arm64)
    return c.addingProduct(a, b)
#else
    return a * b + c
#endif
}

/// e^x, relative error ≲ 2 ULP, saturating to 0 below -87.3 and to +∞ above 88.7.
@_transparent func vexp(_ x: Vec) -> Vec {
    let hi = Vec(repeating: 88.72283), lo = Vec(repeating: -87.33654)
    let xc = vmin(vmax(x, lo), hi)
    let magic = Vec(repeating: 12582912)  // 1.5·2^23: adding it rounds to an integer
    let t: Vec = vfma(xc, Vec(repeating: 1.44269504088896341), magic)
    let n: Vec = t - magic
    var r: Vec = vfma(n, Vec(repeating: -0.693359375), xc)
    r = vfma(n, Vec(repeating: 2.12194440e-4), r)
    var p: Vec = Vec(repeating: 1.9875691500e-4)
    p = vfma(p, r, Vec(repeating: 1.3981999507e-3))
    p = vfma(p, r, Vec(repeating: 8.3334519073e-3))
    p = vfma(p, r, Vec(repeating: 4.1665795894e-2))
    p = vfma(p, r, Vec(repeating: 1.6666665459e-1))
    p = vfma(p, r, Vec(repeating: 5.0000001201e-1))
    let r2: Vec = r * r
    var y: Vec = vfma(p, r2, r)
    y = y + 1
    // 2^n from the integer sitting in t's low mantissa bits.
    let bits = unsafeBitCast(t, to: VecBits.self) &- 0x4B40_0000 &+ 127
    let scale = unsafeBitCast(bits &<< 23, to: Vec.self)
    var out = y * scale
    out.replace(with: .infinity, where: x .> hi)
    out.replace(with: 0, where: x .< lo)
    out.replace(with: x, where: x .!= x)
    return out
}

/// Natural logarithm (Cephes polynomial); log(0) = -∞, log(x<0) = NaN.
@_transparent func vlog(_ x: Vec) -> Vec {
    let bits = unsafeBitCast(x, to: VecBits.self)
    var e = Vec(SIMD16<Int32>(truncatingIfNeeded: (bits &>> 23) & 0xFF)) - 126
    var m = unsafeBitCast((bits & 0x007F_FFFF) | 0x3F00_0000, to: Vec.self)  // in [0.5, 1)
    let small = m .< 0.707106781186547524
    e.replace(with: e - 1, where: small)
    m.replace(with: m + m, where: small)
    m = m - 1
    let z: Vec = m * m
    var p = Vec(repeating: 7.0376836292e-2)
    p = vfma(p, m, Vec(repeating: -1.1514610310e-1))
    p = vfma(p, m, Vec(repeating: 1.1676998740e-1))
    p = vfma(p, m, Vec(repeating: -1.2420140846e-1))
    p = vfma(p, m, Vec(repeating: 1.4249322787e-1))
    p = vfma(p, m, Vec(repeating: -1.6668057665e-1))
    p = vfma(p, m, Vec(repeating: 2.0000714765e-1))
    p = vfma(p, m, Vec(repeating: -2.4999993993e-1))
    p = vfma(p, m, Vec(repeating: 3.3333331174e-1))
    var y: Vec = p * m * z
    y = y + e * -2.12194440e-4
    y = y - z * 0.5
    var out: Vec = m + y
    out = out + e * 0.693359375
    out.replace(with: -.infinity, where: x .== 0)
    out.replace(with: .nan, where: x .< 0)
    out.replace(with: x, where: x .== .infinity)
    out.replace(with: x, where: x .!= x)
    return out
}

/// erf(x), Abramowitz & Stegun 7.1.26 refined (absolute error < 1.5e-7).
@_transparent func verf(_ x: Vec) -> Vec {
    let ax = vselect(x .< 0, -x, x)
    let t: Vec = 1 / vfma(ax, Vec(repeating: 0.3275911), Vec(repeating: 1))
    var p = Vec(repeating: 1.061405429)
    p = vfma(p, t, Vec(repeating: -1.453152027))
    p = vfma(p, t, Vec(repeating: 1.421413741))
    p = vfma(p, t, Vec(repeating: -0.284496736))
    p = vfma(p, t, Vec(repeating: 0.254829592))
    p = p * t
    let e = vexp(-(ax * ax))
    let y: Vec = vfma(-p, e, Vec(repeating: 1))
    // Near zero the rational form loses relative accuracy; use the Taylor series there.
    let x2: Vec = x * x
    var s: Vec = vfma(x2, Vec(repeating: -1.0 / 42.0), Vec(repeating: 0.1))
    s = vfma(s, x2, Vec(repeating: -1.0 / 3.0))
    s = vfma(s, x2, Vec(repeating: 1))
    let taylor: Vec = s * x * 1.1283791670955126
    var out = vselect(x .< 0, -y, y)
    out.replace(with: taylor, where: ax .< 0.1)
    return out
}

/// tanh(x) through e^{-2|x|}.
@_transparent func vtanh(_ x: Vec) -> Vec {
    let ax = vselect(x .< 0, -x, x)
    let e = vexp(ax * -2)
    var y: Vec = (1 - e) / (1 + e)
    // Small |x|: odd Taylor polynomial keeps relative accuracy.
    let x2: Vec = x * x
    var s: Vec = x2 * (17.0 / 315.0) * -1 + 2.0 / 15.0
    s = vfma(s, x2, Vec(repeating: -1.0 / 3.0))
    s = vfma(s, x2, Vec(repeating: 1))
    let small: Vec = s * ax
    y.replace(with: small, where: ax .< 0.05)
    return vselect(x .< 0, -y, y)
}

/// 1 / (1 + e^{-x}).
@_transparent func vsigmoid(_ x: Vec) -> Vec { 1 / (1 + vexp(-x)) }

/// Scalar helpers built on the vector kernels, so scalar and vector results agree exactly.
@inline(__always) func scalarVia(_ f: (Vec) -> Vec, _ x: Float) -> Float { f(Vec(repeating: x))[0] }
