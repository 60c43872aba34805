import Foundation

/// An n-dimensional array of `Float`s with value semantics for its shape and reference
/// semantics for its storage (views share storage; no op ever writes into an existing tensor).
///
/// A tensor is a strided view: `element[i0, i1, …] = storage[offset + Σ ik·strides[k]]`.
/// Permutations, slices and broadcasts are views; kernels that need a particular layout call
/// ``contiguous()`` (row-major) or keep a dense permuted layout such as channels-last, which is
/// how convolutional networks stay in oneDNN's preferred layout from layer to layer.
public struct Tensor: @unchecked Sendable {
    /// The size of each axis, outermost first (NCHW for images).
    public let shape: [Int]
    /// Elements to step in ``storage`` per index on each axis (row-major for a fresh tensor; channels-last after a convolution).
    public let strides: [Int]
    /// Index in ``storage`` of the element at index 0 on every axis.
    public let offset: Int
    /// The buffer this tensor and its views share.
    public let storage: TensorStorage
    /// The autodiff node that produced this tensor, or `nil` for a constant.
    var node: GradNode?

    /// Wraps `storage` as a view; no data is copied.
    public init(shape: [Int], strides: [Int]? = nil, offset: Int = 0, storage: TensorStorage) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        self.shape = shape
        self.strides = strides ?? Tensor.contiguousStrides(for: shape)
        self.offset = offset
        self.storage = storage
        self.node = nil
    }

    /// A row-major tensor holding `scalars`.
    public init(shape: [Int], scalars: [Float]) {
        let n = shape.reduce(1, *)
        precondition(scalars.count == n, "shape \(shape) needs \(n) values, got \(scalars.count)")
        let s = TensorStorage(uninitializedCount: n)
        scalars.withUnsafeBufferPointer { s.pointer.update(from: $0.baseAddress!, count: n) }
        self.init(shape: shape, storage: s)
    }

    /// A row-major tensor whose elements `initializer` writes into the buffer it is given, which it must fill.
    ///
    /// For loaders that decode a file's bytes straight into the tensor's storage, without an intermediate array.
    public init(shape: [Int], initializingWith initializer: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        let n = shape.reduce(1, *)
        let s = TensorStorage(uninitializedCount: n)
        try initializer(UnsafeMutableBufferPointer(start: s.pointer, count: n))
        self.init(shape: shape, storage: s)
    }

    /// A row-major tensor with every element equal to `value`.
    public init(repeating value: Float, shape: [Int]) {
        self.init(shape: shape, storage: TensorStorage(count: shape.reduce(1, *), repeating: value))
    }

    /// A row-major tensor of zeros.
    public init(zeros shape: [Int]) { self.init(repeating: 0, shape: shape) }

    /// A scalar (rank-0) tensor.
    public init(_ value: Float) { self.init(shape: [], scalars: [value]) }

    /// A row-major tensor with uninitialised contents, for kernels that write every element.
    public static func uninitialized(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, storage: TensorStorage(uninitializedCount: shape.reduce(1, *)))
    }

    /// A tensor with uninitialised contents laid out with the same dense strides as `like`.
    static func uninitialized(like other: Tensor) -> Tensor {
        if other.isDense {
            return Tensor(shape: other.shape, strides: other.strides, offset: 0,
                          storage: TensorStorage(uninitializedCount: other.count))
        }
        return .uninitialized(other.shape)
    }

    /// The number of axes.
    public var rank: Int { shape.count }
    /// The number of elements: the product of the shape (1 for a scalar).
    public var count: Int { shape.reduce(1, *) }

    /// Row-major strides for `shape`.
    public static func contiguousStrides(for shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[i] = acc
            acc *= Swift.max(shape[i], 1)
        }
        return strides
    }

    /// Whether the elements are stored row-major with no gaps.
    public var isContiguous: Bool {
        var expected = 1
        for i in stride(from: rank - 1, through: 0, by: -1) where shape[i] != 1 {
            if strides[i] != expected { return false }
            expected *= shape[i]
        }
        return true
    }

    /// Whether the elements occupy `count` consecutive storage slots from `offset` in some
    /// axis order (row-major, channels-last, or any other permutation).
    public var isDense: Bool {
        let dims = (0..<rank).filter { shape[$0] != 1 }.sorted { strides[$0] > strides[$1] }
        var expected = 1
        for i in dims.reversed() {
            if strides[i] != expected { return false }
            expected *= shape[i]
        }
        return true
    }

    /// Whether a rank-4 NCHW tensor is stored channels-last (NHWC order in memory).
    public var isChannelsLast: Bool {
        guard rank == 4 else { return false }
        let (c, h, w) = (shape[1], shape[2], shape[3])
        return strides[1] == 1 && strides[3] == c && strides[2] == c * w && (shape[0] == 1 || strides[0] == c * h * w)
    }

    /// The elements in row-major order.
    public var scalars: [Float] {
        let c = contiguous()
        return Array(UnsafeBufferPointer(start: c.storage.pointer + c.offset, count: c.count))
    }

    /// The single element of a one-element tensor.
    public var scalar: Float {
        precondition(count == 1, "scalar of a tensor with shape \(shape)")
        return storage.pointer[offset]
    }

    /// The element at a multi-index.
    public subscript(_ index: Int...) -> Float {
        precondition(index.count == rank, "index \(index) for shape \(shape)")
        var o = offset
        for (k, i) in index.enumerated() {
            precondition(i >= 0 && i < shape[k], "index \(index) out of range for shape \(shape)")
            o += i * strides[k]
        }
        return storage.pointer[o]
    }

    /// Pointer to the first element (meaningful for contiguous or dense tensors).
    public var basePointer: UnsafeMutablePointer<Float> { storage.pointer + offset }

    /// The same values as a row-major tensor (self when already row-major). Differentiable.
    public func contiguous() -> Tensor {
        if isContiguous { return self }
        let out = Tensor.uninitialized(shape)
        Tensor.copyStrided(from: self, into: out.storage.pointer)
        return out.recorded(from: [self]) { g in [g] }
    }

    /// The same values stored channels-last (rank 4 only). Differentiable.
    public func channelsLast() -> Tensor {
        precondition(rank == 4, "channelsLast needs a rank-4 NCHW tensor, got \(shape)")
        if isChannelsLast { return self }
        if count >= 1 << 12 && Swift.zip(shape, strides).allSatisfy({ $0 == 1 || $1 > 0 }) {
            // A network's input arrives as NCHW on every call; oneDNN's reorder transposes it several
            // times faster than the element-by-element strided copy.
            let out = Tensor(shape: shape, strides: Tensor.channelsLastStrides(shape), storage: TensorStorage(uninitializedCount: count))
            reorder(self, into: UnsafeMutableRawPointer(out.storage.pointer), strides: out.strides)
            return out.recorded(from: [self]) { g in [g] }
        }
        let nhwc = permuted(0, 2, 3, 1).contiguous()
        return Tensor(shape: shape, strides: [nhwc.strides[0], 1, nhwc.strides[1], nhwc.strides[2]],
                      storage: nhwc.storage).recorded(from: [self]) { g in [g] }
    }

    /// Copies a strided tensor's elements in row-major order to `dst`.
    static func copyStrided(from t: Tensor, into dst: UnsafeMutablePointer<Float>) {
        let r = t.rank
        if r == 0 { dst[0] = t.storage.pointer[t.offset]; return }
        let inner = t.shape[r - 1]
        if inner == 0 || t.count == 0 { return }
        let outer = t.count / inner
        // Large copies (a reshape of a transposed or sliced view) split their rows across the threads.
        let workers = Swift.min(Threading.threadCount, outer, Swift.max(1, t.count >> 16))
        if r >= 2, t.strides[r - 1] != 1, t.strides[r - 2] == 1, t.shape[r - 2] >= 16, inner >= 16 {
            let tiles = outer / t.shape[r - 2] * ((t.shape[r - 2] + transposeTile - 1) / transposeTile)
            if workers <= 1 { copyTransposedTiles(from: t, 0..<tiles, into: dst); return }
            parallelFor(workers) { k in
                copyTransposedTiles(from: t, (tiles * k / workers)..<(tiles * (k + 1) / workers), into: dst)
            }
            return
        }
        if workers <= 1 { copyStridedRows(from: t, 0..<outer, into: dst); return }
        parallelFor(workers) { k in
            copyStridedRows(from: t, (outer * k / workers)..<(outer * (k + 1) / workers), into: dst)
        }
    }

    /// The side of the square tiles ``copyTransposedTiles(from:_:into:)`` copies.
    private static let transposeTile = 64

    /// Copies a view whose last two axes are transposed (the second-to-last has stride 1, the last does not:
    /// `W.transposed().contiguous()`) in square tiles, so that the lines each tile reads stay in the L1 cache
    /// while it is written. Row by row, each output row reads one cache line per element and the lines are
    /// evicted before the next rows use them again: a [768, 3072] weight took 10.5 ms that way, 3.6–4.3 in
    /// 64 × 64 tiles, on one core of this project's Ice Lake machine. `tiles` numbers the bands of
    /// `transposeTile` rows of each matrix of the view, in row-major order.
    private static func copyTransposedTiles(from t: Tensor, _ tiles: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
        let r = t.rank
        let rows = t.shape[r - 2], columns = t.shape[r - 1], columnStride = t.strides[r - 1]
        let bands = (rows + transposeTile - 1) / transposeTile
        let src = t.storage.pointer
        for tile in tiles {
            let matrix = tile / bands, i0 = (tile % bands) * transposeTile, i1 = Swift.min(i0 + transposeTile, rows)
            var base = t.offset, rest = matrix
            for k in stride(from: r - 3, through: 0, by: -1) {
                base += rest % t.shape[k] * t.strides[k]
                rest /= t.shape[k]
            }
            let out = dst + matrix * rows * columns
            var j0 = 0
            while j0 < columns {
                let j1 = Swift.min(j0 + transposeTile, columns)
                for i in i0..<i1 {
                    let d = out + i * columns, s = src + base + i
                    for j in j0..<j1 { d[j] = s[j * columnStride] }
                }
                j0 = j1
            }
        }
    }

    /// Copies rows `rows` (indices into the row-major order of all axes but the last) of `t` to their
    /// row-major places in `dst`.
    private static func copyStridedRows(from t: Tensor, _ rows: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
        let r = t.rank
        let src = t.storage.pointer
        let inner = t.shape[r - 1], innerStride = t.strides[r - 1]
        guard !rows.isEmpty else { return }
        // The multi-index of the first row.
        var idx = [Int](repeating: 0, count: r - 1)
        var base = t.offset
        var rest = rows.lowerBound
        for k in stride(from: r - 2, through: 0, by: -1) {
            idx[k] = rest % t.shape[k]
            rest /= t.shape[k]
            base += idx[k] * t.strides[k]
        }
        var d = dst + rows.lowerBound * inner
        for _ in rows {
            if innerStride == 1 {
                d.update(from: src + base, count: inner)
            } else {
                var s = src + base
                for j in 0..<inner { d[j] = s.pointee; s += innerStride }
            }
            d += inner
            // increment the outer multi-index
            var k = r - 2
            while k >= 0 {
                idx[k] += 1
                base += t.strides[k]
                if idx[k] < t.shape[k] { break }
                base -= t.strides[k] * t.shape[k]
                idx[k] = 0
                k -= 1
            }
        }
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let values = scalars
        let shown = values.prefix(8).map { String(format: "%.5g", $0) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), [\(shown)\(values.count > 8 ? ", …" : "")])"
    }
}

/// Deterministic pseudo-random numbers (SplitMix64) so that seeded runs repeat exactly on any machine.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64
    /// A generator whose sequence is fixed by `seed`, the same on every platform.
    public init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// A uniform Float in [0, 1).
    public mutating func nextUniform() -> Float { Float(next() >> 40) * 0x1p-24 }
    /// A standard normal Float (Box–Muller).
    public mutating func nextNormal() -> Float {
        var u1 = nextUniform()
        while u1 <= 0 { u1 = nextUniform() }
        let u2 = nextUniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}

extension Tensor {
    /// Uniform values in `range`, from a seeded generator.
    public init(randomUniform shape: [Int], in range: ClosedRange<Float> = 0...1, generator: inout SeededGenerator) {
        let n = shape.reduce(1, *)
        var v = [Float](repeating: 0, count: n)
        for i in 0..<n { v[i] = range.lowerBound + (range.upperBound - range.lowerBound) * generator.nextUniform() }
        self.init(shape: shape, scalars: v)
    }

    /// Normally distributed values, from a seeded generator.
    public init(randomNormal shape: [Int], mean: Float = 0, standardDeviation: Float = 1,
                generator: inout SeededGenerator) {
        let n = shape.reduce(1, *)
        var v = [Float](repeating: 0, count: n)
        for i in 0..<n { v[i] = mean + standardDeviation * generator.nextNormal() }
        self.init(shape: shape, scalars: v)
    }
}
