import Foundation
import FovExTensor

// Ops that create constants or move elements without arithmetic: Constant, Shape, Gather, Unsqueeze, Squeeze,
// Concat, Reshape, Flatten, Transpose, Slice, Expand, ConstantOfShape, Range. Float tensors use the tensor
// library's differentiable views; integer tensors (the exporters' shape arithmetic) are computed directly.

extension ONNXOperators {
    static let shapeBuilders: [String: KernelBuilder] = {
        var b: [String: KernelBuilder] = [:]
        b["Constant"] = { ctx in
            let a = ctx.node.attributes
            let value: ONNXValue
            if case .tensor(let t)? = a["value"] { value = t }
            else if case .float(let f)? = a["value_float"] { value = .float(Tensor(f)) }
            else if case .floats(let f)? = a["value_floats"] { value = .float(Tensor(shape: [f.count], scalars: f)) }
            else if case .int(let i)? = a["value_int"] { value = .integer(IntegerTensor(shape: [], values: [i])) }
            else if case .ints(let i)? = a["value_ints"] { value = .integer(IntegerTensor(vector: i)) }
            else { throw UnsupportedUseError("only value, value_float(s) and value_int(s) constants are supported") }
            return { _ in [value] }
        }
        b["Shape"] = { ctx in
            let start = ctx.node.int("start", default: 0)
            let end = ctx.node.ints("end").map { $0[0] } ?? { if case .int(let e)? = ctx.node.attributes["end"] { return e } else { return nil } }()
            return { inputs in
                guard let v = inputs.first ?? nil else { throw KernelError("Shape needs an input") }
                let s = v.shape, r = s.count
                func clamp(_ i: Int) -> Int { min(max(i < 0 ? i + r : i, 0), r) }
                let lo = clamp(start), hi = clamp(end ?? r)
                return [.integer(IntegerTensor(vector: lo < hi ? Array(s[lo..<hi]) : []))]
            }
        }
        b["Gather"] = { ctx in
            let axis = ctx.node.int("axis", default: 0)
            return { inputs in
                let indices = try integerInput(inputs, 1, "Gather")
                guard let data = inputs.first ?? nil else { throw KernelError("Gather needs data") }
                let a = try normalizedAxis(axis, rank: data.shape.count, "Gather")
                let n = data.shape[a]
                let picks = try indices.values.map { i -> Int in
                    let j = i < 0 ? i + n : i
                    guard j >= 0 && j < n else { throw KernelError("Gather: index \(i) out of range for axis size \(n)") }
                    return j
                }
                var outShape = data.shape
                outShape.replaceSubrange(a...a, with: indices.shape)
                switch data {
                case .float(let t):
                    if indices.shape.isEmpty { return [.float(t.selecting(axis: a, index: picks[0]))] }
                    let parts = picks.map { t.sliced(axis: a, $0..<($0 + 1)) }
                    return [.float(Tensor.concatenate(parts, axis: a).reshaped(outShape))]
                case .integer(let t):
                    var perAxis = t.shape.map { Array(0..<$0) }
                    perAxis[a] = picks
                    return [.integer(IntegerTensor(shape: outShape, values: t.taking(perAxis).values, isBool: t.isBool))]
                }
            }
        }
        b["Unsqueeze"] = { ctx in
            let attributeAxes = ctx.node.ints("axes")
            return { inputs in
                guard let v = inputs.first ?? nil else { throw KernelError("Unsqueeze needs an input") }
                guard let axes = try attributeAxes ?? integerList(inputs, 1, "Unsqueeze") else {
                    throw KernelError("Unsqueeze needs axes")
                }
                let outRank = v.shape.count + axes.count
                let normalized = try Set(axes.map { try normalizedAxis($0, rank: outRank, "Unsqueeze") })
                var it = v.shape.makeIterator()
                let shape = (0..<outRank).map { normalized.contains($0) ? 1 : it.next()! }
                return [reshaped(v, shape)]
            }
        }
        b["Squeeze"] = { ctx in
            let attributeAxes = ctx.node.ints("axes")
            return { inputs in
                guard let v = inputs.first ?? nil else { throw KernelError("Squeeze needs an input") }
                let s = v.shape
                let axes = try attributeAxes ?? integerList(inputs, 1, "Squeeze") ?? s.indices.filter { s[$0] == 1 }
                let drop = try Set(axes.map { try normalizedAxis($0, rank: s.count, "Squeeze") })
                for a in drop where s[a] != 1 { throw KernelError("Squeeze: axis \(a) has size \(s[a]), not 1") }
                return [reshaped(v, s.indices.filter { !drop.contains($0) }.map { s[$0] })]
            }
        }
        b["Concat"] = { ctx in
            let axis = ctx.node.int("axis", default: 0)
            return { inputs in
                let values = inputs.compactMap { $0 }
                guard let first = values.first else { throw KernelError("Concat needs inputs") }
                let a = try normalizedAxis(axis, rank: first.shape.count, "Concat")
                for v in values where v.shape.count != first.shape.count
                    || v.shape.indices.contains(where: { $0 != a && v.shape[$0] != first.shape[$0] }) {
                    throw KernelError("Concat: shapes \(values.map(\.shape)) differ off axis \(a)")
                }
                let floats = values.compactMap { if case .float(let t) = $0 { return t } else { return nil } }
                if floats.count == values.count { return [.float(Tensor.concatenate(floats, axis: a))] }
                let ints = try values.indices.map { try integerInput(values, $0, "Concat") }
                var shape = first.shape
                shape[a] = ints.reduce(0) { $0 + $1.shape[a] }
                let outer = shape[..<a].reduce(1, *)
                var out: [Int] = []
                for o in 0..<outer {
                    for t in ints {
                        let row = t.shape[a...].reduce(1, *)
                        out += t.values[(o * row)..<((o + 1) * row)]
                    }
                }
                return [.integer(IntegerTensor(shape: shape, values: out))]
            }
        }
        b["Reshape"] = { ctx in
            let allowZero = ctx.node.int("allowzero", default: 0) != 0
            return { inputs in
                guard let v = inputs.first ?? nil else { throw KernelError("Reshape needs data") }
                let requested = try integerInput(inputs, 1, "Reshape").values
                var shape = try requested.enumerated().map { i, d -> Int in
                    if d == 0 && !allowZero {
                        guard i < v.shape.count else { throw KernelError("Reshape: 0 at axis \(i) of a rank-\(v.shape.count) input") }
                        return v.shape[i]
                    }
                    return d
                }
                let count = v.shape.reduce(1, *)
                if let k = shape.firstIndex(of: -1) {
                    let known = shape.enumerated().filter { $0.offset != k }.reduce(1) { $0 * $1.element }
                    guard known > 0, count % known == 0 else { throw KernelError("Reshape: cannot reshape \(v.shape) to \(requested)") }
                    shape[k] = count / known
                }
                guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == count else {
                    throw KernelError("Reshape: cannot reshape \(v.shape) to \(requested)")
                }
                return [reshaped(v, shape)]
            }
        }
        b["Flatten"] = { ctx in
            let axis = ctx.node.int("axis", default: 1)
            return { inputs in
                guard let v = inputs.first ?? nil else { throw KernelError("Flatten needs an input") }
                let s = v.shape
                let a = axis < 0 ? axis + s.count : axis
                guard a >= 0 && a <= s.count else { throw KernelError("Flatten: axis \(axis) for rank \(s.count)") }
                return [reshaped(v, [s[..<a].reduce(1, *), s[a...].reduce(1, *)])]
            }
        }
        // Blocks of channels moved into space (DepthToSpace, DCR or CRD order) and back (SpaceToDepth): a reshape,
        // a transpose and a reshape, as the spec defines them.
        b["DepthToSpace"] = { ctx in
            let block = ctx.node.int("blocksize", default: 0)
            let mode = ctx.node.string("mode") ?? "DCR"
            guard block > 0 else { throw UnsupportedUseError("blocksize = \(block) must be positive") }
            guard ["DCR", "CRD"].contains(mode) else { throw UnsupportedUseError("mode \(mode) is not DCR or CRD") }
            return { inputs in
                let x = try floatInput(inputs, 0, "DepthToSpace")
                guard x.rank == 4, x.shape[1] % (block * block) == 0 else {
                    throw KernelError("DepthToSpace: input \(x.shape) for blocks of \(block)×\(block)")
                }
                let (n, c, h, w) = (x.shape[0], x.shape[1] / (block * block), x.shape[2], x.shape[3])
                let moved = mode == "DCR"
                    ? x.reshaped([n, block, block, c, h, w]).permuted([0, 3, 4, 1, 5, 2])
                    : x.reshaped([n, c, block, block, h, w]).permuted([0, 1, 4, 2, 5, 3])
                return [.float(moved.reshaped([n, c, h * block, w * block]))]
            }
        }
        b["SpaceToDepth"] = { ctx in
            let block = ctx.node.int("blocksize", default: 0)
            // Opset 28 added `mode`, the inverse of DepthToSpace's: DCR (before 28, the only order) or CRD.
            let mode = ctx.node.string("mode") ?? "DCR"
            guard block > 0 else { throw UnsupportedUseError("blocksize = \(block) must be positive") }
            guard ["DCR", "CRD"].contains(mode) else { throw UnsupportedUseError("mode \(mode) is not DCR or CRD") }
            return { inputs in
                let x = try floatInput(inputs, 0, "SpaceToDepth")
                guard x.rank == 4, x.shape[2] % block == 0, x.shape[3] % block == 0 else {
                    throw KernelError("SpaceToDepth: input \(x.shape) for blocks of \(block)×\(block)")
                }
                let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2] / block, x.shape[3] / block)
                let blocks = x.reshaped([n, c, h, block, w, block])
                let moved = mode == "DCR" ? blocks.permuted([0, 3, 5, 1, 2, 4]) : blocks.permuted([0, 1, 3, 5, 2, 4])
                return [.float(moved.reshaped([n, c * block * block, h, w]))]
            }
        }
        b["Transpose"] = { ctx in
            let perm = ctx.node.ints("perm")
            return { inputs in
                guard let v = inputs.first ?? nil else { throw KernelError("Transpose needs an input") }
                let r = v.shape.count
                let order = perm ?? Array((0..<r).reversed())
                guard order.sorted() == Array(0..<r) else { throw KernelError("Transpose: perm \(order) for rank \(r)") }
                switch v {
                case .float(let t): return [.float(t.permuted(order))]
                case .integer(let t):
                    // Pick along the permuted axes, then read back in the new order.
                    let st = t.strides
                    let newShape = order.map { t.shape[$0] }
                    var out: [Int] = []
                    var index = [Int](repeating: 0, count: r)
                    for _ in 0..<t.count {
                        out.append(t.values[(0..<r).reduce(0) { $0 + index[$1] * st[order[$1]] }])
                        var d = r - 1
                        while d >= 0 { index[d] += 1; if index[d] < newShape[d] { break }; index[d] = 0; d -= 1 }
                    }
                    return [.integer(IntegerTensor(shape: newShape, values: out, isBool: t.isBool))]
                }
            }
        }
        b["Slice"] = { ctx in
            let legacy = ctx.opset < 10
            return { inputs in
                guard let v = inputs.first ?? nil else { throw KernelError("Slice needs data") }
                let s = v.shape
                let starts = legacy ? ctx.node.ints("starts") ?? [] : try integerList(inputs, 1, "Slice") ?? []
                let ends = legacy ? ctx.node.ints("ends") ?? [] : try integerList(inputs, 2, "Slice") ?? []
                let axes = legacy ? ctx.node.ints("axes") ?? Array(0..<starts.count)
                    : try integerList(inputs, 3, "Slice") ?? Array(0..<starts.count)
                let steps = legacy ? [Int](repeating: 1, count: starts.count)
                    : try integerList(inputs, 4, "Slice") ?? [Int](repeating: 1, count: starts.count)
                guard starts.count == ends.count, axes.count == starts.count, steps.count == starts.count else {
                    throw KernelError("Slice: starts, ends, axes and steps differ in length")
                }
                var picks = s.map { Array(0..<$0) }
                for k in starts.indices {
                    let a = try normalizedAxis(axes[k], rank: s.count, "Slice")
                    let n = s[a], step = steps[k]
                    guard step != 0 else { throw KernelError("Slice: step 0") }
                    func bound(_ i: Int, _ lo: Int, _ hi: Int) -> Int { min(max(i < 0 ? i + n : i, lo), hi) }
                    if step > 0 {
                        picks[a] = Array(stride(from: bound(starts[k], 0, n), to: bound(ends[k], 0, n), by: step))
                    } else {
                        picks[a] = Array(stride(from: bound(starts[k], -1, n - 1), to: bound(ends[k], -1, n - 1), by: step))
                    }
                }
                switch v {
                case .float(var t):
                    let isRun = picks.allSatisfy { p in p.isEmpty || p == Array(p[0]..<(p[0] + p.count)) }
                    guard isRun else {
                        // Strides other than 1 (and reversals) have no view: gather the elements.
                        return [.float(t.gatheringElements(flatPositions(shape: s, picks: picks), shape: picks.map(\.count)))]
                    }
                    for a in picks.indices where picks[a].count != s[a] {
                        let p = picks[a]
                        t = t.sliced(axis: a, p.isEmpty ? 0..<0 : p[0]..<(p[0] + p.count))
                    }
                    return [.float(t)]
                case .integer(let t):
                    return [.integer(t.taking(picks))]
                }
            }
        }
        b["Expand"] = { _ in
            { inputs in
                guard let v = inputs.first ?? nil else { throw KernelError("Expand needs an input") }
                let requested = try integerInput(inputs, 1, "Expand").values
                guard let target = Tensor.broadcastShape(v.shape, requested) else {
                    throw KernelError("Expand: shape \(v.shape) does not broadcast with \(requested)")
                }
                switch v {
                case .float(let t): return [.float(t.broadcast(to: target))]
                case .integer(let t): return [.integer(try t.broadcast(to: target))]
                }
            }
        }
        b["ConstantOfShape"] = { ctx in
            var fill: ONNXValue = .float(Tensor(0))
            if case .tensor(let t)? = ctx.node.attributes["value"] { fill = t }
            return { inputs in
                let shape = try integerInput(inputs, 0, "ConstantOfShape").values
                guard shape.allSatisfy({ $0 >= 0 }) else { throw KernelError("ConstantOfShape: negative size in \(shape)") }
                switch fill {
                case .float(let t): return [.float(Tensor(repeating: t.scalars.first ?? 0, shape: shape))]
                case .integer(let t):
                    return [.integer(IntegerTensor(shape: shape, values: [Int](repeating: t.values.first ?? 0, count: shape.reduce(1, *)),
                                                   isBool: t.isBool))]
                }
            }
        }
        b["Range"] = { _ in
            { inputs in
                let start = try integerInput(inputs, 0, "Range").values, limit = try integerInput(inputs, 1, "Range").values
                let delta = try integerInput(inputs, 2, "Range").values
                guard start.count == 1, limit.count == 1, delta.count == 1, delta[0] != 0 else {
                    throw KernelError("Range needs scalar start, limit and a non-zero delta")
                }
                return [.integer(IntegerTensor(vector: Array(stride(from: start[0], to: limit[0], by: delta[0]))))]
            }
        }
        return b
    }()
}

/// A value with a new shape of the same element count.
/// Reshape, Flatten, Squeeze and Unsqueeze: a view whenever the strides allow (a slice of a packed q/k/v
/// projection split into heads is one), so no copy is made that the next op would not need.
private func reshaped(_ v: ONNXValue, _ shape: [Int]) -> ONNXValue {
    switch v {
    case .float(let t): return .float(t.reshapedAsView(shape))
    case .integer(let t): return .integer(IntegerTensor(shape: shape, values: t.values, isBool: t.isBool))
    }
}
