import CDNNL
import Foundation

/// The input gradient of a strided convolution with few input channels (an image stem), computed as
/// the backward pass of an equivalent stride-1 convolution on the space-to-depth rearranged input.
///
/// With stride s, the input padded by (top, left) regrouped into s × s phases,
/// X[(c, ry, rx), u, v] = x_pad[c, s·u + ry, s·v + rx], the convolution becomes a stride-1, unpadded
/// convolution of X (c·s² channels, padded with zero channels to a multiple of 16) with the
/// ⌈kh/s⌉ × ⌈kw/s⌉ kernel W′[o, (c, ry, rx), p, q] = W[o, c, s·p + ry, s·q + rx] (zero past the kernel).
/// oneDNN's backward pass of that convolution runs at the speed of a dense layer; the direct one with a
/// 3-channel result does not (ResNet's 7×7/2 stem: 2.1 ms in plain layout, 3.5 ms channels-last).
/// The gradient of X is then spread back onto the input grid.
struct SpaceToDepthBackward {
    let n, c, h, w, o, kh, kw, stride, padTop, padLeft, oh, ow: Int

    /// Kernel extent and input size in the rearranged convolution.
    var p: Int { (kh + stride - 1) / stride }
    var q: Int { (kw + stride - 1) / stride }
    var u: Int { oh + p - 1 }
    var v: Int { ow + q - 1 }
    var channels: Int { (c * stride * stride + 15) / 16 * 16 }

    /// Whether the rearranged convolution covers every input pixel (it does for the usual stems).
    var applies: Bool { stride > 1 && stride * u >= padTop + h && stride * v >= padLeft + w }

    private var key: String { "\(n),\(c),\(h),\(w),\(o),\(kh),\(kw),\(stride),\(padTop),\(padLeft),\(oh),\(ow)" }

    /// The input gradient, NCHW, of `gradient` (channels-last, the convolution's output shape) through a
    /// convolution with OIHW `weight`.
    func inputGradient(of gradient: Tensor, weight: Tensor) -> Tensor {
        let k = kernelCache.value(for: key) { makeKernel() }
        let rearranged = rearrangedWeights(weight)
        let weightsMD = k.queryMD(dnnl_query_weights_md)
        let userMD = memoryDesc(dims: [o, channels, p, q], tag: dnnl_oihw)
        let packed = PackedWeightCache.shared.packed(rearranged, as: weightsMD, sourceMD: userMD, key: "s2d-bwd:" + key)
        let dX = TensorStorage(uninitializedCount: n * channels * u * v)
        k.execute([
            (DNNL_ARG_DIFF_DST, memoryDesc(dims: [n, o, oh, ow], tag: dnnl_nhwc), UnsafeMutableRawPointer(gradient.basePointer)),
            (DNNL_ARG_WEIGHTS, weightsMD, UnsafeMutableRawPointer(packed.pointer)),
            (DNNL_ARG_DIFF_SRC, memoryDesc(dims: [n, channels, u, v], tag: dnnl_nhwc), UnsafeMutableRawPointer(dX.pointer)),
        ])
        let dx = Tensor.uninitialized([n, c, h, w])
        spreadBack(UnsafePointer(dX.pointer), into: dx.storage.pointer)
        return dx
    }

    private func makeKernel() -> DNNLPrimitive {
        var src = memoryDesc(dims: [n, channels, u, v], tag: dnnl_nhwc)
        var dst = memoryDesc(dims: [n, o, oh, ow], tag: dnnl_nhwc)
        var wAny = memoryDesc(dims: [o, channels, p, q], tag: dnnl_format_tag_any)
        var strides: [Int64] = [1, 1], dil: [Int64] = [0, 0], pad: [Int64] = [0, 0]
        var fd = dnnl_convolution_desc_t()
        dnnlCheck(dnnl_dilated_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct, &src, &wAny,
                                                             nil, &dst, &strides, &dil, &pad, &pad), "space-to-depth hint \(key)")
        let hint = withUnsafePointer(to: &fd) { DNNLPrimitive(opDesc: UnsafeRawPointer($0)) }
        var bd = dnnl_convolution_desc_t()
        dnnlCheck(dnnl_dilated_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &src, &wAny, &dst,
                                                                   &strides, &dil, &pad, &pad), "space-to-depth backward \(key)")
        return withUnsafePointer(to: &bd) { DNNLPrimitive(opDesc: UnsafeRawPointer($0), hint: hint.pd) }
    }

    /// W′ for `weight`, built once per weight tensor.
    private func rearrangedWeights(_ weight: Tensor) -> Tensor {
        let storage = PackedWeightCache.shared.derived(from: weight, key: "s2d-weights:" + key) {
            let s = stride, ww = weight.contiguous().scalars
            var out = [Float](repeating: 0, count: o * channels * p * q)
            for oc in 0..<o { for ci in 0..<c { for ry in 0..<s { for rx in 0..<s {
                let ch = (ci * s + ry) * s + rx
                for pi in 0..<p { for qi in 0..<q {
                    let (a, b) = (s * pi + ry, s * qi + rx)
                    guard a < kh && b < kw else { continue }
                    out[((oc * channels + ch) * p + pi) * q + qi] = ww[((oc * c + ci) * kh + a) * kw + b]
                }}
            }}}}
            return Tensor(shape: [o, channels, p, q], scalars: out).storage
        }
        return Tensor(shape: [o, channels, p, q], storage: storage)
    }

    /// dx[b, ci, y, x] = dX[b, u, v, (ci, ry, rx)] with s·u + ry = y + top and s·v + rx = x + left.
    private func spreadBack(_ dX: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>) {
        let (s, cs) = (stride, channels)
        splitAcrossThreads(n * c * h, work: n * c * h * w * 4) { rows in
            for row in rows {
                let (bc, y) = row.quotientAndRemainder(dividingBy: h)
                let (b, ci) = bc.quotientAndRemainder(dividingBy: c)
                let (ui, ry) = (y + padTop).quotientAndRemainder(dividingBy: s)
                let base = dX + ((b * u + ui) * v) * cs + (ci * s + ry) * s
                let out = dx + row * w
                for x in 0..<w {
                    let (vi, rx) = (x + padLeft).quotientAndRemainder(dividingBy: s)
                    out[x] = base[vi * cs + rx]
                }
            }
        }
    }
}

private let kernelCache = PrimitiveCache<DNNLPrimitive>()
