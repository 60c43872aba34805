import CDNNL
import Foundation

// Winograd's minimal filtering, F(2×2, 3×3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks",
// 2016), for the 3×3 convolutions of the forward-only chains (BlockedInference.swift).
//
// oneDNN 2.6 has Winograd kernels only for AVX-512; on AVX2 its direct kernels already run at about 90 % of the
// cores' FMA rate, so the 3×3 layers (a third of ResNet-50's time) could only get faster by doing fewer
// multiplications. F(2×2, 3×3) computes each 2×2 output tile from a 4×4 input tile with 16 products per channel
// pair instead of 36: the input tiles and the filters are transformed (additions only, and halvings, exact in
// binary), multiplied as 16 independent matrix products over the channels, and the products transformed back.
// The result differs from the direct sum by rounding only (about 1e−6 of the output's magnitude).
// docs/design/onnx-speed.md, "Winograd 3 × 3 convolutions", has the measurements behind the rules below.

/// A 3×3, stride-1, padding-1 convolution by F(2×2, 3×3), reading and writing the chains' blocked activation
/// layout (nChw8c or nChw16c), with its bias, an optional residual and activation applied as the tiles are
/// written back.
final class WinogradConvolution: @unchecked Sendable {
    let inputChannels: Int
    let outputChannels: Int
    /// U = G·g·Gᵀ of each filter g, as 16 matrices [C, K] (one per position in the 4×4 tile), row-major.
    private let transformedWeights: TensorStorage
    private let bias: TensorStorage
    private let activation: ConvActivation?

    /// Whether the chains and the fp32 differentiable convolutions use this algorithm unless told otherwise: on CPUs
    /// whose blocked layout is eight channels wide (AVX2), where it was measured faster; `FOVEX_WINOGRAD=0` turns it
    /// off, `=1` on for every CPU.
    static let isEnabled: Bool = {
        switch ProcessInfo.processInfo.environment["FOVEX_WINOGRAD"] {
        case "0": return false
        case "1": return true
        default: return blockedActivationChannels == 8
        }
    }()

    /// Whether a convolution of `channels` → `outputs` channels on an H × W input is one this algorithm computes,
    /// and one where it was measured faster than oneDNN's direct kernel: 3×3, stride 1, no dilation or groups, one
    /// pixel of zero padding on every side, channel counts that are multiples of `multiple` and at least 32, and at
    /// least 36 tiles (an output of 11 × 11 or more). Smaller layers lose to the cost of the transforms, and a 7 × 7
    /// output's 16 tiles make matrix products too short to amortise reading the transformed filters.
    static func applies(channels: Int, outputs: Int, height h: Int, width w: Int, kernel: (Int, Int), stride: Int,
                        dilation: Int, groups: Int, pads: (Int, Int, Int, Int), multiple: Int) -> Bool {
        kernel == (3, 3) && stride == 1 && dilation == 1 && groups == 1 && pads == (1, 1, 1, 1)
            && channels % multiple == 0 && outputs % multiple == 0 && channels >= 32 && outputs >= 32
            && ((h + 1) / 2) * ((w + 1) / 2) >= 36
    }

    /// Whether a chain's convolution `c` on an input of NCHW `shape` is one this algorithm takes (``applies(channels:outputs:height:width:kernel:stride:dilation:groups:pads:multiple:)``),
    /// in a blocked layout of `blockChannels` channels.
    static func applies(to c: BlockedConvolution, input shape: [Int], blockChannels: Int) -> Bool {
        guard c.weight.rank == 4, shape.count == 4, c.weight.shape[1] == shape[1] else { return false }
        if case .reflect = c.padding { return false }
        let kernel = (c.weight.shape[2], c.weight.shape[3])
        let pads = c.padding.zeroPads(height: shape[2], width: shape[3], kernel: kernel, stride: c.stride, dilation: c.dilation)
        return applies(channels: shape[1], outputs: c.weight.shape[0], height: shape[2], width: shape[3], kernel: kernel,
                       stride: c.stride, dilation: c.dilation, groups: c.groups, pads: pads, multiple: blockChannels)
    }

    /// - Parameters:
    ///   - weight: [K, C, 3, 3] filters.
    ///   - bias: [K], or nil.
    ///   - transposed: convolve with the filters rotated by 180° and their two channel axes swapped, a C ← K
    ///     convolution: the input gradient of the K ← C one (a stride-1 convolution's backward-data product is the
    ///     forward convolution of the output gradient with these filters).
    init(weight: Tensor, bias: Tensor?, activation: ConvActivation?, transposed: Bool = false) {
        precondition(weight.rank == 4 && weight.shape[2] == 3 && weight.shape[3] == 3, "Winograd needs 3×3 filters")
        let (k, c) = (weight.shape[0], weight.shape[1])
        (inputChannels, outputChannels, self.activation) = transposed ? (k, c, activation) : (c, k, activation)
        transformedWeights = PackedWeightCache.shared.derived(from: weight, key: transposed ? "winograd-f2x3-transposed" : "winograd-f2x3") {
            WinogradConvolution.transform(filters: weight.contiguous(), outputs: k, inputs: c, transposed: transposed)
        }
        let b = TensorStorage(count: outputChannels, repeating: 0)
        if let bias {
            precondition(bias.count == outputChannels, "bias of \(bias.count) for \(outputChannels) outputs")
            let values = bias.contiguous()
            b.pointer.update(from: values.basePointer, count: outputChannels)
        }
        self.bias = b
    }

    /// The 16 [C, K] matrices of transformed filters of OIHW `filters` ([K, C, 3, 3]); `transposed`, the 16
    /// [K, C] matrices of the rotated filters with their channel axes swapped.
    private static func transform(filters: Tensor, outputs k: Int, inputs c: Int, transposed: Bool) -> TensorStorage {
        let u = TensorStorage(uninitializedCount: 16 * c * k)
        let g = filters.basePointer
        // G·g: rows g0, (g0 + g1 + g2)/2, (g0 − g1 + g2)/2, g2 of each column; then ·Gᵀ, the same combination of
        // each resulting row's three entries.
        func combine(_ a: Float, _ b: Float, _ d: Float) -> (Float, Float, Float, Float) {
            (a, 0.5 * (a + b + d), 0.5 * (a - b + d), d)
        }
        for o in 0..<k {
            for i in 0..<c {
                let f = g + (o * c + i) * 9
                // The rotated filter's tap (r, s) is the filter's (2 − r, 2 − s).
                let tap: (Int, Int) -> Float = transposed ? { r, s in f[(2 - r) * 3 + 2 - s] } : { r, s in f[r * 3 + s] }
                let columns = (0..<3).map { j in combine(tap(0, j), tap(1, j), tap(2, j)) }
                let rows = [(columns[0].0, columns[1].0, columns[2].0), (columns[0].1, columns[1].1, columns[2].1),
                            (columns[0].2, columns[1].2, columns[2].2), (columns[0].3, columns[1].3, columns[2].3)]
                for (r, row) in rows.enumerated() {
                    let e = combine(row.0, row.1, row.2)
                    for (s, value) in [e.0, e.1, e.2, e.3].enumerated() {
                        u.pointer[transposed ? ((r * 4 + s) * k + o) * c + i : ((r * 4 + s) * c + i) * k + o] = value
                    }
                }
            }
        }
        return u
    }

    /// The convolution of `input` (N × C × H × W in a blocked layout of `inputBlock` channels) into `output`
    /// (N × K × H × W, blocks of `outputBlock` channels): bias, then `residual` (same shape and layout as the
    /// output; it may be the output buffer itself), then the activation. Blocks as wide as all the channels are the
    /// channels-last layout (NHWC).
    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?,
             batch: Int, height: Int, width: Int, inputBlock: Int, outputBlock: Int) {
        let geometry = TileGeometry(batch: batch, height: height, width: width, inputChannels: inputChannels,
                                    outputChannels: outputChannels, inputBlock: inputBlock, outputBlock: outputBlock)
        let tiles = geometry.tileCount
        let (c, k) = (inputChannels, outputChannels)
        let threads = Threading.threadCount
        DNNLContext.shared.runExclusively {
            // Whole image at once while its transformed tiles stay within a few MB (ResNet-50's 28 × 28 and 14 × 14
            // stages): each thread transforms a share of the tiles, then the 16 products run one per thread at a
            // time. Larger inputs go in blocks of tiles, each transformed, multiplied and written back by one thread
            // while its tiles are in that core's cache (ResNet-50's 56 × 56 stage, 8 MB whole, ran faster so in three
            // runs of four).
            if 64 * tiles * (c + k) <= 4 << 20 {
                let v = TensorStorage(uninitializedCount: 16 * tiles * c)
                let m = TensorStorage(uninitializedCount: 16 * tiles * k)
                let (vp, mp) = (v.pointer, m.pointer)
                let parts = Swift.min(threads, tiles)
                func share(_ part: Int) -> Range<Int> { part * tiles / parts..<(part + 1) * tiles / parts }
                parallelFor(parts) { part in
                    geometry.transformInput(input, tiles: share(part), into: vp, firstRow: 0, rowCount: tiles, channelsOuter: false)
                }
                parallelFor(16) { position in
                    geometry.multiply(position: position, tiles: tiles, v: vp, u: transformedWeights.pointer, m: mp)
                }
                parallelFor(parts) { part in
                    geometry.transformOutput(mp, tiles: share(part), firstRow: 0, rowCount: tiles, bias: bias.pointer,
                                             residual: residual, activation: activation, into: output)
                }
            } else {
                let perThread = (tiles + threads - 1) / threads
                let blockTiles = Swift.min(perThread, Swift.max(64, (512 << 10) / (64 * (c + k))))
                let blocks = (tiles + blockTiles - 1) / blockTiles
                parallelFor(Swift.min(threads, blocks)) { part in
                    let v = TensorStorage(uninitializedCount: 16 * blockTiles * c)
                    let m = TensorStorage(uninitializedCount: 16 * blockTiles * k)
                    var block = part
                    while block < blocks {
                        let range = block * blockTiles..<Swift.min(tiles, (block + 1) * blockTiles)
                        geometry.transformInput(input, tiles: range, into: v.pointer, firstRow: range.lowerBound,
                                                rowCount: range.count, channelsOuter: inputBlock < c)
                        for position in 0..<16 {
                            geometry.multiply(position: position, tiles: range.count, v: v.pointer,
                                              u: transformedWeights.pointer, m: m.pointer)
                        }
                        geometry.transformOutput(m.pointer, tiles: range, firstRow: range.lowerBound, rowCount: range.count,
                                                 bias: bias.pointer, residual: residual, activation: activation, into: output)
                        block += threads
                    }
                }
            }
        }
    }
}

/// Where a tile's pixels lie in the blocked layout, and the three stages on ranges of tiles and channels.
private struct TileGeometry {
    let batch, height, width, inputChannels, outputChannels, inputBlock, outputBlock: Int
    let tileRows, tileColumns: Int

    init(batch: Int, height: Int, width: Int, inputChannels: Int, outputChannels: Int, inputBlock: Int, outputBlock: Int) {
        (self.batch, self.height, self.width) = (batch, height, width)
        (self.inputChannels, self.outputChannels) = (inputChannels, outputChannels)
        (self.inputBlock, self.outputBlock) = (inputBlock, outputBlock)
        (tileRows, tileColumns) = ((height + 1) / 2, (width + 1) / 2)
    }

    var tileCount: Int { batch * tileRows * tileColumns }

    /// The offset of the eight channels from `channel` (a multiple of 8) at pixel (0, 0) of the first image, for a
    /// value laid out in blocks of `block` channels; image n is `n · channels · height · width` further, pixel
    /// (y, x) `(y · width + x) · block`.
    func channelOffset(_ channel: Int, block: Int) -> Int {
        let index = channel / block
        return index * height * width * block + channel - index * block
    }

    /// Bᵀ·d·B of the 4×4 input tiles at `tiles` (starting one pixel above and left of their outputs, zeros outside
    /// the image), all channels, into row `tile − firstRow` of V's 16 matrices of `rowCount` rows and C columns.
    /// With `channelsOuter`, eight channels of every tile at a time, reading the input plane by plane (the order for
    /// a block of tiles whose V stays in cache); else every channel of a tile at a time, writing V's rows whole.
    func transformInput(_ x: UnsafePointer<Float>, tiles: Range<Int>, into v: UnsafeMutablePointer<Float>,
                        firstRow: Int, rowCount: Int, channelsOuter: Bool) {
        let c = inputChannels
        let matrix = rowCount * c
        let (pixel, row) = (inputBlock, width * inputBlock)
        let perImage = tileRows * tileColumns
        let chunkOffsets = stride(from: 0, to: c, by: 8).map { channelOffset($0, block: inputBlock) }
        withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 16) { d in
            @inline(__always) func transform(tile t: Int, chunk: Int) {
                let n = t / perImage, r = t % perImage
                let (y0, x0) = (2 * (r / tileColumns) - 1, 2 * (r % tileColumns) - 1)
                let plane = x + n * c * height * width + chunkOffsets[chunk]
                if y0 >= 0 && y0 + 3 < height && x0 >= 0 && x0 + 3 < width {
                    let origin = plane + y0 * row + x0 * pixel
                    for i in 0..<4 {
                        for j in 0..<4 { d[i * 4 + j] = load8(origin + i * row + j * pixel) }
                    }
                } else {
                    for i in 0..<4 {
                        let rowInside = y0 + i >= 0 && y0 + i < height
                        for j in 0..<4 {
                            d[i * 4 + j] = rowInside && x0 + j >= 0 && x0 + j < width
                                ? load8(plane + (y0 + i) * row + (x0 + j) * pixel) : .zero
                        }
                    }
                }
                // Bᵀ·d (rows), then ·B (columns): Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1].
                for j in 0..<4 {
                    let (a, b, e, f) = (d[j], d[4 + j], d[8 + j], d[12 + j])
                    (d[j], d[4 + j], d[8 + j], d[12 + j]) = (a - e, b + e, e - b, b - f)
                }
                let o = v + (t - firstRow) * c + chunk * 8
                for i in 0..<4 {
                    let (a, b, e, f) = (d[4 * i], d[4 * i + 1], d[4 * i + 2], d[4 * i + 3])
                    store8(a - e, o + (4 * i) * matrix)
                    store8(b + e, o + (4 * i + 1) * matrix)
                    store8(e - b, o + (4 * i + 2) * matrix)
                    store8(b - f, o + (4 * i + 3) * matrix)
                }
            }
            if channelsOuter {
                for chunk in chunkOffsets.indices { for t in tiles { transform(tile: t, chunk: chunk) } }
            } else {
                for t in tiles { for chunk in chunkOffsets.indices { transform(tile: t, chunk: chunk) } }
            }
        }
    }

    /// M = V·U at one of the 16 tile positions, on the calling thread (oneDNN's GEMM runs single-threaded inside a
    /// parallel region).
    func multiply(position: Int, tiles: Int, v: UnsafePointer<Float>, u: UnsafePointer<Float>,
                  m: UnsafeMutablePointer<Float>) {
        let (c, k) = (inputChannels, outputChannels)
        dnnlCheck(dnnl_sgemm(CChar(UInt8(ascii: "N")), CChar(UInt8(ascii: "N")), Int64(tiles), Int64(k), Int64(c), 1,
                             v + position * tiles * c, Int64(c), u + position * c * k, Int64(k), 0,
                             m + position * tiles * k, Int64(k)),
                  "Winograd product \(tiles)×\(c)·\(c)×\(k)")
    }

    /// Aᵀ·m·A of the products at `tiles` (row `tile − firstRow` of M's 16 matrices of `rowCount` rows and K
    /// columns), plus bias, residual and activation, into the output's 2×2 tiles (those inside the image). Tiles
    /// outer and channels inner, so that M's rows are read whole.
    func transformOutput(_ m: UnsafePointer<Float>, tiles: Range<Int>, firstRow: Int, rowCount: Int,
                         bias: UnsafePointer<Float>, residual: UnsafePointer<Float>?, activation: ConvActivation?,
                         into y: UnsafeMutablePointer<Float>) {
        let k = outputChannels
        let matrix = rowCount * k
        let (pixel, row) = (outputBlock, width * outputBlock)
        let perImage = tileRows * tileColumns
        let chunkOffsets = stride(from: 0, to: k, by: 8).map { channelOffset($0, block: outputBlock) }
        for t in tiles {
            let n = t / perImage, r = t % perImage
            let (y0, x0) = (2 * (r / tileColumns), 2 * (r % tileColumns))
            let (rows, columns) = (Swift.min(2, height - y0), Swift.min(2, width - x0))
            let origin = n * k * height * width + y0 * row + x0 * pixel
            let products = m + (t - firstRow) * k
            for (chunk, chunkOffset) in chunkOffsets.enumerated() {
                let p = products + chunk * 8
                let b = load8(bias + chunk * 8)
                // Aᵀ = [1 1 1 0; 0 1 −1 −1]: rows first (each column j's top and bottom sums), then columns.
                let (t0, b0) = rowSums(p, matrix)
                let (t1, b1) = rowSums(p + matrix, matrix)
                let (t2, b2) = rowSums(p + 2 * matrix, matrix)
                let (t3, b3) = rowSums(p + 3 * matrix, matrix)
                for i in 0..<rows {
                    let (a, bb, e, f) = i == 0 ? (t0, t1, t2, t3) : (b0, b1, b2, b3)
                    for j in 0..<columns {
                        let o = origin + chunkOffset + i * row + j * pixel
                        var value = (j == 0 ? a + bb + e : bb - e - f) + b
                        if let residual { value += load8(residual + o) }
                        switch activation {
                        case .relu?: value = value.replacing(with: 0, where: value .< 0)
                        case .relu6?: value = value.replacing(with: 0, where: value .< 0).replacing(with: 6, where: value .> 6)
                        case nil: break
                        }
                        store8(value, y + o)
                    }
                }
            }
        }
    }

    /// Column j's Aᵀ rows: m[0][j] + m[1][j] + m[2][j] and m[1][j] − m[2][j] − m[3][j], with `p` at m[0][j] and
    /// rows `4 · matrix` apart.
    @inline(__always) private func rowSums(_ p: UnsafePointer<Float>, _ matrix: Int) -> (SIMD8<Float>, SIMD8<Float>) {
        let (a, b, e, f) = (load8(p), load8(p + 4 * matrix), load8(p + 8 * matrix), load8(p + 12 * matrix))
        return (a + b + e, b - e - f)
    }
}

@inline(__always) private func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always) private func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}
