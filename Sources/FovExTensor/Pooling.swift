import Foundation

extension Tensor {
    /// Max pooling of an NCHW tensor, as PyTorch's `max_pool2d` (floor mode, dilation 1): the
    /// border counts as −∞, and NaN wins over numbers.
    ///
    /// - Parameters:
    ///   - kernel: the square window's side.
    ///   - stride: the step between windows; the window's side when `nil`.
    ///   - padding: the border added on every side; at most half the window.
    /// Keeps a channels-last input's layout. Differentiable: the gradient goes to each window's
    /// arg-max (its first maximal element in row-major order on ties).
    public func maxPool2d(kernel: Int, stride: Int? = nil, padding: Int = 0) -> Tensor {
        maxPool2d(kernel: (kernel, kernel), stride: (stride ?? kernel, stride ?? kernel), padding: (padding, padding))
    }

    /// ``maxPool2d(kernel:stride:padding:)`` with a rectangular window: its own kernel, stride and padding
    /// along the height and the width (each padding at most half its kernel). Differentiable.
    public func maxPool2d(kernel: (height: Int, width: Int), stride: (height: Int, width: Int),
                          padding: (height: Int, width: Int) = (0, 0)) -> Tensor {
        if rank == 4 && !isChannelsLast && shape[1] >= 8 {
            // The planar kernel compares one element at a time and mispredicts a branch on most new
            // maxima; comparing 16 channels at once in channels-last order pays for both layout copies.
            return channelsLast().maxPool2d(kernel: kernel, stride: stride, padding: padding).contiguous()
        }
        let (rows, columns) = slidingWindows("maxPool2d", kernel: kernel, stride: stride, padding: padding,
                                             countPadding: true)
        return pooled(rows: rows, columns: columns, kind: .max)
    }

    /// Average pooling of an NCHW tensor, as PyTorch's `avg_pool2d` (floor mode).
    ///
    /// - Parameters:
    ///   - kernel: the square window's side.
    ///   - stride: the step between windows; the window's side when `nil`.
    ///   - padding: the zero border added on every side; at most half the window.
    ///   - countIncludePad: divide by the whole window, padding included (PyTorch's default), rather
    ///     than by the number of input elements it covers.
    /// Keeps a channels-last input's layout. Differentiable.
    public func avgPool2d(kernel: Int, stride: Int? = nil, padding: Int = 0, countIncludePad: Bool = true) -> Tensor {
        avgPool2d(kernel: (kernel, kernel), stride: (stride ?? kernel, stride ?? kernel), padding: (padding, padding),
                  countIncludePad: countIncludePad)
    }

    /// ``avgPool2d(kernel:stride:padding:countIncludePad:)`` with a rectangular window: its own kernel, stride
    /// and padding along the height and the width (each padding at most half its kernel). Differentiable.
    public func avgPool2d(kernel: (height: Int, width: Int), stride: (height: Int, width: Int),
                          padding: (height: Int, width: Int) = (0, 0), countIncludePad: Bool = true) -> Tensor {
        let (rows, columns) = slidingWindows("avgPool2d", kernel: kernel, stride: stride, padding: padding,
                                             countPadding: countIncludePad)
        return pooled(rows: rows, columns: columns, kind: .average)
    }

    /// Average pooling of an NCHW tensor to a fixed output size, as PyTorch's `adaptive_avg_pool2d`:
    /// output row i averages input rows floor(i·H/h) ..< ceil((i+1)·H/h), and likewise for columns.
    /// Keeps a channels-last input's layout. Differentiable.
    public func adaptiveAvgPool2d(outputSize: (height: Int, width: Int)) -> Tensor {
        precondition(rank == 4, "adaptiveAvgPool2d needs an NCHW tensor, got shape \(shape)")
        precondition(outputSize.height > 0 && outputSize.width > 0 && shape[2] > 0 && shape[3] > 0,
                     "adaptiveAvgPool2d: output size \(outputSize) or input shape \(shape) is empty")
        return pooled(rows: .adaptive(input: shape[2], output: outputSize.height),
                      columns: .adaptive(input: shape[3], output: outputSize.width), kind: .average)
    }

    /// Adaptive average pooling to a square `outputSize`×`outputSize`. Differentiable.
    public func adaptiveAvgPool2d(outputSize: Int) -> Tensor {
        adaptiveAvgPool2d(outputSize: (outputSize, outputSize))
    }

    /// The mean over height and width of an NCHW tensor, shaped [N, C]. Differentiable.
    public func globalAvgPool2d() -> Tensor {
        precondition(rank == 4, "globalAvgPool2d needs an NCHW tensor, got shape \(shape)")
        return adaptiveAvgPool2d(outputSize: (1, 1)).reshaped([shape[0], shape[1]])
    }

    private func slidingWindows(_ op: String, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int),
                                countPadding: Bool) -> (PoolAxis, PoolAxis) {
        precondition(rank == 4, "\(op) needs an NCHW tensor, got shape \(shape)")
        func axis(_ n: Int, _ k: Int, _ s: Int, _ p: Int) -> PoolAxis {
            precondition(k > 0 && s > 0 && p >= 0, "\(op): kernel \(kernel), stride \(stride), padding \(padding)")
            precondition(p <= k / 2, "\(op): padding \(padding) must be at most half the kernel \(kernel)")
            precondition(n + 2 * p >= k, "\(op): kernel \(kernel) does not fit input \(shape[2])×\(shape[3]) with padding \(padding)")
            return .sliding(input: n, kernel: k, stride: s, padding: p, countPadding: countPadding)
        }
        return (axis(shape[2], kernel.0, stride.0, padding.0), axis(shape[3], kernel.1, stride.1, padding.1))
    }
}

/// The windows of a 2-D pooling along one axis: the input range each output reads (clipped to the
/// input) and its factor of an average's divisor.
private struct PoolAxis {
    var ranges: [Range<Int>] = []
    var divisors: [Int] = []

    var count: Int { ranges.count }

    /// PyTorch's floor-mode windows; the divisor factor counts padding when `countPadding`.
    static func sliding(input n: Int, kernel k: Int, stride s: Int, padding p: Int, countPadding: Bool) -> PoolAxis {
        var axis = PoolAxis()
        for o in 0..<((n + 2 * p - k) / s + 1) {
            let start = o * s - p, end = Swift.min(start + k, n + p)
            let clipped = Swift.max(start, 0)..<Swift.min(end, n)
            axis.ranges.append(clipped)
            axis.divisors.append(countPadding ? end - start : clipped.count)
        }
        return axis
    }

    /// PyTorch's adaptive bins: floor(i·n/m) ..< ceil((i+1)·n/m).
    static func adaptive(input n: Int, output m: Int) -> PoolAxis {
        var axis = PoolAxis()
        for i in 0..<m {
            let r = (i * n / m)..<(((i + 1) * n + m - 1) / m)
            axis.ranges.append(r)
            axis.divisors.append(r.count)
        }
        return axis
    }
}

private enum PoolKind { case max, average }

/// A pooling's windows in the raw form the kernels read: the input rows and columns of each output
/// row and column, and each output's average divisor.
private final class PoolPlan: @unchecked Sendable {
    let oh, ow: Int
    let rowLo, rowHi, colLo, colHi: UnsafeMutablePointer<Int>
    let divisor: UnsafeMutablePointer<Float>
    /// Input elements read per plane, summed over all windows (the work estimate for threading).
    let reads: Int

    init(rows: PoolAxis, columns: PoolAxis) {
        (oh, ow) = (rows.count, columns.count)
        func copy(_ values: [Int]) -> UnsafeMutablePointer<Int> {
            let p = UnsafeMutablePointer<Int>.allocate(capacity: Swift.max(values.count, 1))
            p.initialize(from: values, count: values.count)
            return p
        }
        rowLo = copy(rows.ranges.map(\.lowerBound))
        rowHi = copy(rows.ranges.map(\.upperBound))
        colLo = copy(columns.ranges.map(\.lowerBound))
        colHi = copy(columns.ranges.map(\.upperBound))
        divisor = .allocate(capacity: Swift.max(oh * ow, 1))
        for i in 0..<oh {
            for j in 0..<ow { divisor[i * ow + j] = Float(rows.divisors[i] * columns.divisors[j]) }
        }
        reads = rows.ranges.reduce(0) { $0 + $1.count } * columns.ranges.reduce(0) { $0 + $1.count }
    }

    deinit {
        for p in [rowLo, rowHi, colLo, colHi] { p.deallocate() }
        divisor.deallocate()
    }
}

/// Where an NCHW tensor's elements live: channels-last (each pixel's channels adjacent) or planar.
private struct PoolLayout {
    let n, c, h, w: Int
    let channelsLast: Bool
    /// Storage distance between consecutive images.
    let imageStride: Int
}

@inline(__always) private func load(_ p: UnsafePointer<Float>, _ m: Int) -> Vec {
    m == 16 ? loadVec(p) : loadPartial(p, m)
}

@inline(__always) private func store(_ v: Vec, _ p: UnsafeMutablePointer<Float>, _ m: Int) {
    if m == 16 { storeVec(v, p) } else { storePartial(v, p, m) }
}

extension Tensor {
    /// Pools channels-last inputs in their layout (vectors across channels), anything else as
    /// row-major planes.
    private func pooled(rows: PoolAxis, columns: PoolAxis, kind: PoolKind) -> Tensor {
        let x = isChannelsLast ? self : contiguous()
        let lay = PoolLayout(n: shape[0], c: shape[1], h: shape[2], w: shape[3], channelsLast: isChannelsLast,
                             imageStride: isChannelsLast ? strides[0] : shape[1] * shape[2] * shape[3])
        let plan = PoolPlan(rows: rows, columns: columns)
        let outShape = [lay.n, lay.c, plan.oh, plan.ow]
        let out = Tensor.poolBuffer(outShape, channelsLast: lay.channelsLast, zeroed: false)
        var argmax: [Int32] = []
        // Only a recorded pass needs each window's arg-max (for the backward pass); inference skips writing it.
        if kind == .max && GradientMode.isEnabled && x.node != nil {
            argmax = [Int32](unsafeUninitializedCapacity: out.count) { buf, initialized in
                poolForward(x.basePointer, lay, plan, kind, out.storage.pointer, buf.baseAddress)
                initialized = out.count
            }
        } else {
            poolForward(x.basePointer, lay, plan, kind, out.storage.pointer, nil)
        }
        let inputShape = shape
        return out.recorded(from: [x]) { g in
            let gl = lay.channelsLast ? g.channelsLast() : g.contiguous()
            let dx = Tensor.poolBuffer(inputShape, channelsLast: lay.channelsLast, zeroed: true)
            argmax.withUnsafeBufferPointer { at in
                poolBackward(gl.basePointer, dx.storage.pointer, lay, plan, kind, at.baseAddress)
            }
            return [dx]
        }
    }

    private static func poolBuffer(_ shape: [Int], channelsLast: Bool, zeroed: Bool) -> Tensor {
        let storage = zeroed ? TensorStorage(count: shape.reduce(1, *), repeating: 0)
                             : TensorStorage(uninitializedCount: shape.reduce(1, *))
        return Tensor(shape: shape, strides: channelsLast ? channelsLastStrides(shape) : nil, storage: storage)
    }
}

/// Writes the pooled values (and, for max pooling, each output's arg-max as a spatial index h·W + w)
/// in the output's storage order, which follows the input's layout.
private func poolForward(_ src: UnsafePointer<Float>, _ lay: PoolLayout, _ plan: PoolPlan, _ kind: PoolKind,
                         _ dst: UnsafeMutablePointer<Float>, _ argmax: UnsafeMutablePointer<Int32>?) {
    let (c, w, oh, ow) = (lay.c, lay.w, plan.oh, plan.ow)
    let (rowLo, rowHi, colLo, colHi, divisor) = (plan.rowLo, plan.rowHi, plan.colLo, plan.colHi, plan.divisor)
    let isMax = kind == .max
    if lay.channelsLast {
        // One job per output row; each window pixel's channels are read as whole vectors.
        splitAcrossThreads(lay.n * oh, work: lay.n * c * plan.reads) { jobs in
            for job in jobs {
                let img = job / oh, i = job % oh
                let s = src + img * lay.imageStride
                for j in 0..<ow {
                    let o = ((img * oh + i) * ow + j) * c
                    let first = Int32(rowLo[i] * w + colLo[j])
                    var c0 = 0
                    if isMax && argmax == nil {
                        // Inference: the maxima alone. Without the four index chains the loop keeps its eight
                        // running values in registers instead of spilling them (about twice as fast).
                        while c0 + 64 <= c {
                            var k0 = MaxValue(), k1 = MaxValue(), k2 = MaxValue(), k3 = MaxValue()
                            for y in rowLo[i]..<rowHi[i] {
                                for x in colLo[j]..<colHi[j] {
                                    let p = s + (y * w + x) * c + c0
                                    k0.visit(loadVec(p))
                                    k1.visit(loadVec(p + 16))
                                    k2.visit(loadVec(p + 32))
                                    k3.visit(loadVec(p + 48))
                                }
                            }
                            let d = dst + o + c0
                            storeVec(k0.best, d)
                            storeVec(k1.best, d + 16)
                            storeVec(k2.best, d + 32)
                            storeVec(k3.best, d + 48)
                            c0 += 64
                        }
                    } else if isMax {
                        // Four channel vectors per pass: their compare-and-blend chains are independent,
                        // so they overlap instead of waiting on each other's latency.
                        while c0 + 64 <= c {
                            var k0 = MaxChain(first), k1 = MaxChain(first), k2 = MaxChain(first), k3 = MaxChain(first)
                            for y in rowLo[i]..<rowHi[i] {
                                for x in colLo[j]..<colHi[j] {
                                    let p = s + (y * w + x) * c + c0, index = Int32(y * w + x)
                                    k0.visit(loadVec(p), index)
                                    k1.visit(loadVec(p + 16), index)
                                    k2.visit(loadVec(p + 32), index)
                                    k3.visit(loadVec(p + 48), index)
                                }
                            }
                            let (d, a) = (dst + o + c0, argmax.map { $0 + o + c0 })
                            k0.write(d, a, 16)
                            k1.write(d + 16, a.map { $0 + 16 }, 16)
                            k2.write(d + 32, a.map { $0 + 32 }, 16)
                            k3.write(d + 48, a.map { $0 + 48 }, 16)
                            c0 += 64
                        }
                    }
                    while c0 < c {
                        let m = Swift.min(16, c - c0)
                        if isMax {
                            var chain = MaxChain(first)
                            for y in rowLo[i]..<rowHi[i] {
                                for x in colLo[j]..<colHi[j] { chain.visit(load(s + (y * w + x) * c + c0, m), Int32(y * w + x)) }
                            }
                            chain.write(dst + o + c0, argmax.map { $0 + o + c0 }, m)
                        } else {
                            var acc = Vec(repeating: 0)
                            for y in rowLo[i]..<rowHi[i] {
                                var row = Vec(repeating: 0)
                                for x in colLo[j]..<colHi[j] { row += load(s + (y * w + x) * c + c0, m) }
                                acc += row
                            }
                            store(acc / Vec(repeating: divisor[i * ow + j]), dst + o + c0, m)
                        }
                        c0 += 16
                    }
                }
            }
        }
    } else {
        let planeSize = lay.h * w
        splitAcrossThreads(lay.n * c, work: lay.n * c * plan.reads) { planes in
            for p in planes {
                let s = src + p * planeSize, d = dst + p * oh * ow
                for i in 0..<oh {
                    for j in 0..<ow {
                        if isMax {
                            var best = -Float.infinity
                            var at = rowLo[i] * w + colLo[j]
                            for y in rowLo[i]..<rowHi[i] {
                                for x in colLo[j]..<colHi[j] {
                                    let v = s[y * w + x]
                                    let take = v > best || v.isNaN
                                    best = take ? v : best
                                    at = take ? y * w + x : at
                                }
                            }
                            d[i * ow + j] = best
                            argmax?[p * oh * ow + i * ow + j] = Int32(at)
                        } else {
                            var acc: Float = 0
                            for y in rowLo[i]..<rowHi[i] { acc += rowSum(s + y * w + colLo[j], colHi[j] - colLo[j]) }
                            d[i * ow + j] = acc / divisor[i * ow + j]
                        }
                    }
                }
            }
        }
    }
}

/// The running maximum of one channel vector over a window, by ``MaxChain``'s rule, without its position.
private struct MaxValue {
    var best = Vec(repeating: -.infinity)

    @inline(__always) mutating func visit(_ v: Vec) {
        best.replace(with: v, where: (v .> best) .| (v .!= v))
    }
}

/// The running maximum of one channel vector over a window and where it was first reached
/// (PyTorch's rule: a larger value or a NaN takes over).
private struct MaxChain {
    var best = Vec(repeating: -.infinity)
    var at: SIMD16<Int32>

    @inline(__always) init(_ first: Int32) { at = SIMD16(repeating: first) }

    @inline(__always) mutating func visit(_ v: Vec, _ index: Int32) {
        let take = (v .> best) .| (v .!= v)
        best.replace(with: v, where: take)
        at.replace(with: index, where: take)
    }

    /// Stores the maxima, and their positions when `index` is given (a recorded pass).
    @inline(__always) func write(_ value: UnsafeMutablePointer<Float>, _ index: UnsafeMutablePointer<Int32>?, _ m: Int) {
        store(best, value, m)
        if let index { for l in 0..<m { index[l] = at[l] } }
    }
}

@inline(__always) private func rowSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = Vec(repeating: 0)
    var i = 0
    while i + 16 <= n { acc += loadVec(p + i); i += 16 }
    var s = acc.sum()
    while i < n { s += p[i]; i += 1 }
    return s
}

/// Accumulates the output gradient `g` (laid out like the forward output) into the zeroed input
/// gradient `dx` (laid out like the input). Jobs own disjoint channels of `dx`, so overlapping windows
/// never race.
private func poolBackward(_ g: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ lay: PoolLayout,
                          _ plan: PoolPlan, _ kind: PoolKind, _ argmax: UnsafePointer<Int32>?) {
    let (c, w, h, oh, ow) = (lay.c, lay.w, lay.h, plan.oh, plan.ow)
    let (rowLo, rowHi, colLo, colHi, divisor) = (plan.rowLo, plan.rowHi, plan.colLo, plan.colHi, plan.divisor)
    let isMax = kind == .max
    if lay.channelsLast {
        let blocks = (c + 15) / 16
        splitAcrossThreads(lay.n * blocks, work: lay.n * c * (isMax ? oh * ow : plan.reads)) { jobs in
            for job in jobs {
                let img = job / blocks, c0 = (job % blocks) * 16, m = Swift.min(16, c - c0)
                let d = dx + img * h * w * c + c0
                for o in stride(from: img * oh * ow * c + c0, to: (img + 1) * oh * ow * c, by: c) {
                    let ij = o / c - img * oh * ow
                    if isMax {
                        let a = argmax! + o
                        for l in 0..<m { d[Int(a[l]) * c + l] += g[o + l] }
                    } else {
                        let (i, j) = (ij / ow, ij % ow)
                        let v = load(g + o, m) / Vec(repeating: divisor[ij])
                        for y in rowLo[i]..<rowHi[i] {
                            for x in colLo[j]..<colHi[j] {
                                let p = d + (y * w + x) * c
                                store(load(p, m) + v, p, m)
                            }
                        }
                    }
                }
            }
        }
    } else {
        splitAcrossThreads(lay.n * c, work: lay.n * c * (isMax ? oh * ow : plan.reads)) { planes in
            for p in planes {
                let gp = g + p * oh * ow, d = dx + p * h * w
                for i in 0..<oh {
                    for j in 0..<ow {
                        if isMax {
                            d[Int(argmax![p * oh * ow + i * ow + j])] += gp[i * ow + j]
                        } else {
                            let v = gp[i * ow + j] / divisor[i * ow + j]
                            for y in rowLo[i]..<rowHi[i] {
                                for x in colLo[j]..<colHi[j] { d[y * w + x] += v }
                            }
                        }
                    }
                }
            }
        }
    }
}
