import Foundation
import FovExTensor

// MaxPool, AveragePool and GlobalAveragePool on NCHW tensors (1-D pooling on a height of 1). Windows with
// equal padding on both sides of each axis (at most half the window) and no ceil-mode overhang run on the tensor library's pooling directly; other
// windows (asymmetric pads, ceil_mode = 1) pad the input explicitly first, with −∞ borders for maximum
// pooling and, for averages, a per-window factor that sets the divisor count_include_pad asks for.

/// A pooling window read from MaxPool's or AveragePool's attributes: a 2-D window of any shape and strides, or a
/// 1-D one (run on a height of 1), any padding below the window, floor or ceil mode.
struct PoolWindow {
    /// Height and width.
    var kernel: (Int, Int)
    var stride: (Int, Int)
    /// top, left, bottom, right.
    var pads: [Int]
    var ceilMode: Bool
    /// Whether the node pools an [N, C, L] input, run as [N, C, 1, L].
    var isOneDimensional: Bool

    init(_ node: ONNXNode) throws {
        guard let k = node.ints("kernel_shape"), k.count == 1 || k.count == 2, k.allSatisfy({ $0 > 0 }) else {
            throw UnsupportedUseError("only 1-D and 2-D windows are supported (kernel_shape \(node.ints("kernel_shape") ?? []))")
        }
        let s = node.ints("strides") ?? [Int](repeating: 1, count: k.count)
        guard s.count == k.count, s.allSatisfy({ $0 > 0 }) else { throw UnsupportedUseError("strides \(s) for kernel_shape \(k)") }
        let p = node.ints("pads") ?? [Int](repeating: 0, count: 2 * k.count)
        guard p.count == 2 * k.count, p.allSatisfy({ $0 >= 0 }), zip(p, k + k).allSatisfy({ $0 < $1 }) else {
            throw UnsupportedUseError("pads \(p) are not supported (each must be below its window side, \(k))")
        }
        switch node.string("auto_pad") ?? "NOTSET" {
        case "NOTSET", "VALID": break
        case let other: throw UnsupportedUseError("auto_pad = \(other) is not supported")
        }
        if let d = node.ints("dilations"), d.contains(where: { $0 != 1 }) {
            throw UnsupportedUseError("dilations \(d) are not supported")
        }
        let ceil = node.int("ceil_mode", default: 0)
        guard ceil == 0 || ceil == 1 else { throw UnsupportedUseError("ceil_mode = \(ceil)") }
        isOneDimensional = k.count == 1
        let valid = node.string("auto_pad") == "VALID"
        if isOneDimensional {
            (kernel, stride, pads) = ((1, k[0]), (1, s[0]), valid ? [0, 0, 0, 0] : [0, p[0], 0, p[1]])
        } else {
            (kernel, stride, pads) = ((k[0], k[1]), (s[0], s[1]), valid ? [0, 0, 0, 0] : p)
        }
        ceilMode = ceil == 1
    }

    /// The window side and stride along axis 0 (height) or 1 (width).
    private func side(_ axis: Int) -> (kernel: Int, stride: Int) { axis == 0 ? (kernel.0, stride.0) : (kernel.1, stride.1) }

    /// Output size along `axis` of `n` input elements padded by `before` and `after`, PyTorch's rule in ceil
    /// mode: the last window must start inside the input or the leading padding.
    func outputSize(_ n: Int, _ before: Int, _ after: Int, axis: Int) -> Int {
        let (k, s) = side(axis)
        let span = n + before + after - k
        guard span >= 0 else { return 0 }
        var out = (ceilMode ? (span + s - 1) / s : span / s) + 1
        if ceilMode && (out - 1) * s >= n + before { out -= 1 }
        return out
    }

    /// Whether the tensor library's pooling with symmetric padding computes this window as it stands.
    func isPlain(height: Int, width: Int) -> Bool {
        guard pads[0] == pads[2], pads[1] == pads[3], pads[0] <= kernel.0 / 2, pads[1] <= kernel.1 / 2 else { return false }
        return outputSize(height, pads[0], pads[0], axis: 0) == (height + 2 * pads[0] - kernel.0) / stride.0 + 1
            && outputSize(width, pads[1], pads[1], axis: 1) == (width + 2 * pads[1] - kernel.1) / stride.1 + 1
    }

    /// The padding, ceil-mode overhang included, that makes a floor-mode pooling without padding produce
    /// the same windows: (top, bottom, left, right) and the output size.
    func explicitPadding(height: Int, width: Int) throws -> (pads: [(before: Int, after: Int)], oh: Int, ow: Int) {
        let oh = outputSize(height, pads[0], pads[2], axis: 0), ow = outputSize(width, pads[1], pads[3], axis: 1)
        guard oh > 0 && ow > 0 else { throw KernelError("window \(kernel) does not fit input \(height)×\(width) with pads \(pads)") }
        let extraH = max(0, (oh - 1) * stride.0 + kernel.0 - (height + pads[0] + pads[2]))
        let extraW = max(0, (ow - 1) * stride.1 + kernel.1 - (width + pads[1] + pads[3]))
        return ([(pads[0], pads[2] + extraH), (pads[1], pads[3] + extraW)], oh, ow)
    }

    /// For each output position of an average, the window's area / the divisor: the window's cells inside the
    /// input, or (count_include_pad) inside the input and its declared padding, but never the ceil-mode overhang.
    func averageFactors(height: Int, width: Int, oh: Int, ow: Int, includePad: Bool) -> Tensor {
        func counts(_ n: Int, _ before: Int, _ after: Int, _ out: Int, axis: Int) -> [Int] {
            let (k, s) = side(axis)
            let (lo, hi) = includePad ? (0, n + before + after) : (before, before + n)
            return (0..<out).map { o in max(0, min(o * s + k, hi) - max(o * s, lo)) }
        }
        let rows = counts(height, pads[0], pads[2], oh, axis: 0), columns = counts(width, pads[1], pads[3], ow, axis: 1)
        let area = Float(kernel.0 * kernel.1)
        var factors: [Float] = []
        factors.reserveCapacity(oh * ow)
        for r in rows { for c in columns { factors.append(r * c > 0 ? area / Float(r * c) : 0) } }
        return Tensor(shape: [1, 1, oh, ow], scalars: factors)
    }

    /// Runs `pool` on `x` as NCHW: a 1-D input gets a height of 1 and loses it again after.
    func run(_ x: Tensor, _ op: String, _ pool: (Tensor) throws -> Tensor) throws -> Tensor {
        if isOneDimensional {
            guard x.rank == 3 else { throw KernelError("\(op) with a 1-D window needs an [N, C, L] input, got \(x.shape)") }
            return try pool(x.expandingShape(at: 2)).squeezingShape(at: [2])
        }
        guard x.rank == 4 else { throw KernelError("\(op) needs an NCHW input, got \(x.shape)") }
        return try pool(x)
    }
}

/// −∞ (the most negative finite number, so that sums stay finite) on the border added by `pads`, 0 inside.
private func borderMask(height: Int, width: Int, pads: [(before: Int, after: Int)]) -> Tensor {
    let h = height + pads[0].before + pads[0].after, w = width + pads[1].before + pads[1].after
    var m = [Float](repeating: -.greatestFiniteMagnitude, count: h * w)
    for r in pads[0].before..<(pads[0].before + height) {
        for c in pads[1].before..<(pads[1].before + width) { m[r * w + c] = 0 }
    }
    return Tensor(shape: [1, 1, h, w], scalars: m)
}

extension ONNXOperators {
    static let poolingBuilders: [String: KernelBuilder] = {
        var b: [String: KernelBuilder] = [:]
        b["MaxPool"] = { ctx in
            if ctx.node.outputs.count > 1 && !ctx.node.outputs[1].isEmpty {
                throw UnsupportedUseError("the Indices output is not supported")
            }
            try ctx.require("storage_order", in: [0], default: 0)
            let window = try PoolWindow(ctx.node)
            return { inputs in
                [.float(try window.run(try floatInput(inputs, 0, "MaxPool"), "MaxPool") { x in
                    let (h, w) = (x.shape[2], x.shape[3])
                    if window.isPlain(height: h, width: w) {
                        guard h + 2 * window.pads[0] >= window.kernel.0, w + 2 * window.pads[1] >= window.kernel.1 else {
                            throw KernelError("MaxPool: window \(window.kernel) does not fit input \(x.shape)")
                        }
                        return x.maxPool2d(kernel: window.kernel, stride: window.stride, padding: (window.pads[0], window.pads[1]))
                    }
                    let (pads, _, _) = try window.explicitPadding(height: h, width: w)
                    let padded = x.padded(pads) + borderMask(height: h, width: w, pads: pads)
                    return padded.maxPool2d(kernel: window.kernel, stride: window.stride)
                })]
            }
        }
        b["AveragePool"] = { ctx in
            let window = try PoolWindow(ctx.node)
            let includePad = ctx.node.int("count_include_pad", default: 0) != 0
            return { inputs in
                [.float(try window.run(try floatInput(inputs, 0, "AveragePool"), "AveragePool") { x in
                    let (h, w) = (x.shape[2], x.shape[3])
                    if window.isPlain(height: h, width: w) {
                        guard h + 2 * window.pads[0] >= window.kernel.0, w + 2 * window.pads[1] >= window.kernel.1 else {
                            throw KernelError("AveragePool: window \(window.kernel) does not fit input \(x.shape)")
                        }
                        return x.avgPool2d(kernel: window.kernel, stride: window.stride, padding: (window.pads[0], window.pads[1]),
                                           countIncludePad: includePad)
                    }
                    let (pads, oh, ow) = try window.explicitPadding(height: h, width: w)
                    let mean = x.padded(pads).avgPool2d(kernel: window.kernel, stride: window.stride, countIncludePad: true)
                    return mean * window.averageFactors(height: h, width: w, oh: oh, ow: ow, includePad: includePad)
                })]
            }
        }
        b["GlobalMaxPool"] = { _ in
            { inputs in
                let x = try floatInput(inputs, 0, "GlobalMaxPool")
                guard x.rank >= 3 else { throw KernelError("GlobalMaxPool needs an [N, C, …] input, got \(x.shape)") }
                return [.float(x.max(alongAxes: Array(2..<x.rank), keepingDimensions: true))]
            }
        }
        b["GlobalAveragePool"] = { _ in
            { inputs in
                let x = try floatInput(inputs, 0, "GlobalAveragePool")
                guard x.rank == 4 else { throw KernelError("GlobalAveragePool needs an NCHW input, got \(x.shape)") }
                return [.float(x.adaptiveAvgPool2d(outputSize: 1))]
            }
        }
        return b
    }()
}
