import Foundation
import FovExTensor

// MaxPool, AveragePool and GlobalAveragePool on NCHW tensors. Windows with equal padding on every side
// (at most half the window) and no ceil-mode overhang run on the tensor library's pooling directly; other
// windows (asymmetric pads, ceil_mode = 1) pad the input explicitly first, with −∞ borders for maximum
// pooling and, for averages, a per-window factor that sets the divisor count_include_pad asks for.

/// A pooling window read from MaxPool's or AveragePool's attributes: square windows, equal strides, any
/// padding, floor or ceil mode.
struct PoolWindow {
    var kernel: Int
    var stride: Int
    /// top, left, bottom, right.
    var pads: [Int]
    var ceilMode: Bool

    init(_ node: ONNXNode) throws {
        guard let k = node.ints("kernel_shape"), k.count == 2, k[0] == k[1], k[0] > 0 else {
            throw UnsupportedUseError("only square 2-D windows are supported (kernel_shape \(node.ints("kernel_shape") ?? []))")
        }
        let s = node.ints("strides") ?? [1, 1]
        guard s.count == 2, s[0] == s[1], s[0] > 0 else { throw UnsupportedUseError("unequal strides \(s) are not supported") }
        let p = node.ints("pads") ?? [0, 0, 0, 0]
        guard p.count == 4, p.allSatisfy({ $0 >= 0 && $0 < k[0] }) else {
            throw UnsupportedUseError("pads \(p) are not supported (each must be below the window \(k[0]))")
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
        (kernel, stride, pads, ceilMode) = (k[0], s[0], node.string("auto_pad") == "VALID" ? [0, 0, 0, 0] : p, ceil == 1)
    }

    /// Output size along an axis of `n` input elements padded by `before` and `after`, PyTorch's rule in ceil
    /// mode: the last window must start inside the input or the leading padding.
    func outputSize(_ n: Int, _ before: Int, _ after: Int) -> Int {
        let span = n + before + after - kernel
        guard span >= 0 else { return 0 }
        var out = (ceilMode ? (span + stride - 1) / stride : span / stride) + 1
        if ceilMode && (out - 1) * stride >= n + before { out -= 1 }
        return out
    }

    /// Whether the tensor library's pooling with symmetric padding computes this window as it stands.
    func isPlain(height: Int, width: Int) -> Bool {
        guard Set(pads).count == 1, pads[0] <= kernel / 2 else { return false }
        let p = pads[0]
        return outputSize(height, p, p) == (height + 2 * p - kernel) / stride + 1
            && outputSize(width, p, p) == (width + 2 * p - kernel) / stride + 1
    }

    /// The padding, ceil-mode overhang included, that makes a floor-mode pooling without padding produce
    /// the same windows: (top, bottom, left, right) and the output size.
    func explicitPadding(height: Int, width: Int) throws -> (pads: [(before: Int, after: Int)], oh: Int, ow: Int) {
        let oh = outputSize(height, pads[0], pads[2]), ow = outputSize(width, pads[1], pads[3])
        guard oh > 0 && ow > 0 else { throw KernelError("window \(kernel) does not fit input \(height)×\(width) with pads \(pads)") }
        let extraH = max(0, (oh - 1) * stride + kernel - (height + pads[0] + pads[2]))
        let extraW = max(0, (ow - 1) * stride + kernel - (width + pads[1] + pads[3]))
        return ([(pads[0], pads[2] + extraH), (pads[1], pads[3] + extraW)], oh, ow)
    }

    /// For each output position of an average, kernel² / the divisor: the window's cells inside the input,
    /// or (count_include_pad) inside the input and its declared padding, but never the ceil-mode overhang.
    func averageFactors(height: Int, width: Int, oh: Int, ow: Int, includePad: Bool) -> Tensor {
        func counts(_ n: Int, _ before: Int, _ after: Int, _ out: Int) -> [Int] {
            let (lo, hi) = includePad ? (0, n + before + after) : (before, before + n)
            return (0..<out).map { o in max(0, min(o * stride + kernel, hi) - max(o * stride, lo)) }
        }
        let rows = counts(height, pads[0], pads[2], oh), columns = counts(width, pads[1], pads[3], ow)
        let area = Float(kernel * kernel)
        var factors: [Float] = []
        factors.reserveCapacity(oh * ow)
        for r in rows { for c in columns { factors.append(r * c > 0 ? area / Float(r * c) : 0) } }
        return Tensor(shape: [1, 1, oh, ow], scalars: factors)
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
                let x = try floatInput(inputs, 0, "MaxPool")
                guard x.rank == 4 else { throw KernelError("MaxPool needs an NCHW input, got \(x.shape)") }
                let (h, w) = (x.shape[2], x.shape[3])
                if window.isPlain(height: h, width: w) {
                    guard h + 2 * window.pads[0] >= window.kernel, w + 2 * window.pads[0] >= window.kernel else {
                        throw KernelError("MaxPool: window \(window.kernel) does not fit input \(x.shape)")
                    }
                    return [.float(x.maxPool2d(kernel: window.kernel, stride: window.stride, padding: window.pads[0]))]
                }
                let (pads, _, _) = try window.explicitPadding(height: h, width: w)
                let padded = x.padded(pads) + borderMask(height: h, width: w, pads: pads)
                return [.float(padded.maxPool2d(kernel: window.kernel, stride: window.stride))]
            }
        }
        b["AveragePool"] = { ctx in
            let window = try PoolWindow(ctx.node)
            let includePad = ctx.node.int("count_include_pad", default: 0) != 0
            return { inputs in
                let x = try floatInput(inputs, 0, "AveragePool")
                guard x.rank == 4 else { throw KernelError("AveragePool needs an NCHW input, got \(x.shape)") }
                let (h, w) = (x.shape[2], x.shape[3])
                if window.isPlain(height: h, width: w) {
                    guard h + 2 * window.pads[0] >= window.kernel, w + 2 * window.pads[0] >= window.kernel else {
                        throw KernelError("AveragePool: window \(window.kernel) does not fit input \(x.shape)")
                    }
                    return [.float(x.avgPool2d(kernel: window.kernel, stride: window.stride, padding: window.pads[0],
                                               countIncludePad: includePad))]
                }
                let (pads, oh, ow) = try window.explicitPadding(height: h, width: w)
                let mean = x.padded(pads).avgPool2d(kernel: window.kernel, stride: window.stride, countIncludePad: true)
                return [.float(mean * window.averageFactors(height: h, width: w, oh: oh, ow: ow, includePad: includePad))]
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
