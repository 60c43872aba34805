import Foundation
import FovExTensor

// Ops that place elements by index: Pad, Split and ScatterND. Float tensors go through differentiable
// tensor ops (zero padding, slices, and an element gather whose gradient scatters back); integer tensors are
// computed directly.

/// The row-major flat positions in a tensor of `shape` of the elements picked per axis (`picks[d]` holds the
/// indices taken along axis d), in the order of the result.
func flatPositions(shape: [Int], picks: [[Int]]) -> [Int] {
    let strides = Tensor.contiguousStrides(for: shape)
    var positions = [0]
    for d in picks.indices {
        var next: [Int] = []
        next.reserveCapacity(positions.count * picks[d].count)
        for p in positions { for i in picks[d] { next.append(p + i * strides[d]) } }
        positions = next
    }
    return positions
}

extension ONNXOperators {
    static let indexingBuilders: [String: KernelBuilder] = {
        var b: [String: KernelBuilder] = [:]
        b["Pad"] = { ctx in
            let mode = ctx.node.string("mode") ?? "constant"
            guard ["constant", "reflect", "edge"].contains(mode) else {
                throw UnsupportedUseError("mode = '\(mode)' is not supported (constant, reflect and edge are)")
            }
            // Before opset 11 the pads and the value are attributes.
            let legacyPads = ctx.opset < 11 ? ctx.node.ints("pads") : nil
            let legacyValue = ctx.node.float("value", default: 0)
            return { inputs in
                guard let v = inputs.first ?? nil else { throw KernelError("Pad needs data") }
                let s = v.shape, r = s.count
                guard let pads = try legacyPads ?? integerList(inputs, 1, "Pad") else { throw KernelError("Pad needs pads") }
                let value = ctx.opset < 11 ? legacyValue : try scalarInput(inputs, 2, "Pad") ?? 0
                let axes = try integerList(inputs, 3, "Pad").map { try $0.map { try normalizedAxis($0, rank: r, "Pad") } }
                    ?? Array(0..<r)
                guard pads.count == 2 * axes.count else {
                    throw KernelError("Pad: \(pads.count) pads for \(axes.count) axes")
                }
                var before = [Int](repeating: 0, count: r), after = before
                for (k, a) in axes.enumerated() { (before[a], after[a]) = (pads[k], pads[k + axes.count]) }
                let outShape = (0..<r).map { s[$0] + before[$0] + after[$0] }
                guard outShape.allSatisfy({ $0 >= 0 }) else { throw KernelError("Pad: pads \(pads) remove more than \(s)") }
                if mode != "constant" && s.enumerated().contains(where: { $0.element == 0 && outShape[$0.offset] > 0 }) {
                    throw KernelError("Pad: \(mode) padding of an empty axis in \(s)")
                }
                // Per axis: output position → source index, or −1 for the constant.
                let maps: [[Int]] = try (0..<r).map { d in
                    let n = s[d]
                    return try (0..<outShape[d]).map { o in
                        var i = o - before[d]
                        if i >= 0 && i < n { return i }
                        switch mode {
                        case "edge": return min(max(i, 0), n - 1)
                        case "reflect":
                            guard n > 1, -i < n, i < 2 * n - 1 else {
                                throw KernelError("Pad: reflect padding \(before[d])/\(after[d]) needs it below the axis size \(n)")
                            }
                            if i < 0 { i = -i }
                            return i >= n ? 2 * (n - 1) - i : i
                        default: return -1
                        }
                    }
                }
                switch v {
                case .float(let t):
                    if mode != "constant" { return [.float(t.gatheringElements(flatPositions(shape: s, picks: maps), shape: outShape))] }
                    // Crop what negative pads remove, then zero-pad and fill the border with the value.
                    var cropped = t
                    for d in 0..<r where before[d] < 0 || after[d] < 0 {
                        cropped = cropped.sliced(axis: d, max(0, -before[d])..<(s[d] - max(0, -after[d])))
                    }
                    let first = (0..<r).first { before[$0] > 0 || after[$0] > 0 } ?? r
                    guard first < r else { return [.float(cropped)] }
                    let padded = cropped.padded((first..<r).map { (max(0, before[$0]), max(0, after[$0])) })
                    if value == 0 { return [.float(padded)] }
                    let inside = maps.map { $0.map { $0 >= 0 } }
                    let fill = flatIndexMask(shape: outShape, inside: inside).map { $0 ? Float(0) : value }
                    return [.float(padded + Tensor(shape: outShape, scalars: fill))]
                case .integer(let t):
                    guard let fill = Int(exactly: value.rounded(.towardZero)) else {
                        throw KernelError("Pad: the value \(value) has no integer value to pad integer data with")
                    }
                    let inside = flatIndexMask(shape: outShape, inside: maps.map { $0.map { $0 >= 0 } })
                    let safe = maps.map { $0.map { max($0, 0) } }
                    let picked = t.count == 0 ? [Int](repeating: 0, count: inside.count) : t.taking(safe).values
                    return [.integer(IntegerTensor(shape: outShape, values: zip(inside, picked).map { $0 ? $1 : fill },
                                                   isBool: t.isBool))]
                }
            }
        }
        b["Split"] = { ctx in
            let axis = ctx.node.int("axis", default: 0)
            let attributeSplit = ctx.opset < 13 ? ctx.node.ints("split") : nil
            let parts = ctx.node.outputs.count
            let numOutputs = ctx.node.int("num_outputs", default: parts)
            guard numOutputs == parts else {
                throw UnsupportedUseError("num_outputs = \(numOutputs) for \(parts) outputs")
            }
            return { inputs in
                guard let v = inputs.first ?? nil else { throw KernelError("Split needs data") }
                let a = try normalizedAxis(axis, rank: v.shape.count, "Split")
                let n = v.shape[a]
                var sizes = try attributeSplit ?? integerList(inputs, 1, "Split") ?? []
                if sizes.isEmpty {
                    // Equal parts; from opset 18 the last may be smaller.
                    let size = (n + parts - 1) / parts
                    sizes = (0..<parts).map { max(0, min(size, n - $0 * size)) }
                }
                guard sizes.count == parts, sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == n else {
                    throw KernelError("Split: sizes \(sizes) for \(parts) outputs of an axis of \(n)")
                }
                var start = 0
                return sizes.map { size in
                    defer { start += size }
                    switch v {
                    case .float(let t): return .float(t.sliced(axis: a, start..<(start + size)))
                    case .integer(let t):
                        var picks = t.shape.map { Array(0..<$0) }
                        picks[a] = Array(start..<(start + size))
                        return .integer(t.taking(picks))
                    }
                }
            }
        }
        // GatherND (PyTorch 2's exporter writes a relative-position bias table indexed by a 2-D index tensor this
        // way): each index tuple of the last axis picks a slice of `data`; the first `batch_dims` axes pair up.
        b["GatherND"] = { ctx in
            let batchDims = ctx.node.int("batch_dims", default: 0)
            guard batchDims >= 0 else { throw UnsupportedUseError("batch_dims = \(batchDims) must not be negative") }
            return { inputs in
                guard let data = inputs.first ?? nil else { throw KernelError("GatherND needs data and indices") }
                let indices = try integerInput(inputs, 1, "GatherND")
                let s = data.shape
                guard let k = indices.shape.last, indices.shape.count > batchDims, s.count > batchDims,
                      k >= 1, batchDims + k <= s.count, Array(indices.shape.prefix(batchDims)) == Array(s.prefix(batchDims)) else {
                    throw KernelError("GatherND: indices \(indices.shape) for data \(s) with batch_dims \(batchDims)")
                }
                let sliceShape = Array(s[(batchDims + k)...]), slice = sliceShape.reduce(1, *)
                let bases = try tupleOffsets(indices, into: s, batchDims: batchDims, "GatherND")
                let sources = bases.flatMap { $0..<($0 + slice) }
                let shape = Array(indices.shape.dropLast()) + sliceShape
                switch data {
                case .float(let d): return [.float(d.gatheringElements(sources, shape: shape))]
                case .integer(let d): return [.integer(IntegerTensor(shape: shape, values: sources.map { d.values[$0] }, isBool: d.isBool))]
                }
            }
        }
        // Col2Im (PyTorch's F.fold, which VOLO's outlook attention uses; opset 18): sliding blocks [N, C·kh·kw, L]
        // summed back into the [N, C, H, W] image they came from. For each image position and kernel offset, the
        // one block (if any) that covered it is gathered, and the kernel offsets are summed.
        b["Col2Im"] = { ctx in
            let constants = ctx.node.inputs.indices.map { ctx.constant($0) }
            guard let imageShape = (try? integerList(constants, 1, "Col2Im")) ?? nil,
                  let blockShape = (try? integerList(constants, 2, "Col2Im")) ?? nil else {
                throw UnsupportedUseError("image_shape and block_shape must be constants")
            }
            guard imageShape.count == 2, blockShape.count == 2, (imageShape + blockShape).allSatisfy({ $0 > 0 }) else {
                throw UnsupportedUseError("only 2-D images and blocks are supported (image_shape \(imageShape), block_shape \(blockShape))")
            }
            let dilations = ctx.node.ints("dilations") ?? [1, 1], strides = ctx.node.ints("strides") ?? [1, 1]
            let pads = ctx.node.ints("pads") ?? [0, 0, 0, 0]
            guard dilations.count == 2, strides.count == 2, pads.count == 4, (dilations + strides).allSatisfy({ $0 > 0 }),
                  pads.allSatisfy({ $0 >= 0 }) else {
                throw UnsupportedUseError("dilations \(dilations), strides \(strides), pads \(pads) do not describe 2-D blocks")
            }
            let (h, w, kh, kw) = (imageShape[0], imageShape[1], blockShape[0], blockShape[1])
            let blocksHigh = (h + pads[0] + pads[2] - dilations[0] * (kh - 1) - 1) / strides[0] + 1
            let blocksWide = (w + pads[1] + pads[3] - dilations[1] * (kw - 1) - 1) / strides[1] + 1
            return { inputs in
                let x = try floatInput(inputs, 0, "Col2Im")
                guard x.rank == 3, x.shape[1] % (kh * kw) == 0, x.shape[2] == blocksHigh * blocksWide, blocksHigh > 0, blocksWide > 0 else {
                    throw KernelError("Col2Im: input \(x.shape) is not [N, C·\(kh)·\(kw), \(max(blocksHigh, 0) * max(blocksWide, 0))] blocks of a \(h)×\(w) image")
                }
                let (n, c, l, k) = (x.shape[0], x.shape[1] / (kh * kw), x.shape[2], kh * kw)
                let zero = x.count  // the appended zero: where no block covered a position
                var sources = [Int](repeating: zero, count: n * c * h * w * k)
                var o = 0
                for image in 0..<n {
                    for channel in 0..<c {
                        for y in 0..<h {
                            for xPos in 0..<w {
                                for a in 0..<kh {
                                    for b in 0..<kw {
                                        defer { o += 1 }
                                        let row = y + pads[0] - a * dilations[0], column = xPos + pads[1] - b * dilations[1]
                                        guard row >= 0, column >= 0, row % strides[0] == 0, column % strides[1] == 0 else { continue }
                                        let (i, j) = (row / strides[0], column / strides[1])
                                        guard i < blocksHigh, j < blocksWide else { continue }
                                        sources[o] = (image * c * k + channel * k + a * kw + b) * l + i * blocksWide + j
                                    }
                                }
                            }
                        }
                    }
                }
                let padded = Tensor.concatenate([x.reshaped([-1]), Tensor(zeros: [1])], axis: 0)
                return [.float(padded.gatheringElements(sources, shape: [n, c, h, w, k]).sum(alongAxes: [4]))]
            }
        }
        b["ScatterND"] = { ctx in
            let reduction = ctx.node.string("reduction") ?? "none"
            guard reduction == "none" else { throw UnsupportedUseError("reduction = '\(reduction)' is not supported") }
            return { inputs in
                guard let data = inputs.first ?? nil, let updates = inputs.count > 2 ? inputs[2] : nil else {
                    throw KernelError("ScatterND needs data, indices and updates")
                }
                let indices = try integerInput(inputs, 1, "ScatterND")
                let s = data.shape
                guard let k = indices.shape.last, k <= s.count else {
                    throw KernelError("ScatterND: indices \(indices.shape) for data \(s)")
                }
                let sliceShape = Array(s[k...]), slice = sliceShape.reduce(1, *)
                guard updates.shape == Array(indices.shape.dropLast()) + sliceShape else {
                    throw KernelError("ScatterND: updates \(updates.shape) for indices \(indices.shape) and data \(s)")
                }
                let total = s.reduce(1, *)
                // Every output element's source: its own data element, or (for a scattered one) an update.
                var sources = Array(0..<total)
                for (j, base) in try tupleOffsets(indices, into: s, batchDims: 0, "ScatterND").enumerated() {
                    for t in 0..<slice { sources[base + t] = total + j * slice + t }
                }
                switch (data, updates) {
                case let (.float(d), .float(u)):
                    let both = Tensor.concatenate([d.reshaped([-1]), u.reshaped([-1])], axis: 0)
                    return [.float(both.gatheringElements(sources, shape: s))]
                case let (.integer(d), .integer(u)):
                    let both = d.values + u.values
                    return [.integer(IntegerTensor(shape: s, values: sources.map { both[$0] }, isBool: d.isBool))]
                default:
                    throw KernelError("ScatterND: data and updates of different kinds")
                }
            }
        }
        // Each axis repeated `repeats` times (gcvit's attention tiles its global query over the windows).
        b["Tile"] = { _ in
            { inputs in
                guard let v = inputs.first ?? nil else { throw KernelError("Tile needs an input") }
                let repeats = try integerInput(inputs, 1, "Tile").values, shape = v.shape
                guard repeats.count == shape.count, repeats.allSatisfy({ $0 >= 0 }) else {
                    throw KernelError("Tile: repeats \(repeats) for shape \(shape)")
                }
                // The output's element count, refused beyond 2³⁰ (4 GiB of floats) rather than overflowing.
                var total = 1
                for (n, r) in zip(shape, repeats) {
                    let (size, o1) = n.multipliedReportingOverflow(by: r), (product, o2) = total.multipliedReportingOverflow(by: size)
                    guard !o1, !o2, product <= 1 << 30 else { throw KernelError("Tile: repeats \(repeats) make shape \(shape) too large") }
                    total = product
                }
                let picks = zip(shape, repeats).map { n, r in (0..<(n * r)).map { $0 % n } }
                switch v {
                case .float(let t): return [.float(t.gatheringElements(flatPositions(shape: shape, picks: picks), shape: picks.map(\.count)))]
                case .integer(let t): return [.integer(t.taking(picks))]
                }
            }
        }
        b["Resize"] = { ctx in try ResizePlan(ctx).kernel }
        // Upsample (opsets 7 to 9; Resize replaced it at 10): scales as an attribute (7, 8) or input 1 (9), the
        // rules of opset 10's Resize.
        b["Upsample"] = { ctx in try ResizePlan(ctx).kernel }
        return b
    }()
}

/// For each row-major element of `shape`, whether every axis's index is marked in `inside`.
private func flatIndexMask(shape: [Int], inside: [[Bool]]) -> [Bool] {
    var mask = [true]
    for d in shape.indices {
        var next: [Bool] = []
        next.reserveCapacity(mask.count * shape[d])
        for m in mask { for i in inside[d] { next.append(m && i) } }
        mask = next
    }
    return mask
}

/// ONNX Resize on float tensors, one axis at a time: nearest (any `nearest_mode`), linear and cubic
/// (Keys, `cubic_coeff_a`, `exclude_outside`) with the `asymmetric`, `half_pixel`, `pytorch_half_pixel` and
/// `align_corners` coordinate rules, from `scales` or `sizes`. Each output is a weighted sum of gathered inputs,
/// so the gradient flows back through the same gathers.
///
/// Before opset 11 (Resize-10 and Upsample) there are no such attributes: the input coordinate is
/// output / scale, and the spec leaves nearest's rounding open. Nearest then follows onnxruntime, whose rule is the
/// floor when upsampling and the ceiling when downsampling.
struct ResizePlan {
    let mode: String, coordinates: String, nearest: String
    let cubicA: Float, excludeOutside: Bool
    /// Where the scales are: input 2 (opset 11 on: X, roi, scales, sizes), input 1 (Resize-10, Upsample-9) or the
    /// node's `scales` attribute (Upsample-7).
    let scalesInput: Int?, attributeScales: [Float]?

    init(_ ctx: KernelContext) throws {
        let node = ctx.node
        let legacy = node.opType == "Upsample" || ctx.opset < 11
        // Some writers of Upsample-7 named bilinear interpolation "bilinear"; the spec's name is "linear".
        let named = node.string("mode") ?? "nearest"
        mode = legacy && named == "bilinear" ? "linear" : named
        coordinates = legacy ? "asymmetric" : node.string("coordinate_transformation_mode") ?? "half_pixel"
        nearest = legacy ? "floor_up_ceil_down" : node.string("nearest_mode") ?? "round_prefer_floor"
        cubicA = node.float("cubic_coeff_a", default: -0.75)
        excludeOutside = node.int("exclude_outside", default: 0) == 1
        if node.opType == "Upsample" && ctx.opset < 9 {
            guard let scales = node.floats("scales") else { throw UnsupportedUseError("the scales attribute is missing") }
            (scalesInput, attributeScales) = (nil, scales)
        } else {
            (scalesInput, attributeScales) = (legacy ? 1 : 2, nil)
        }
        guard ["nearest", "linear", "cubic"].contains(mode), !(legacy && mode == "cubic") else {
            throw UnsupportedUseError("mode = '\(mode)' is not supported")
        }
        guard ["asymmetric", "half_pixel", "pytorch_half_pixel", "align_corners"].contains(coordinates) else {
            throw UnsupportedUseError("coordinate_transformation_mode = '\(coordinates)' is not supported")
        }
        guard legacy || ["floor", "ceil", "round_prefer_floor", "round_prefer_ceil"].contains(nearest) else {
            throw UnsupportedUseError("nearest_mode = '\(nearest)' is not supported")
        }
        if let axes = node.ints("axes"), !axes.isEmpty { throw UnsupportedUseError("the axes attribute is not supported") }
        if let policy = node.string("keep_aspect_ratio_policy"), policy != "stretch" {
            throw UnsupportedUseError("keep_aspect_ratio_policy = '\(policy)' is not supported")
        }
    }

    var kernel: ONNXKernel {
        let plan = self
        return { inputs in
            let x = try floatInput(inputs, 0, "Resize")
            let shape = x.shape
            // Inputs: X, roi, scales, sizes (opset 11+); one of scales and sizes is given. Before: X, scales.
            let sizes = try plan.scalesInput == 2 && inputs.count > 3 && inputs[3] != nil ? integerList(inputs, 3, "Resize") : nil
            let scaleList: [Float]? = try plan.attributeScales ?? {
                guard let i = plan.scalesInput, inputs.count > i, let value = inputs[i] else { return nil }
                guard case .float(let s) = value else { throw KernelError("Resize: scales must be floats") }
                return s.count == 0 ? nil : s.scalars
            }()
            var out = shape, scales = [Float](repeating: 1, count: shape.count)
            if let sizes, !sizes.isEmpty {
                guard sizes.count == shape.count, sizes.allSatisfy({ $0 > 0 && $0 < 1 << 20 }) else {
                    throw KernelError("Resize: sizes \(sizes) for input \(shape)")
                }
                out = sizes
                scales = zip(sizes, shape).map { Float($0) / Float($1) }
            } else if let scaleList {
                guard scaleList.count == shape.count, scaleList.allSatisfy({ $0 > 0 && $0.isFinite }) else {
                    throw KernelError("Resize: scales \(scaleList) for input \(shape)")
                }
                scales = scaleList
                out = try zip(shape, scaleList).map { n, s in
                    let m = (Float(n) * s).rounded(.down)
                    guard m >= 1, m < Float(1 << 20) else { throw KernelError("Resize: scales \(scaleList) for input \(shape)") }
                    return Int(m)
                }
            } else {
                throw KernelError("Resize needs scales or sizes")
            }
            var y = x
            for axis in shape.indices where out[axis] != shape[axis] || scales[axis] != 1 {
                y = plan.resized(y, axis: axis, to: out[axis], scale: scales[axis])
            }
            return [.float(y)]
        }
    }

    /// The input coordinate of output index `o` on an axis of `n` inputs and `m` outputs.
    private func source(_ o: Int, n: Int, m: Int, scale: Float) -> Float {
        switch coordinates {
        case "asymmetric": return Float(o) / scale
        case "align_corners": return m == 1 ? 0 : Float(o) * Float(n - 1) / Float(m - 1)
        case "pytorch_half_pixel": return m == 1 ? 0 : (Float(o) + 0.5) / scale - 0.5
        default: return (Float(o) + 0.5) / scale - 0.5
        }
    }

    /// The taps of output index `o`: input indices (clamped to the axis) and weights.
    private func taps(_ o: Int, n: Int, m: Int, scale: Float) -> [(Int, Float)] {
        let c = source(o, n: n, m: m, scale: scale)
        func clamp(_ i: Int) -> Int { Swift.min(Swift.max(i, 0), n - 1) }
        switch mode {
        case "nearest":
            let i: Float
            switch nearest {
            case "floor": i = c.rounded(.down)
            case "ceil": i = c.rounded(.up)
            case "round_prefer_ceil": i = (c + 0.5).rounded(.down)
            case "floor_up_ceil_down": i = scale < 1 ? c.rounded(.up) : c.rounded(.down)
            default: i = c == c.rounded(.down) + 0.5 ? c.rounded(.down) : c.rounded()
            }
            return [(clamp(Int(i)), 1)]
        case "linear":
            let base = c.rounded(.down), t = c - base
            return [(clamp(Int(base)), 1 - t), (clamp(Int(base) + 1), t)]
        default:
            let base = c.rounded(.down), t = c - base, a = cubicA
            func weight(_ d: Float) -> Float {
                let d = abs(d)
                if d <= 1 { return ((a + 2) * d - (a + 3)) * d * d + 1 }
                if d < 2 { return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a }
                return 0
            }
            var out: [(Int, Float)] = (-1...2).map { k in (Int(base) + k, weight(t - Float(k))) }
            if excludeOutside {
                out = out.map { ($0.0, $0.0 >= 0 && $0.0 < n ? $0.1 : 0) }
                let total = out.reduce(0) { $0 + $1.1 }
                if total != 0 { out = out.map { ($0.0, $0.1 / total) } }
            }
            return out.map { (clamp($0.0), $0.1) }
        }
    }

    /// `x` resized along `axis` to `m` entries: Σₖ gather(x, indexₖ) · weightₖ.
    private func resized(_ x: Tensor, axis: Int, to m: Int, scale: Float) -> Tensor {
        let n = x.shape[axis]
        let all = (0..<m).map { taps($0, n: n, m: m, scale: scale) }
        var outShape = x.shape
        outShape[axis] = m
        var weightShape = [Int](repeating: 1, count: x.rank)
        weightShape[axis] = m
        var y: Tensor?
        for k in all[0].indices {
            var picks = x.shape.map { Array(0..<$0) }
            picks[axis] = all.map { $0[k].0 }
            let gathered = x.gatheringElements(flatPositions(shape: x.shape, picks: picks), shape: outShape)
            let weights = all.map { $0[k].1 }
            let term = mode == "nearest" ? gathered : gathered * Tensor(shape: weightShape, scalars: weights)
            y = y.map { $0 + term } ?? term
        }
        return y!
    }
}

/// The element offset in contiguous `shape` at which each index tuple of `indices` (its last axis; negative
/// entries count from the end) starts, for GatherND and ScatterND. The first `batchDims` axes of `indices` pair with
/// `shape`'s own, and the tuple then indexes the axes after them.
private func tupleOffsets(_ indices: IntegerTensor, into shape: [Int], batchDims: Int, _ op: String) throws -> [Int] {
    let k = indices.shape.last ?? 0
    let strides = Tensor.contiguousStrides(for: shape)
    let tuplesPerBatch = indices.shape.dropLast().dropFirst(batchDims).reduce(1, *)
    let batchStride = batchDims == 0 ? 0 : strides[batchDims - 1]
    return try (0..<(indices.count / max(k, 1))).map { j in
        var base = (j / max(tuplesPerBatch, 1)) * batchStride
        for d in 0..<k {
            let axis = batchDims + d, i = indices.values[j * k + d]
            let w = i < 0 ? i + shape[axis] : i
            guard w >= 0 && w < shape[axis] else { throw KernelError("\(op): index \(i) out of range for axis size \(shape[axis])") }
            base += w * strides[axis]
        }
        return base
    }
}
