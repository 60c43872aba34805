import Foundation

/// How ``Tensor/resized(height:width:method:antialias:)`` interpolates.
public enum ResizeMethod: String, Sendable, Equatable, Codable {
    /// Linear in each axis (PyTorch `mode='bilinear'`, `align_corners=False`).
    case bilinear
    /// Keys cubic convolution in each axis (PyTorch `mode='bicubic'`, `align_corners=False`):
    /// a = −0.75 with clamped borders, or a = −0.5 with renormalised borders when antialiased.
    case bicubic
    /// The source pixel whose cell holds the output pixel's centre, index ⌊(i + ½) · in / out⌋: PIL's
    /// `NEAREST` (what torchvision's transforms do to PIL images) and PyTorch's `mode='nearest-exact'`.
    /// Never filtered, `antialias` or not, as in PIL.
    case nearest
}

extension Tensor {
    /// The tensor resampled to `height`×`width` in its last two axes (an NCHW batch, an [N, 1, H, W]
    /// map, or a single [H, W] plane), as PyTorch's `F.interpolate(…, align_corners=False)`.
    ///
    /// With `antialias`, the filter is stretched by the downscaling factor (PyTorch and
    /// torchvision's `antialias=True`), so every source pixel contributes when shrinking.
    /// Differentiable; the gradient is the exact transpose of the resampling.
    public func resized(height: Int, width: Int, method: ResizeMethod = .bilinear, antialias: Bool = false) -> Tensor {
        precondition(rank >= 2, "resized needs a tensor with height and width axes, got shape \(shape)")
        precondition(height > 0 && width > 0, "resized: target size \(height)×\(width) must be positive")
        precondition(shape[rank - 2] > 0 && shape[rank - 1] > 0, "resized: empty input of shape \(shape)")
        let rows = AxisResampling.resize(from: shape[rank - 2], to: height, method: method, antialias: antialias)
        let columns = AxisResampling.resize(from: shape[rank - 1], to: width, method: method, antialias: antialias)
        return separablyResampled(rows: rows, columns: columns)
    }
}

/// A linear map along one axis, `out[i] = Σ_t weights[t] · in[indices[t]]` for `t` in
/// `starts[i]..<starts[i + 1]` (a sparse matrix in compressed-row form). Resizing and separable
/// filtering are both products of two such maps, one per axis; their transposes give the gradients.
struct AxisResampling {
    let inputSize: Int
    let outputSize: Int
    let starts: [Int]
    let indices: [Int]
    let weights: [Float]

    /// Builds the map from per-output lists of (input index, weight); repeated indices (from border
    /// clamping or reflection) are merged so that each row names an input at most once.
    init(inputSize: Int, rows: [[(index: Int, weight: Float)]]) {
        self.inputSize = inputSize
        outputSize = rows.count
        var starts = [0], indices: [Int] = [], weights: [Float] = []
        // slot[i]: where input i sits in the row being built (stale entries point before the row's start).
        var slot = [Int](repeating: -1, count: inputSize)
        for row in rows {
            let first = indices.count
            for (i, w) in row {
                precondition(i >= 0 && i < inputSize, "resampling index \(i) outside 0..<\(inputSize)")
                if slot[i] >= first { weights[slot[i]] += w } else { slot[i] = indices.count; indices.append(i); weights.append(w) }
            }
            starts.append(indices.count)
        }
        self.starts = starts
        self.indices = indices
        self.weights = weights
    }

    /// Whether the map leaves its input unchanged.
    var isIdentity: Bool {
        inputSize == outputSize && indices.count == outputSize
            && indices.enumerated().allSatisfy { $0.offset == $0.element } && weights.allSatisfy { $0 == 1 }
    }

    /// The transposed map (from outputs back to inputs), which carries gradients.
    func transposed() -> AxisResampling {
        var rows = [[(index: Int, weight: Float)]](repeating: [], count: inputSize)
        for i in 0..<outputSize {
            for t in starts[i]..<starts[i + 1] { rows[indices[t]].append((i, weights[t])) }
        }
        return AxisResampling(inputSize: outputSize, rows: rows)
    }

    /// PyTorch's interpolation weights for one axis (CPU kernels of PyTorch 1.13, `align_corners=False`).
    /// Arithmetic is in `Float`, as PyTorch does for float tensors.
    static func resize(from n: Int, to m: Int, method: ResizeMethod, antialias: Bool) -> AxisResampling {
        let scale = Float(n) / Float(m)
        var rows: [[(index: Int, weight: Float)]] = []
        rows.reserveCapacity(m)
        for i in 0..<m {
            if method == .nearest {
                // In Double, as PIL computes the affine source coordinate.
                let source = Int(((Double(i) + 0.5) * Double(n) / Double(m)).rounded(.down))
                rows.append([(Swift.min(source, n - 1), 1)])
            } else if antialias {
                rows.append(antialiasedRow(i, inputSize: n, scale: scale, method: method))
            } else if method == .bilinear {
                if n == m { rows.append([(i, 1)]); continue }
                let source = Swift.max(scale * (Float(i) + 0.5) - 0.5, 0)
                let i0 = Int(source)
                let i1 = i0 + (i0 < n - 1 ? 1 : 0)
                let l1 = Swift.min(Swift.max(source - Float(i0), 0), 1)
                rows.append([(i0, 1 - l1), (i1, l1)])
            } else {
                let source = scale * (Float(i) + 0.5) - 0.5
                let i0 = Int(source.rounded(.down))
                let t = source - Float(i0)
                let a: Float = -0.75
                let c = [keysOuter(t + 1, a), keysInner(t, a), keysInner(1 - t, a), keysOuter(2 - t, a)]
                rows.append((0..<4).map { j in (Swift.min(Swift.max(i0 - 1 + j, 0), n - 1), c[j]) })
            }
        }
        return AxisResampling(inputSize: n, rows: rows)
    }

    /// One output of PyTorch's antialiased kernels: the filter is widened by the scale when
    /// shrinking, evaluated at the pixel centres it covers and normalised to sum 1.
    private static func antialiasedRow(_ i: Int, inputSize n: Int, scale: Float, method: ResizeMethod)
        -> [(index: Int, weight: Float)] {
        let halfWidth: Float = method == .bilinear ? 1 : 2
        let support = scale >= 1 ? halfWidth * scale : halfWidth
        let inverseScale = scale >= 1 ? 1 / scale : 1
        let center = scale * (Float(i) + 0.5)
        let lo = Swift.max(Int(center - support + 0.5), 0)
        let hi = Swift.min(Int(center + support + 0.5), n)
        var row: [(index: Int, weight: Float)] = []
        var total: Float = 0
        for j in lo..<Swift.max(hi, lo) {
            var x = Swift.abs((Float(j) - center + 0.5) * inverseScale)
            let w: Float
            if method == .bilinear {
                w = x < 1 ? 1 - x : 0
            } else {
                x = Swift.min(x, 2)
                w = x < 1 ? keysInner(x, -0.5) : keysOuter(x, -0.5)
            }
            row.append((j, w))
            total += w
        }
        return total == 0 ? row : row.map { ($0.index, $0.weight / total) }
    }

    /// Keys' cubic kernel on |x| ≤ 1.
    @inline(__always) private static func keysInner(_ x: Float, _ a: Float) -> Float {
        ((a + 2) * x - (a + 3)) * x * x + 1
    }

    /// Keys' cubic kernel on 1 ≤ |x| ≤ 2 (zero at 2).
    @inline(__always) private static func keysOuter(_ x: Float, _ a: Float) -> Float {
        ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    }
}

extension Tensor {
    /// `rows` applied along axis −2 and `columns` along axis −1 of every plane (out = R·X·Cᵀ per plane).
    /// Differentiable: the gradient applies the transposed maps.
    func separablyResampled(rows: AxisResampling, columns: AxisResampling) -> Tensor {
        precondition(rank >= 2 && shape[rank - 2] == rows.inputSize && shape[rank - 1] == columns.inputSize,
                     "separable resampling of \(rows.inputSize)×\(columns.inputSize) planes applied to shape \(shape)")
        let c = contiguous()
        let out = Tensor.applySeparable(c, rows, columns)
        return out.recorded(from: [c]) { g in
            [Tensor.applySeparable(g.contiguous(), rows.transposed(), columns.transposed())]
        }
    }

    /// The kernel behind ``separablyResampled(rows:columns:)`` for a row-major input. The column map
    /// runs on transposed planes so that both passes combine whole rows with vector instructions; the
    /// pass order is whichever touches fewer elements.
    private static func applySeparable(_ x: Tensor, _ rows: AxisResampling, _ columns: AxisResampling) -> Tensor {
        let (h, w, oh, ow) = (rows.inputSize, columns.inputSize, rows.outputSize, columns.outputSize)
        let planes = x.count / Swift.max(h * w, 1)
        var outShape = x.shape
        outShape[x.rank - 2] = oh
        outShape[x.rank - 1] = ow
        if planes == 0 { return Tensor(zeros: outShape) }
        let rowsIdentity = rows.isIdentity, columnsIdentity = columns.isIdentity
        if rowsIdentity && columnsIdentity { return x }

        func rowPass(_ src: Tensor, _ map: AxisResampling, length: Int) -> Tensor {
            let dst = Tensor.uninitialized([planes, map.outputSize, length])
            resampleRows(src.basePointer, dst.storage.pointer, planes: planes, length: length, map: map)
            return dst
        }
        func columnPass(_ src: Tensor, rowCount: Int) -> Tensor {
            let t = Tensor.uninitialized([planes, w, rowCount])
            transposePlanes(src.basePointer, t.storage.pointer, planes: planes, rows: rowCount, columns: w)
            let r = rowPass(t, columns, length: rowCount)
            let back = Tensor.uninitialized([planes, rowCount, ow])
            transposePlanes(r.storage.pointer, back.storage.pointer, planes: planes, rows: ow, columns: rowCount)
            return back
        }
        let out: Tensor
        if columnsIdentity {
            out = rowPass(x, rows, length: w)
        } else if rowsIdentity {
            out = columnPass(x, rowCount: h)
        } else {
            let rowsFirst = rows.indices.count * w + oh * w + columns.indices.count * oh + oh * ow
            let columnsFirst = h * w + columns.indices.count * h + h * ow + rows.indices.count * ow
            out = rowsFirst <= columnsFirst ? columnPass(rowPass(x, rows, length: w), rowCount: oh)
                                            : rowPass(columnPass(x, rowCount: h), rows, length: ow)
        }
        return Tensor(shape: outShape, storage: out.storage)
    }
}

/// `dst[p, i, :] = Σ_t weights[t] · src[p, indices[t], :]` over rows of `length` floats.
func resampleRows(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, planes: Int, length: Int,
                  map: AxisResampling) {
    let inRows = map.inputSize, outRows = map.outputSize
    map.starts.withUnsafeBufferPointer { st in
        map.indices.withUnsafeBufferPointer { ix in
            map.weights.withUnsafeBufferPointer { wt in
                splitAcrossThreads(planes * outRows, work: planes * map.indices.count * length) { jobs in
                    for job in jobs {
                        let p = job / outRows, i = job % outRows
                        let s = src + p * inRows * length
                        let d = dst + (p * outRows + i) * length
                        let terms = st[i]..<st[i + 1]
                        var c = 0
                        while c + 32 <= length {
                            var a0 = Vec(repeating: 0), a1 = Vec(repeating: 0)
                            for t in terms {
                                let wv = Vec(repeating: wt[t])
                                let r = s + ix[t] * length + c
                                a0 = a0.addingProduct(wv, loadVec(r))
                                a1 = a1.addingProduct(wv, loadVec(r + 16))
                            }
                            storeVec(a0, d + c)
                            storeVec(a1, d + c + 16)
                            c += 32
                        }
                        if c + 16 <= length {
                            var a0 = Vec(repeating: 0)
                            for t in terms { a0 = a0.addingProduct(Vec(repeating: wt[t]), loadVec(s + ix[t] * length + c)) }
                            storeVec(a0, d + c)
                            c += 16
                        }
                        // Short tails (and rows shorter than a vector, such as small masks) stay scalar:
                        // assembling partial vectors lane by lane costs more than it saves.
                        for j in c..<length {
                            var a: Float = 0
                            for t in terms { a += wt[t] * s[ix[t] * length + j] }
                            d[j] = a
                        }
                    }
                }
            }
        }
    }
}

/// Transposes each `rows`×`columns` plane of `src` into a `columns`×`rows` plane of `dst`.
func transposePlanes(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, planes: Int, rows: Int, columns: Int) {
    let size = rows * columns
    splitAcrossThreads(planes, work: planes * size / 4) { range in
        for p in range {
            let s = src + p * size, d = dst + p * size
            for r0 in stride(from: 0, to: rows, by: 16) {
                let r1 = Swift.min(r0 + 16, rows)
                for c0 in stride(from: 0, to: columns, by: 16) {
                    let c1 = Swift.min(c0 + 16, columns)
                    for r in r0..<r1 {
                        for c in c0..<c1 { d[c * rows + r] = s[r * columns + c] }
                    }
                }
            }
        }
    }
}

/// Runs `body` on `count` independent jobs, split evenly across the worker threads when `work`
/// (roughly the floating-point operations involved) is large enough to pay for the hand-off.
func splitAcrossThreads(_ count: Int, work: Int, _ body: (Range<Int>) -> Void) {
    let workers = Swift.min(Threading.threadCount, count, Swift.max(1, work / 100_000))
    if workers <= 1 { body(0..<count); return }
    parallelFor(workers) { k in
        let lo = count * k / workers, hi = count * (k + 1) / workers
        if lo < hi { body(lo..<hi) }
    }
}
