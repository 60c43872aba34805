import CDNNL
import Foundation

/// The input gradient of a stride-1 convolution, computed as a forward convolution of the output gradient.
///
/// With stride 1, dx is the correlation of the output gradient g with the kernel flipped in space and its
/// input and output channels swapped, W′[c, o, i, j] = W[o, c, kh − 1 − i, kw − 1 − j], padded by
/// d·(k − 1) − p on each side (d the dilation, p the forward padding of that side). oneDNN 2.6 runs this on
/// its forward kernel (brgconv) about 1.5× faster than its backward-data kernel (jit) runs the same product:
/// 3×3 convolutions at ResNet-50's sizes, channels-last, 2 threads (docs/results/floor.md). Grouped and
/// depthwise convolutions are left to backward-data, which is as fast as the forward there.
struct FlippedKernelBackward {
    let n, c, h, w, o, kh, kw, dilation: Int
    /// The forward convolution's zero padding (top, bottom, left, right).
    let pads: (Int, Int, Int, Int)
    let oh, ow: Int
    /// The operands' precision: in bf16 the gradient and the flipped weights are bf16; dx is fp32 either way.
    let precision: Precision

    /// The flipped convolution's padding, d·(k − 1) − p per side.
    private var flippedPads: (top: Int, bottom: Int, left: Int, right: Int) {
        let (ey, ex) = (dilation * (kh - 1), dilation * (kw - 1))
        return (ey - pads.0, ey - pads.1, ex - pads.2, ex - pads.3)
    }

    /// Whether no side is padded by more than the kernel's reach, which would make the flipped padding
    /// negative (cropping, which oneDNN's forward convolution does not take).
    var applies: Bool {
        let p = flippedPads
        return p.top >= 0 && p.bottom >= 0 && p.left >= 0 && p.right >= 0
    }

    private var key: String {
        "\(n),\(c),\(h),\(w),\(o),\(kh),\(kw),\(dilation),\(pads.0),\(pads.1),\(pads.2),\(pads.3),\(precision.rawValue)"
    }

    /// The input gradient, channels-last, of the gradient at `gradient` (the output's shape, channels-last, in
    /// this strategy's precision) through the convolution with OIHW `weight`.
    func inputGradient(of gradient: UnsafeMutableRawPointer, weight: Tensor) -> Tensor {
        let k = kernelCache.value(for: key) { makeKernel() }
        let weightsMD = k.queryMD(dnnl_query_weights_md)
        let packed = PackedWeightCache.shared.derived(from: weight, key: "flipped-bwd:" + key) {
            packedFlippedWeights(weight, as: weightsMD)
        }
        let inputShape = [n, c, h, w]
        let dx = Tensor(shape: inputShape, strides: Tensor.channelsLastStrides(inputShape),
                        storage: TensorStorage(uninitializedCount: n * c * h * w))
        k.execute([
            (DNNL_ARG_SRC, memoryDesc(dims: [n, o, oh, ow], tag: dnnl_nhwc, type: operandType(precision)), gradient),
            (DNNL_ARG_WEIGHTS, weightsMD, UnsafeMutableRawPointer(packed.pointer)),
            (DNNL_ARG_DST, memoryDesc(dims: inputShape, tag: dnnl_nhwc), UnsafeMutableRawPointer(dx.storage.pointer)),
        ])
        return dx
    }

    private func makeKernel() -> DNNLPrimitive {
        let type = operandType(precision)
        var src = memoryDesc(dims: [n, o, oh, ow], tag: dnnl_nhwc, type: type)
        var dst = memoryDesc(dims: [n, c, h, w], tag: dnnl_nhwc)
        var wAny = memoryDesc(dims: [c, o, kh, kw], tag: dnnl_format_tag_any, type: type)
        let p = flippedPads
        var strides: [Int64] = [1, 1], dil = [Int64(dilation - 1), Int64(dilation - 1)]
        var padL = [Int64(p.top), Int64(p.left)], padR = [Int64(p.bottom), Int64(p.right)]
        var fd = dnnl_convolution_desc_t()
        dnnlCheck(dnnl_dilated_convolution_forward_desc_init(&fd, dnnl_forward_inference, dnnl_convolution_direct, &src, &wAny,
                                                             nil, &dst, &strides, &dil, &padL, &padR),
                  "flipped-kernel backward \(key)")
        return withUnsafePointer(to: &fd) { DNNLPrimitive(opDesc: UnsafeRawPointer($0)) }
    }

    /// W′ in the primitive's layout `md`, built once per weight tensor; the plain flipped copy is temporary,
    /// so the model holds one derived copy, as with backward-data's packed weights.
    private func packedFlippedWeights(_ weight: Tensor, as md: dnnl_memory_desc_t) -> TensorStorage {
        let ww = weight.contiguous()
        let flipped = TensorStorage(uninitializedCount: c * o * kh * kw)
        let (src, dst) = (ww.basePointer, flipped.pointer)
        let taps = kh * kw
        for oc in 0..<o {
            for ci in 0..<c {
                let from = src + (oc * c + ci) * taps, to = dst + (ci * o + oc) * taps
                for t in 0..<taps { to[taps - 1 - t] = from[t] }
            }
        }
        let packed = TensorStorage(uninitializedCount: (mdSize(md) + 3) / 4)
        reorder(UnsafeMutableRawPointer(flipped.pointer), memoryDesc(dims: [c, o, kh, kw], tag: dnnl_oihw),
                UnsafeMutableRawPointer(packed.pointer), md)
        return packed
    }
}

private let kernelCache = PrimitiveCache<DNNLPrimitive>()
