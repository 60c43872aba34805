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
                let tuples = indices.count / max(k, 1)
                let sliceShape = Array(s[k...]), slice = sliceShape.reduce(1, *)
                guard updates.shape == Array(indices.shape.dropLast()) + sliceShape else {
                    throw KernelError("ScatterND: updates \(updates.shape) for indices \(indices.shape) and data \(s)")
                }
                let strides = Tensor.contiguousStrides(for: s)
                let total = s.reduce(1, *)
                // Every output element's source: its own data element, or (for a scattered one) an update.
                var sources = Array(0..<total)
                for j in 0..<tuples {
                    var base = 0
                    for d in 0..<k {
                        let i = indices.values[j * k + d]
                        let w = i < 0 ? i + s[d] : i
                        guard w >= 0 && w < s[d] else { throw KernelError("ScatterND: index \(i) out of range for axis size \(s[d])") }
                        base += w * strides[d]
                    }
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
