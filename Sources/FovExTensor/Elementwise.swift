import Foundation

/// An element-wise function of one vector.
protocol UnaryKernel { static func apply(_ x: Vec) -> Vec }
/// An element-wise function of two vectors.
protocol BinaryKernel { static func apply(_ a: Vec, _ b: Vec) -> Vec }

@inline(__always) func loadPartial(_ p: UnsafePointer<Float>, _ n: Int) -> Vec {
    var v = Vec(repeating: 0)
    for i in 0..<n { v[i] = p[i] }
    return v
}

@inline(__always) func storePartial(_ v: Vec, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
    for i in 0..<n { p[i] = v[i] }
}

@inline(__always) func loadVec(_ p: UnsafePointer<Float>) -> Vec {
    UnsafeRawPointer(p).loadUnaligned(as: Vec.self)
}

@inline(__always) func storeVec(_ v: Vec, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec.self)
}

/// Splits `count` elements into chunks worked on by the thread pool when the work is large enough.
@inline(__always) func parallelChunks(_ count: Int, minimumChunk: Int = 1 << 16, _ body: (Range<Int>) -> Void) {
    let workers = Swift.min(Threading.threadCount, Swift.max(1, count / minimumChunk))
    if workers <= 1 { body(0..<count); return }
    let chunk = ((count + workers - 1) / workers + 15) & ~15
    parallelFor(workers) { w in
        let lo = w * chunk, hi = Swift.min(count, lo + chunk)
        if lo < hi { body(lo..<hi) }
    }
}

func mapBuffer<K: UnaryKernel>(_: K.Type, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    parallelChunks(n) { r in
        var i = r.lowerBound
        while i + 16 <= r.upperBound { storeVec(K.apply(loadVec(src + i)), dst + i); i += 16 }
        if i < r.upperBound { storePartial(K.apply(loadPartial(src + i, r.upperBound - i)), dst + i, r.upperBound - i) }
    }
}

func zipBuffers<K: BinaryKernel>(_: K.Type, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                 _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    parallelChunks(n) { r in
        var i = r.lowerBound
        while i + 16 <= r.upperBound { storeVec(K.apply(loadVec(a + i), loadVec(b + i)), dst + i); i += 16 }
        let m = r.upperBound - i
        if m > 0 { storePartial(K.apply(loadPartial(a + i, m), loadPartial(b + i, m)), dst + i, m) }
    }
}

/// One row of `zip(row, scalar)` (or `zip(scalar, row)` when `scalarFirst`), on the calling thread.
@inline(__always) func zipRowScalar<K: BinaryKernel>(_: K.Type, _ row: UnsafePointer<Float>, _ scalar: Float, scalarFirst: Bool,
                                                     _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    let sv = Vec(repeating: scalar)
    var i = 0
    if scalarFirst {
        while i + 16 <= n { storeVec(K.apply(sv, loadVec(row + i)), dst + i); i += 16 }
        if i < n { storePartial(K.apply(sv, loadPartial(row + i, n - i)), dst + i, n - i) }
    } else {
        while i + 16 <= n { storeVec(K.apply(loadVec(row + i), sv), dst + i); i += 16 }
        if i < n { storePartial(K.apply(loadPartial(row + i, n - i), sv), dst + i, n - i) }
    }
}

/// `zip(a, scalar)` (or `zip(scalar, a)` when `scalarFirst`) over `n` elements, split across the threads.
func zipScalar<K: BinaryKernel>(_: K.Type, _ a: UnsafePointer<Float>, _ b: Float, scalarFirst: Bool,
                                _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    parallelChunks(n) { r in
        zipRowScalar(K.self, a + r.lowerBound, b, scalarFirst: scalarFirst, dst + r.lowerBound, r.count)
    }
}

extension Tensor {
    /// Applies a unary kernel, keeping a dense input's layout.
    func map<K: UnaryKernel>(_ k: K.Type) -> Tensor {
        let src = isDense ? self : contiguous()
        let out = Tensor.uninitialized(like: src)
        mapBuffer(k, src.basePointer, out.storage.pointer, count)
        return out
    }

    /// Whether two same-shape tensors store their elements in the same order: equal strides on every axis
    /// of extent above 1 (an extent-1 axis's stride never addresses anything; a transposed [T, 1, C] view
    /// and a fresh [1, T, C] tensor differ only there).
    private static func sameLayout(_ a: Tensor, _ b: Tensor) -> Bool {
        for i in 0..<a.rank where a.shape[i] != 1 && a.strides[i] != b.strides[i] { return false }
        return true
    }

    /// Applies a binary kernel with broadcasting. Same-shape dense operands with the same layout
    /// (e.g. both channels-last) are processed in storage order and the layout is kept.
    static func zip<K: BinaryKernel>(_ a: Tensor, _ b: Tensor, _ k: K.Type) -> Tensor {
        if a.shape == b.shape && sameLayout(a, b) && a.isDense {
            let out = Tensor.uninitialized(like: a)
            zipBuffers(k, a.basePointer, b.basePointer, out.storage.pointer, a.count)
            return out
        }
        if b.count == 1 && b.rank <= a.rank {
            let src = a.isDense ? a : a.contiguous()
            let out = Tensor.uninitialized(like: src)
            zipScalar(k, src.basePointer, b.storage.pointer[b.offset], scalarFirst: false, out.storage.pointer, a.count)
            return out.rank == a.rank ? out : out
        }
        if a.count == 1 && a.rank <= b.rank {
            let src = b.isDense ? b : b.contiguous()
            let out = Tensor.uninitialized(like: src)
            zipScalar(k, src.basePointer, a.storage.pointer[a.offset], scalarFirst: true, out.storage.pointer, b.count)
            return out
        }
        guard let shape = broadcastShape(a.shape, b.shape) else {
            preconditionFailure("shapes \(a.shape) and \(b.shape) do not broadcast")
        }
        var av = withoutGradients { a.broadcast(to: shape) }, bv = withoutGradients { b.broadcast(to: shape) }
        // The output takes the layout of an operand that has the output's shape (a channels-last activation times
        // a per-channel scale, as squeeze-and-excitation multiplies): rows then run along that operand's
        // contiguous axis, and the per-channel operand's row is contiguous too, instead of two strided gathers
        // per element and a row-major result the next convolution must reorder.
        let full = a.shape == shape && a.isDense ? a : (b.shape == shape && b.isDense ? b : nil)
        let order = full.map(Tensor.storageOrder) ?? Array(0..<shape.count)
        let reordered = order != Array(0..<shape.count)
        if reordered { (av, bv) = (av.permuted(order), bv.permuted(order)) }
        let laidOut = av.shape
        let out = Tensor.uninitialized(laidOut)
        let r = laidOut.count
        let inner = laidOut[r - 1]
        if inner == 0 || out.count == 0 { return out.permuted(inverse(of: order)) }
        let (sa, sb) = (av.strides[r - 1], bv.strides[r - 1])
        let (stridesA, stridesB) = (av.strides, bv.strides)
        let (pa, pb, po) = (av.storage.pointer, bv.storage.pointer, out.storage.pointer)
        let (offsetA, offsetB) = (av.offset, bv.offset)
        let rows = out.count / inner
        parallelChunks(rows, minimumChunk: Swift.max(1, (1 << 15) / inner)) { range in
            // The chunk's first row's index over the outer axes, and the operands' offsets there.
            var idx = [Int](repeating: 0, count: Swift.max(r - 1, 0))
            var rest = range.lowerBound, oa = offsetA, ob = offsetB
            for k in stride(from: r - 2, through: 0, by: -1) {
                idx[k] = rest % laidOut[k]
                rest /= laidOut[k]
                oa += idx[k] * stridesA[k]
                ob += idx[k] * stridesB[k]
            }
            let rowA = UnsafeMutablePointer<Float>.allocate(capacity: inner)
            let rowB = UnsafeMutablePointer<Float>.allocate(capacity: inner)
            defer { rowA.deallocate(); rowB.deallocate() }
            var dst = po + range.lowerBound * inner
            for _ in range {
                if sa == 1 && sb == 0 {
                    // One operand is constant along the row (a per-channel mean or scale over NCHW pixels): a
                    // vector of it, instead of a row of copies.
                    zipRowScalar(K.self, pa + oa, pb[ob], scalarFirst: false, dst, inner)
                } else if sa == 0 && sb == 1 {
                    zipRowScalar(K.self, pb + ob, pa[oa], scalarFirst: true, dst, inner)
                } else {
                    let ra: UnsafePointer<Float>
                    if sa == 1 { ra = UnsafePointer(pa + oa) } else {
                        for j in 0..<inner { rowA[j] = pa[oa + j * sa] }
                        ra = UnsafePointer(rowA)
                    }
                    let rb: UnsafePointer<Float>
                    if sb == 1 { rb = UnsafePointer(pb + ob) } else {
                        for j in 0..<inner { rowB[j] = pb[ob + j * sb] }
                        rb = UnsafePointer(rowB)
                    }
                    var i = 0
                    while i + 16 <= inner { storeVec(K.apply(loadVec(ra + i), loadVec(rb + i)), dst + i); i += 16 }
                    if i < inner { storePartial(K.apply(loadPartial(ra + i, inner - i), loadPartial(rb + i, inner - i)), dst + i, inner - i) }
                }
                dst += inner
                var k = r - 2
                while k >= 0 {
                    idx[k] += 1; oa += stridesA[k]; ob += stridesB[k]
                    if idx[k] < laidOut[k] { break }
                    oa -= stridesA[k] * laidOut[k]; ob -= stridesB[k] * laidOut[k]
                    idx[k] = 0; k -= 1
                }
            }
        }
        return reordered ? out.permuted(inverse(of: order)) : out
    }

    /// The axes from the outermost in storage to the innermost (axes of extent 1, which address nothing, first).
    static func storageOrder(_ t: Tensor) -> [Int] {
        (0..<t.rank).sorted { i, j in
            let (si, sj) = (t.shape[i] == 1 ? Int.max : t.strides[i], t.shape[j] == 1 ? Int.max : t.strides[j])
            return si != sj ? si > sj : i < j
        }
    }
}

/// The permutation that undoes `order`.
private func inverse(of order: [Int]) -> [Int] {
    var inverse = order
    for (i, axis) in order.enumerated() { inverse[axis] = i }
    return inverse
}

// MARK: - Kernels

enum AddK: BinaryKernel { @inline(__always) static func apply(_ a: Vec, _ b: Vec) -> Vec { a + b } }
enum SubK: BinaryKernel { @inline(__always) static func apply(_ a: Vec, _ b: Vec) -> Vec { a - b } }
enum MulK: BinaryKernel { @inline(__always) static func apply(_ a: Vec, _ b: Vec) -> Vec { a * b } }
enum DivK: BinaryKernel { @inline(__always) static func apply(_ a: Vec, _ b: Vec) -> Vec { a / b } }
enum MaxK: BinaryKernel { @inline(__always) static func apply(_ a: Vec, _ b: Vec) -> Vec { vmax(a, b) } }
enum MinK: BinaryKernel { @inline(__always) static func apply(_ a: Vec, _ b: Vec) -> Vec { vmin(a, b) } }
enum GreaterK: BinaryKernel { @inline(__always) static func apply(_ a: Vec, _ b: Vec) -> Vec { vselect(a .> b, Vec(repeating: 1), Vec(repeating: 0)) } }
enum GreaterEqualK: BinaryKernel { @inline(__always) static func apply(_ a: Vec, _ b: Vec) -> Vec { vselect(a .>= b, Vec(repeating: 1), Vec(repeating: 0)) } }
enum LessK: BinaryKernel { @inline(__always) static func apply(_ a: Vec, _ b: Vec) -> Vec { vselect(a .< b, Vec(repeating: 1), Vec(repeating: 0)) } }
enum EqualK: BinaryKernel { @inline(__always) static func apply(_ a: Vec, _ b: Vec) -> Vec { vselect(a .== b, Vec(repeating: 1), Vec(repeating: 0)) } }
/// g · 1[x > 0]
enum ReluGradK: BinaryKernel { @inline(__always) static func apply(_ g: Vec, _ x: Vec) -> Vec { vselect(x .> 0, g, Vec(repeating: 0)) } }
/// g · 1[0 < x < 6] (PyTorch's hardtanh backward)
enum Relu6GradK: BinaryKernel {
    @inline(__always) static func apply(_ g: Vec, _ x: Vec) -> Vec {
        vselect((x .> 0) .& (x .< 6), g, Vec(repeating: 0))
    }
}
/// g · (1 − y²) with y = tanh(x)
enum TanhGradK: BinaryKernel { @inline(__always) static func apply(_ g: Vec, _ y: Vec) -> Vec { g * (1 - y * y) } }
/// g · y(1 − y) with y = σ(x)
enum SigmoidGradK: BinaryKernel { @inline(__always) static func apply(_ g: Vec, _ y: Vec) -> Vec { g * y * (1 - y) } }
/// g · d/dx [x Φ(x)] = g · (Φ(x) + x φ(x))
enum GeluGradK: BinaryKernel {
    @inline(__always) static func apply(_ g: Vec, _ x: Vec) -> Vec {
        let cdf: Vec = (verf(x * 0.70710678118654752) + 1) * 0.5
        let pdf: Vec = vexp(x * x * -0.5) * 0.3989422804014327
        return g * (cdf + x * pdf)
    }
}
/// g · 2/√π · e^{−x²}
enum ErfGradK: BinaryKernel {
    @inline(__always) static func apply(_ g: Vec, _ x: Vec) -> Vec { g * vexp(-(x * x)) * 1.1283791670955126 }
}
/// g · sign(x)
enum AbsGradK: BinaryKernel {
    @inline(__always) static func apply(_ g: Vec, _ x: Vec) -> Vec {
        vselect(x .> 0, g, vselect(x .< 0, -g, Vec(repeating: 0)))
    }
}

enum NegK: UnaryKernel { @inline(__always) static func apply(_ x: Vec) -> Vec { -x } }
enum ExpK: UnaryKernel { @inline(__always) static func apply(_ x: Vec) -> Vec { vexp(x) } }
enum LogK: UnaryKernel { @inline(__always) static func apply(_ x: Vec) -> Vec { vlog(x) } }
enum SqrtK: UnaryKernel { @inline(__always) static func apply(_ x: Vec) -> Vec { x.squareRoot() } }
enum TanhK: UnaryKernel { @inline(__always) static func apply(_ x: Vec) -> Vec { vtanh(x) } }
enum ErfK: UnaryKernel { @inline(__always) static func apply(_ x: Vec) -> Vec { verf(x) } }
// Sine and cosine lane by lane through the C library: graphs use them for positional encodings of a few
// thousand values, not in the hot path.
enum SinK: UnaryKernel {
    static func apply(_ x: Vec) -> Vec {
        var y = x
        for i in 0..<Vec.scalarCount { y[i] = Foundation.sin(x[i]) }
        return y
    }
}
enum CosK: UnaryKernel {
    static func apply(_ x: Vec) -> Vec {
        var y = x
        for i in 0..<Vec.scalarCount { y[i] = Foundation.cos(x[i]) }
        return y
    }
}
enum SigmoidK: UnaryKernel { @inline(__always) static func apply(_ x: Vec) -> Vec { vsigmoid(x) } }
enum ReluK: UnaryKernel { @inline(__always) static func apply(_ x: Vec) -> Vec { vselect(x .> 0, x, Vec(repeating: 0)) } }
enum Relu6K: UnaryKernel {
    @inline(__always) static func apply(_ x: Vec) -> Vec { vmin(vselect(x .> 0, x, Vec(repeating: 0)), Vec(repeating: 6)) }
}
enum GeluK: UnaryKernel {
    @inline(__always) static func apply(_ x: Vec) -> Vec { x * (verf(x * 0.70710678118654752) + 1) * 0.5 }
}
enum SignK: UnaryKernel {
    @inline(__always) static func apply(_ x: Vec) -> Vec {
        vselect(x .> 0, Vec(repeating: 1), vselect(x .< 0, Vec(repeating: -1), Vec(repeating: 0)))
    }
}
enum AbsK: UnaryKernel { @inline(__always) static func apply(_ x: Vec) -> Vec { vselect(x .< 0, -x, x) } }
enum SquareK: UnaryKernel { @inline(__always) static func apply(_ x: Vec) -> Vec { x * x } }

// MARK: - Public element-wise API

extension Tensor {
    /// Element-wise sum, broadcasting as NumPy and PyTorch do. Differentiable in both operands.
    public static func + (a: Tensor, b: Tensor) -> Tensor {
        zip(a, b, AddK.self).recorded(from: [a, b]) { g in [g.summed(toShape: a.shape), g.summed(toShape: b.shape)] }
    }
    /// Element-wise difference, broadcasting. Differentiable in both operands.
    public static func - (a: Tensor, b: Tensor) -> Tensor {
        zip(a, b, SubK.self).recorded(from: [a, b]) { g in [g.summed(toShape: a.shape), (-g).summed(toShape: b.shape)] }
    }
    /// Element-wise product, broadcasting. Differentiable in both operands.
    public static func * (a: Tensor, b: Tensor) -> Tensor {
        zip(a, b, MulK.self).recorded(from: [a, b]) { g in
            [a.node == nil ? nil : (g * b).summed(toShape: a.shape), b.node == nil ? nil : (g * a).summed(toShape: b.shape)]
        }
    }
    /// Element-wise quotient, broadcasting. Differentiable in both operands.
    public static func / (a: Tensor, b: Tensor) -> Tensor {
        zip(a, b, DivK.self).recorded(from: [a, b]) { g in
            [a.node == nil ? nil : (g / b).summed(toShape: a.shape),
             b.node == nil ? nil : (-(g * a) / (b * b)).summed(toShape: b.shape)]
        }
    }
    /// `b` added to every element.
    public static func + (a: Tensor, b: Float) -> Tensor { a + Tensor(b) }
    /// `b` subtracted from every element.
    public static func - (a: Tensor, b: Float) -> Tensor { a - Tensor(b) }
    /// Every element times `b`.
    public static func * (a: Tensor, b: Float) -> Tensor { a * Tensor(b) }
    /// Every element divided by `b` (as a product with 1 / `b`).
    public static func / (a: Tensor, b: Float) -> Tensor { a * Tensor(1 / b) }
    /// `a` added to every element of `b`.
    public static func + (a: Float, b: Tensor) -> Tensor { Tensor(a) + b }
    /// `a` minus every element of `b`.
    public static func - (a: Float, b: Tensor) -> Tensor { Tensor(a) - b }
    /// `a` times every element of `b`.
    public static func * (a: Float, b: Tensor) -> Tensor { Tensor(a) * b }
    /// `a` divided by every element of `b`.
    public static func / (a: Float, b: Tensor) -> Tensor { Tensor(a) / b }

    /// Every element negated. Differentiable.
    public static prefix func - (a: Tensor) -> Tensor {
        a.map(NegK.self).recorded(from: [a]) { g in [-g] }
    }

    /// e^x. Differentiable.
    public func exp() -> Tensor {
        let y = map(ExpK.self)
        return y.recorded(from: [self]) { g in [g * y] }
    }
    /// Natural logarithm. Differentiable.
    public func log() -> Tensor { map(LogK.self).recorded(from: [self]) { g in [g / self] } }
    /// Square root. Differentiable.
    public func sqrt() -> Tensor {
        let y = map(SqrtK.self)
        return y.recorded(from: [self]) { g in [g * 0.5 / y] }
    }
    /// Hyperbolic tangent. Differentiable.
    public func tanh() -> Tensor {
        let y = map(TanhK.self)
        return y.recorded(from: [self]) { g in [Tensor.zip(g, y, TanhGradK.self)] }
    }
    /// The error function. Differentiable.
    public func erf() -> Tensor {
        map(ErfK.self).recorded(from: [self]) { g in [Tensor.zip(g, self, ErfGradK.self)] }
    }
    /// Sine (radians). Differentiable: the gradient is g · cos x.
    public func sin() -> Tensor {
        map(SinK.self).recorded(from: [self]) { g in [g * self.cos()] }
    }
    /// Cosine (radians). Differentiable: the gradient is −g · sin x.
    public func cos() -> Tensor {
        map(CosK.self).recorded(from: [self]) { g in [-(g * self.sin())] }
    }
    /// Logistic sigmoid. Differentiable.
    public func sigmoid() -> Tensor {
        let y = map(SigmoidK.self)
        return y.recorded(from: [self]) { g in [Tensor.zip(g, y, SigmoidGradK.self)] }
    }
    /// max(x, 0); the gradient at 0 is 0, as in PyTorch. Differentiable.
    public func relu() -> Tensor {
        map(ReluK.self).recorded(from: [self]) { g in [Tensor.zip(g, self, ReluGradK.self)] }
    }
    /// min(max(x, 0), 6); gradient 1 on the open interval (0, 6), as in PyTorch. Differentiable.
    public func relu6() -> Tensor {
        map(Relu6K.self).recorded(from: [self]) { g in [Tensor.zip(g, self, Relu6GradK.self)] }
    }
    /// GELU in its exact form x·Φ(x) = x/2·(1 + erf(x/√2)). Differentiable.
    public func gelu() -> Tensor {
        map(GeluK.self).recorded(from: [self]) { g in [Tensor.zip(g, self, GeluGradK.self)] }
    }
    /// −1, 0 or 1. Its gradient is zero.
    public func sign() -> Tensor { map(SignK.self) }
    /// |x|; gradient sign(x). Differentiable.
    public func abs() -> Tensor {
        map(AbsK.self).recorded(from: [self]) { g in [Tensor.zip(g, self, AbsGradK.self)] }
    }
    /// x^p for a scalar exponent. Differentiable.
    public func pow(_ p: Float) -> Tensor {
        if p == 2 { return map(SquareK.self).recorded(from: [self]) { g in [g * self * 2] } }
        if p == 1 { return self }
        let c = contiguous()
        let out = Tensor.uninitialized(shape)
        let src = c.basePointer, dst = out.storage.pointer
        for i in 0..<count { dst[i] = Foundation.pow(src[i], p) }
        return out.recorded(from: [self]) { g in [g * p * self.pow(p - 1)] }
    }
    /// Elements clamped to [lower, upper]; gradient 1 where lower ≤ x ≤ upper (PyTorch). Differentiable.
    public func clamped(min lower: Float = -.infinity, max upper: Float = .infinity) -> Tensor {
        let lo = Tensor(lower), hi = Tensor(upper)
        let y = Tensor.zip(Tensor.zip(self, lo, MaxK.self), hi, MinK.self)
        return y.recorded(from: [self]) { g in
            let pass = Tensor.zip(Tensor.zip(self, lo, GreaterEqualK.self), Tensor.zip(hi, self, GreaterEqualK.self), MulK.self)
            return [g * pass]
        }
    }
    /// Element-wise maximum with broadcasting (ties send the gradient to `a`). Differentiable.
    public static func maximum(_ a: Tensor, _ b: Tensor) -> Tensor {
        let mask = zip(a, b, GreaterEqualK.self)
        return zip(a, b, MaxK.self).recorded(from: [a, b]) { g in
            [(g * mask).summed(toShape: a.shape), (g * (1 - mask)).summed(toShape: b.shape)]
        }
    }
    /// 1 where self > other, else 0 (a constant).
    public func greater(than other: Tensor) -> Tensor { Tensor.zip(self, other, GreaterK.self) }
    /// 1 where self > `other`, else 0 (a constant).
    public func greater(than other: Float) -> Tensor { Tensor.zip(self, Tensor(other), GreaterK.self) }
    /// 1 where self < other, else 0 (a constant).
    public func less(than other: Tensor) -> Tensor { Tensor.zip(self, other, LessK.self) }
    /// 1 where self == other, else 0 (a constant).
    public func equal(to other: Tensor) -> Tensor { Tensor.zip(self, other, EqualK.self) }

    /// `a` where `mask` is non-zero, else `b` (broadcasting). Differentiable in `a` and `b`.
    public static func select(_ mask: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        let m = mask.detached().map(SignK.self).abs()
        guard let pair = broadcastShape(a.shape, b.shape), let shape = broadcastShape(m.shape, pair) else {
            preconditionFailure("select: shapes \(mask.shape), \(a.shape) and \(b.shape) do not broadcast")
        }
        // Picked, not blended: a blend a·m + b·(1 − m) turns an infinite unpicked value into NaN (0 · ∞).
        let pick = m.broadcast(to: shape).contiguous(), x = a.detached().broadcast(to: shape).contiguous()
        let y = b.detached().broadcast(to: shape).contiguous()
        let out = Tensor.uninitialized(shape)
        let (pp, xp, yp, op) = (pick.basePointer, x.basePointer, y.basePointer, out.storage.pointer)
        for i in 0..<out.count { op[i] = pp[i] != 0 ? xp[i] : yp[i] }
        return out.recorded(from: [a, b]) { g in
            [a.node == nil ? nil : (g * m).summed(toShape: a.shape), b.node == nil ? nil : (g * (1 - m)).summed(toShape: b.shape)]
        }
    }
}
