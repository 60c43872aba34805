import Foundation

extension Tensor {
    /// The same elements (row-major order) with a new shape; one dimension may be -1.
    /// A view when the tensor is row-major, otherwise a copy. Differentiable.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        let dims = resolvedShape(newShape)
        let c = contiguous()
        let oldShape = shape
        return Tensor(shape: dims, offset: c.offset, storage: c.storage)
            .recorded(from: [c]) { g in [g.reshaped(oldShape)] }
    }

    /// The same elements (row-major order) with a new shape, as a view whenever the strides allow it (PyTorch's
    /// `reshape`): splitting or merging axes that are laid out one inside the other needs no copy even when
    /// the tensor is not row-major, e.g. a slice of a wider tensor's last axis split into heads. Otherwise a
    /// row-major copy, as ``reshaped(_:)-([Int])``. The result may be strided; the tensor ops accept any
    /// strides. Differentiable.
    public func reshapedAsView(_ newShape: [Int]) -> Tensor {
        let dims = resolvedShape(newShape)
        guard !isContiguous, count > 0, let viewStrides = Tensor.viewStrides(shape, strides, dims) else { return reshaped(dims) }
        let oldShape = shape
        return Tensor(shape: dims, strides: viewStrides, offset: offset, storage: storage)
            .recorded(from: [self]) { g in [g.reshaped(oldShape)] }
    }

    /// `newShape` with its -1 dimension (if any) worked out from the element count; traps when the counts differ.
    private func resolvedShape(_ newShape: [Int]) -> [Int] {
        var dims = newShape
        if let k = dims.firstIndex(of: -1) {
            let known = dims.enumerated().filter { $0.offset != k }.map(\.element).reduce(1, *)
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            dims[k] = count / known
        }
        precondition(dims.reduce(1, *) == count, "cannot reshape \(shape) (\(count) elements) to \(newShape)")
        return dims
    }

    /// Strides that give `newShape` the elements of an `oldShape` tensor with `oldStrides` in row-major order,
    /// or nil when no strides can (PyTorch's `computeStride`): each run of old axes that are laid out one
    /// inside the other is split into new axes of the same total extent.
    static func viewStrides(_ oldShape: [Int], _ oldStrides: [Int], _ newShape: [Int]) -> [Int]? {
        var result = [Int](repeating: 0, count: newShape.count)
        var viewAxis = newShape.count - 1
        var chunkBaseStride = oldStrides.last ?? 1
        var tensorExtent = 1, viewExtent = 1
        for axis in stride(from: oldShape.count - 1, through: 0, by: -1) {
            tensorExtent *= oldShape[axis]
            // A chunk ends where the next outer axis is not laid out right around this run.
            if axis == 0 || (oldShape[axis - 1] != 1 && oldStrides[axis - 1] != tensorExtent * chunkBaseStride) {
                while viewAxis >= 0 && (viewExtent < tensorExtent || newShape[viewAxis] == 1) {
                    result[viewAxis] = viewExtent * chunkBaseStride
                    viewExtent *= newShape[viewAxis]
                    viewAxis -= 1
                }
                if viewExtent != tensorExtent { return nil }
                if axis > 0 {
                    chunkBaseStride = oldStrides[axis - 1]
                    tensorExtent = 1
                    viewExtent = 1
                }
            }
        }
        return viewAxis == -1 ? result : nil
    }

    /// ``reshaped(_:)-([Int])`` with the dimensions written out.
    public func reshaped(_ dims: Int...) -> Tensor { reshaped(dims) }

    /// A view with the axes reordered: result axis i is axis `order[i]` of self. Differentiable.
    public func permuted(_ order: [Int]) -> Tensor {
        precondition(order.sorted() == Array(0..<rank), "permutation \(order) for rank \(rank)")
        var inverse = [Int](repeating: 0, count: rank)
        for (i, o) in order.enumerated() { inverse[o] = i }
        return Tensor(shape: order.map { shape[$0] }, strides: order.map { strides[$0] }, offset: offset, storage: storage)
            .recorded(from: [self]) { g in [g.permuted(inverse)] }
    }

    /// ``permuted(_:)-([Int])`` with the order written out.
    public func permuted(_ order: Int...) -> Tensor { permuted(order) }

    /// A view with two axes swapped (negative axes count from the end). Differentiable.
    public func transposed(_ a: Int = -2, _ b: Int = -1) -> Tensor {
        var order = Array(0..<rank)
        order.swapAt(normalizedAxis(a), normalizedAxis(b))
        return permuted(order)
    }

    func normalizedAxis(_ axis: Int) -> Int {
        let a = axis < 0 ? axis + rank : axis
        precondition(a >= 0 && a < rank, "axis \(axis) out of range for rank \(rank)")
        return a
    }

    /// A view of `range` along `axis`. Differentiable.
    public func sliced(axis: Int, _ range: Range<Int>) -> Tensor {
        let a = normalizedAxis(axis)
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[a], "slice \(range) of axis \(a) with size \(shape[a])")
        var s = shape
        s[a] = range.count
        let fullShape = shape
        return Tensor(shape: s, strides: strides, offset: offset + range.lowerBound * strides[a], storage: storage)
            .recorded(from: [self]) { g in
                if range.count == fullShape[a] { return [g] }
                return [Tensor.sliceGradient(g, axis: a, range: range, fullShape: fullShape)]
            }
    }

    /// The gradient of a slice: `g` at `range` along `axis` of a row-major `fullShape` tensor, zeros elsewhere,
    /// written in one pass (each outer row: the leading zeros, `g`'s row, the trailing zeros), split across
    /// the threads when large.
    static func sliceGradient(_ g: Tensor, axis a: Int, range: Range<Int>, fullShape: [Int]) -> Tensor {
        let gc = g.contiguous()
        let out = Tensor.uninitialized(fullShape)
        let inner = fullShape[(a + 1)...].reduce(1, *)
        let outer = fullShape[..<a].reduce(1, *)
        let (lead, body, row) = (range.lowerBound * inner, range.count * inner, fullShape[a] * inner)
        let src = gc.basePointer, dst = out.storage.pointer
        let workers = Swift.min(Threading.threadCount, outer, Swift.max(1, out.count >> 16))
        func fill(_ rows: Range<Int>) {
            for o in rows {
                let d = dst + o * row
                d.update(repeating: 0, count: lead)
                (d + lead).update(from: src + o * body, count: body)
                (d + lead + body).update(repeating: 0, count: row - lead - body)
            }
        }
        if workers <= 1 { fill(0..<outer) } else {
            parallelFor(workers) { k in fill((outer * k / workers)..<(outer * (k + 1) / workers)) }
        }
        return out
    }

    /// Index `i` along `axis`, removing that axis. Differentiable.
    public func selecting(axis: Int, index i: Int) -> Tensor {
        let a = normalizedAxis(axis)
        var s = shape
        s.remove(at: a)
        return sliced(axis: a, i..<(i + 1)).reshapedView(s)
    }

    /// Reshape that keeps strides when only size-1 axes are inserted or removed.
    func reshapedView(_ newShape: [Int]) -> Tensor {
        let kept = Swift.zip(shape, strides).filter { $0.0 != 1 }
        if kept.map(\.0) == newShape.filter({ $0 != 1 }) {
            var strides: [Int] = []
            var it = kept.makeIterator()
            for d in newShape { strides.append(d == 1 ? 1 : it.next()!.1) }
            let oldShape = shape
            return Tensor(shape: newShape, strides: strides, offset: offset, storage: storage)
                .recorded(from: [self]) { g in [g.reshapedView(oldShape)] }
        }
        return reshaped(newShape)
    }

    /// Inserts a size-1 axis at `axis`. Differentiable.
    public func expandingShape(at axis: Int) -> Tensor {
        var s = shape
        s.insert(1, at: axis < 0 ? axis + rank + 1 : axis)
        return reshapedView(s)
    }

    /// Removes size-1 axes (all, or the given ones). Differentiable.
    public func squeezingShape(at axes: [Int]? = nil) -> Tensor {
        let drop = Set((axes ?? (0..<rank).filter { shape[$0] == 1 }).map(normalizedAxis))
        return reshapedView(shape.enumerated().filter { !drop.contains($0.offset) }.map(\.element))
    }

    /// The shape two shapes broadcast to (NumPy rules), or `nil` if they do not.
    public static func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
        let r = Swift.max(a.count, b.count)
        var out = [Int](repeating: 1, count: r)
        for i in 0..<r {
            let x = i < r - a.count ? 1 : a[i - (r - a.count)]
            let y = i < r - b.count ? 1 : b[i - (r - b.count)]
            if x != y && x != 1 && y != 1 { return nil }
            out[i] = x == 1 ? y : x
        }
        return out
    }

    /// A view broadcast to `newShape` (stride 0 on expanded axes). Differentiable: the gradient
    /// sums over the expanded axes.
    public func broadcast(to newShape: [Int]) -> Tensor {
        if newShape == shape { return self }
        precondition(newShape.count >= rank, "cannot broadcast \(shape) to \(newShape)")
        let lead = newShape.count - rank
        var st = [Int](repeating: 0, count: newShape.count)
        for i in 0..<rank {
            precondition(shape[i] == newShape[lead + i] || shape[i] == 1, "cannot broadcast \(shape) to \(newShape)")
            st[lead + i] = shape[i] == 1 && newShape[lead + i] != 1 ? 0 : strides[i]
        }
        let original = shape
        return Tensor(shape: newShape, strides: st, offset: offset, storage: storage)
            .recorded(from: [self]) { g in [g.summed(toShape: original)] }
    }

    /// Sums a gradient over broadcast axes so that it has `target`'s shape.
    func summed(toShape target: [Int]) -> Tensor {
        if shape == target { return self }
        let lead = rank - target.count
        var axes = Array(0..<lead)
        for i in 0..<target.count where target[i] == 1 && shape[lead + i] != 1 { axes.append(lead + i) }
        let s = axes.isEmpty ? self : sum(alongAxes: axes, keepingDimensions: true)
        return s.reshaped(target)
    }

    /// Joins tensors along `axis`; all other dimensions must match. Differentiable.
    public static func concatenate(_ parts: [Tensor], axis: Int) -> Tensor {
        precondition(!parts.isEmpty, "concatenate needs at least one tensor")
        let a = parts[0].normalizedAxis(axis)
        var shape = parts[0].shape
        for p in parts.dropFirst() {
            precondition(p.rank == shape.count && (0..<p.rank).allSatisfy { $0 == a || p.shape[$0] == shape[$0] },
                         "concatenate: shapes \(parts.map(\.shape)) differ off axis \(a)")
        }
        shape[a] = parts.reduce(0) { $0 + $1.shape[a] }
        let out = Tensor.uninitialized(shape)
        let outer = shape[..<a].reduce(1, *)
        let rowOut = shape[a...].reduce(1, *)
        var col = 0
        for p in parts {
            let c = p.contiguous()
            let row = p.shape[a...].reduce(1, *)
            for o in 0..<outer {
                (out.storage.pointer + o * rowOut + col).update(from: c.basePointer + o * row, count: row)
            }
            col += row
        }
        let sizes = parts.map { $0.shape[a] }
        return out.recorded(from: parts) { g in
            var start = 0
            return sizes.map { n in
                defer { start += n }
                return g.sliced(axis: a, start..<(start + n))
            }
        }
    }

    /// Rows `indices` of axis 0 (an embedding-style gather). Differentiable (scatter-add).
    public func gatheringRows(_ indices: [Int]) -> Tensor {
        let c = contiguous()
        let row = shape.dropFirst().reduce(1, *)
        var s = shape
        s[0] = indices.count
        let out = Tensor.uninitialized(s)
        for (k, i) in indices.enumerated() {
            precondition(i >= 0 && i < shape[0], "row index \(i) out of range 0..<\(shape[0])")
            (out.storage.pointer + k * row).update(from: c.basePointer + i * row, count: row)
        }
        let fullShape = shape
        return out.recorded(from: [c]) { g in
            let gc = g.contiguous()
            let r = Tensor(zeros: fullShape)
            for (k, i) in indices.enumerated() {
                let d = r.storage.pointer + i * row, s = gc.basePointer + k * row
                for j in 0..<row { d[j] += s[j] }
            }
            return [r]
        }
    }
}

/// How ``Tensor/padded(_:mode:)`` fills the border.
public enum PaddingMode: Sendable, Equatable {
    /// Zeros outside the tensor.
    case zeros
    /// Mirror without repeating the edge pixel (PyTorch `reflect`, NumPy `reflect`).
    case reflect
}

extension Tensor {
    /// Pads the last `pads.count` axes by `(before, after)` pairs, listed from the first padded
    /// axis to the last. Differentiable.
    public func padded(_ pads: [(before: Int, after: Int)], mode: PaddingMode = .zeros) -> Tensor {
        let k = pads.count
        precondition(k <= rank, "padding \(k) axes of a rank-\(rank) tensor")
        let first = rank - k
        var outShape = shape
        for (i, p) in pads.enumerated() {
            outShape[first + i] += p.before + p.after
            if mode == .reflect {
                precondition(p.before < shape[first + i] && p.after < shape[first + i],
                             "reflect padding \(p) needs it smaller than the axis size \(shape[first + i])")
            }
        }
        // Index maps per padded axis: output position -> source position (or -1 for zero).
        let maps: [[Int]] = pads.enumerated().map { i, p in
            let n = shape[first + i]
            return (0..<outShape[first + i]).map { o in
                var s = o - p.before
                if s < 0 || s >= n {
                    if mode == .zeros { return -1 }
                    if s < 0 { s = -s }
                    if s >= n { s = 2 * (n - 1) - s }
                }
                return s
            }
        }
        let c = contiguous()
        let out = Tensor.uninitialized(outShape)
        let outer = shape[..<first].reduce(1, *)
        let inBlock = shape[first...].reduce(1, *), outBlock = outShape[first...].reduce(1, *)
        let inStrides = Tensor.contiguousStrides(for: Array(shape[first...]))
        let src = c.basePointer, dst = out.storage.pointer
        var sourceIndex = [Int](repeating: 0, count: outBlock)
        var idx = [Int](repeating: 0, count: k)
        for o in 0..<outBlock {
            var s = 0
            for j in 0..<k {
                let m = maps[j][idx[j]]
                if m < 0 { s = -1; break }
                s += m * inStrides[j]
            }
            sourceIndex[o] = s
            var j = k - 1
            while j >= 0 { idx[j] += 1; if idx[j] < outShape[first + j] { break }; idx[j] = 0; j -= 1 }
        }
        for b in 0..<outer {
            let sp = src + b * inBlock, dp = dst + b * outBlock
            for o in 0..<outBlock { let s = sourceIndex[o]; dp[o] = s < 0 ? 0 : sp[s] }
        }
        let inShape = shape
        return out.recorded(from: [c]) { g in
            let gc = g.contiguous()
            let r = Tensor(zeros: inShape)
            for b in 0..<outer {
                let gp = gc.basePointer + b * outBlock, rp = r.storage.pointer + b * inBlock
                for o in 0..<outBlock { let s = sourceIndex[o]; if s >= 0 { rp[s] += gp[o] } }
            }
            return [r]
        }
    }
}
