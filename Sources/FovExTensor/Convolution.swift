import CDNNL
import Foundation

/// How a convolution pads its input.
public enum ConvPadding: Sendable, Equatable {
    /// Zero padding, possibly asymmetric.
    case zeros(top: Int, bottom: Int, left: Int, right: Int)
    /// TensorFlow "SAME": output size ceil(input / stride); total padding
    /// max((ceil(i/s) − 1)·s + (k−1)·d + 1 − i, 0), the smaller half on the top/left.
    case same
    /// Reflect padding by `p` on every side (mirror without repeating the edge).
    case reflect(Int)

    /// Zero padding by `p` on every side.
    public static func symmetric(_ p: Int) -> ConvPadding { .zeros(top: p, bottom: p, left: p, right: p) }

    /// The (top, bottom, left, right) zero padding for an input size, kernel, stride and dilation.
    func zeroPads(height: Int, width: Int, kernel: (Int, Int), stride: Int, dilation: Int) -> (Int, Int, Int, Int) {
        switch self {
        case let .zeros(t, b, l, r): return (t, b, l, r)
        case .reflect: return (0, 0, 0, 0)
        case .same:
            func split(_ i: Int, _ k: Int) -> (Int, Int) {
                let out = (i + stride - 1) / stride
                let total = Swift.max((out - 1) * stride + (k - 1) * dilation + 1 - i, 0)
                return (total / 2, total - total / 2)
            }
            let (t, b) = split(height, kernel.0), (l, r) = split(width, kernel.1)
            return (t, b, l, r)
        }
    }
}

private struct ConvKernels {
    let forward: DNNLPrimitive
    let backwardData: DNNLPrimitive
    let srcMD, dstMD, biasMD, userWeightsMD: dnnl_memory_desc_t
    let outShape: [Int]
}

private let convCache = PrimitiveCache<ConvKernels>()

extension Tensor {
    /// 2-D convolution (cross-correlation) of an NCHW tensor with OIHW weights (`I = C / groups`),
    /// as PyTorch's `conv2d`. Runs on oneDNN in channels-last layout and returns a channels-last
    /// tensor. Differentiable with respect to the input; weights and bias are constants.
    public func conv2d(weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: ConvPadding = .symmetric(0),
                       dilation: Int = 1, groups: Int = 1) -> Tensor {
        precondition(rank == 4 && weight.rank == 4, "conv2d needs NCHW input and OIHW weights, got \(shape) and \(weight.shape)")
        precondition(weight.node == nil && bias?.node == nil,
                     "conv2d weights are constants; gradients with respect to weights are not computed")
        if case .reflect(let p) = padding, p > 0 {
            return padded([(p, p), (p, p)], mode: .reflect)
                .conv2d(weight: weight, bias: bias, stride: stride, padding: .symmetric(0), dilation: dilation, groups: groups)
        }
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let (o, ipg, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
        precondition(c % groups == 0 && o % groups == 0 && ipg == c / groups,
                     "conv2d: input channels \(c), groups \(groups) and weights \(weight.shape) disagree")
        if let bias { precondition(bias.shape == [o], "conv2d bias shape \(bias.shape), expected [\(o)]") }
        let (pt, pb, pl, pr) = padding.zeroPads(height: h, width: w, kernel: (kh, kw), stride: stride, dilation: dilation)
        let oh = (h + pt + pb - ((kh - 1) * dilation + 1)) / stride + 1
        let ow = (w + pl + pr - ((kw - 1) * dilation + 1)) / stride + 1
        precondition(oh > 0 && ow > 0, "conv2d: kernel \(kh)×\(kw) does not fit input \(h)×\(w) with this padding")

        let key = "\(n),\(c),\(h),\(w),\(o),\(kh),\(kw),\(stride),\(pt),\(pb),\(pl),\(pr),\(dilation),\(groups),\(bias != nil)"
        let k = convCache.value(for: key) {
            let src = memoryDesc(dims: [n, c, h, w], tag: dnnl_nhwc)
            let dst = memoryDesc(dims: [n, o, oh, ow], tag: dnnl_nhwc)
            let wDims = groups > 1 ? [groups, o / groups, ipg, kh, kw] : [o, ipg, kh, kw]
            let wAny = memoryDesc(dims: wDims, tag: dnnl_format_tag_any)
            let wUser = memoryDesc(dims: wDims, tag: groups > 1 ? dnnl_goihw : dnnl_oihw)
            let b = bias != nil ? memoryDesc(dims: [o], tag: dnnl_a) : dnnl_memory_desc_t()
            var strides = [Int64(stride), Int64(stride)], dil = [Int64(dilation - 1), Int64(dilation - 1)]
            var padL = [Int64(pt), Int64(pl)], padR = [Int64(pb), Int64(pr)]
            var fd = dnnl_convolution_desc_t()
            var s = src, wa = wAny, bb = b, d = dst
            let hasBias = bias != nil
            dnnlCheck(withUnsafePointer(to: &bb) { bp in
                dnnl_dilated_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct,
                                                           &s, &wa, hasBias ? bp : nil, &d, &strides, &dil, &padL, &padR)
            }, "conv forward desc \(key)")
            let fwd = withUnsafePointer(to: &fd) { DNNLPrimitive(opDesc: UnsafeRawPointer($0)) }
            var bd = dnnl_convolution_desc_t()
            dnnlCheck(dnnl_dilated_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &s, &wa, &d,
                                                                       &strides, &dil, &padL, &padR), "conv backward desc \(key)")
            let bwd = withUnsafePointer(to: &bd) { DNNLPrimitive(opDesc: UnsafeRawPointer($0), hint: fwd.pd) }
            return ConvKernels(forward: fwd, backwardData: bwd, srcMD: src, dstMD: dst, biasMD: b, userWeightsMD: wUser,
                               outShape: [n, o, oh, ow])
        }

        let x = channelsLast()
        let wc = weight.contiguous()
        let fwdWeightsMD = k.forward.queryMD(dnnl_query_weights_md)
        let packed = PackedWeightCache.shared.packed(wc, as: fwdWeightsMD, sourceMD: k.userWeightsMD, key: "conv-fwd:" + key)
        let out = Tensor(shape: k.outShape, strides: Tensor.channelsLastStrides(k.outShape), storage:
                            TensorStorage(uninitializedCount: k.outShape.reduce(1, *)))
        var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
            (DNNL_ARG_SRC, k.srcMD, UnsafeMutableRawPointer(x.basePointer)),
            (DNNL_ARG_WEIGHTS, fwdWeightsMD, UnsafeMutableRawPointer(packed.pointer)),
            (DNNL_ARG_DST, k.dstMD, UnsafeMutableRawPointer(out.storage.pointer)),
        ]
        if let bias { args.append((DNNL_ARG_BIAS, k.biasMD, UnsafeMutableRawPointer(bias.contiguous().basePointer))) }
        k.forward.execute(args)

        let inputShape = shape
        return out.recorded(from: [x]) { g in
            let gl = g.channelsLast()
            let bwdWeightsMD = k.backwardData.queryMD(dnnl_query_weights_md)
            let packedB = PackedWeightCache.shared.packed(wc, as: bwdWeightsMD, sourceMD: k.userWeightsMD, key: "conv-bwd:" + key)
            let dx = Tensor(shape: inputShape, strides: Tensor.channelsLastStrides(inputShape),
                            storage: TensorStorage(uninitializedCount: inputShape.reduce(1, *)))
            k.backwardData.execute([
                (DNNL_ARG_DIFF_DST, k.dstMD, UnsafeMutableRawPointer(gl.basePointer)),
                (DNNL_ARG_WEIGHTS, bwdWeightsMD, UnsafeMutableRawPointer(packedB.pointer)),
                (DNNL_ARG_DIFF_SRC, k.srcMD, UnsafeMutableRawPointer(dx.storage.pointer)),
            ])
            return [dx]
        }
    }

    /// Strides of a channels-last (NHWC in memory) tensor with NCHW shape.
    public static func channelsLastStrides(_ s: [Int]) -> [Int] {
        [s[1] * s[2] * s[3], 1, s[3] * s[1], s[1]]
    }
}
