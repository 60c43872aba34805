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

/// An activation oneDNN applies to a convolution's output in the same pass (a post-op), after the
/// bias and any residual are added.
public enum ConvActivation: Sendable, Equatable {
    /// max(x, 0); gradient 1 where the output is positive (PyTorch's).
    case relu
    /// min(max(x, 0), 6); gradient 1 where the output lies strictly between 0 and 6 (PyTorch's hardtanh).
    case relu6
}

extension ConvActivation {
    /// The name in primitive cache keys. Interpolating the case itself goes through reflection, which cost
    /// several microseconds per convolution call (docs/design/onnx-speed.md).
    var keyName: String {
        switch self {
        case .relu: return "relu"
        case .relu6: return "relu6"
        }
    }
}

/// A convolution's primitives and layouts, cached per call shape. A class: its memory descriptors are about
/// 6 kB, which a struct copied out of the cache and into each call's backward strategy on every forward call.
private final class ConvKernels: Sendable {
    let forward: DNNLPrimitive
    let backwardData: DNNLPrimitive
    let srcMD, dstMD, biasMD, userWeightsMD: dnnl_memory_desc_t
    /// Layouts of the backward pass's gradients: channels-last, or plain NCHW for few-channel inputs.
    let diffSrcMD, diffDstMD: dnnl_memory_desc_t
    let plainBackward: Bool
    let outShape: [Int]
    /// The call's shape without its post-ops, which the packed backward weights are keyed by.
    let shapeKey: String
    /// The operands' precision: in bf16 the input, the weights and the incoming gradient are bf16.
    let precision: Precision

    init(forward: DNNLPrimitive, backwardData: DNNLPrimitive, srcMD: dnnl_memory_desc_t, dstMD: dnnl_memory_desc_t,
         biasMD: dnnl_memory_desc_t, userWeightsMD: dnnl_memory_desc_t, diffSrcMD: dnnl_memory_desc_t,
         diffDstMD: dnnl_memory_desc_t, plainBackward: Bool, outShape: [Int], shapeKey: String, precision: Precision) {
        (self.forward, self.backwardData) = (forward, backwardData)
        (self.srcMD, self.dstMD, self.biasMD, self.userWeightsMD) = (srcMD, dstMD, biasMD, userWeightsMD)
        (self.diffSrcMD, self.diffDstMD, self.plainBackward) = (diffSrcMD, diffDstMD, plainBackward)
        (self.outShape, self.shapeKey, self.precision) = (outShape, shapeKey, precision)
    }
}

private let convCache = PrimitiveCache<ConvKernels>()

/// Below this many input channels, backward-data runs in plain NCHW layout. With a channels-last or
/// blocked gradient and a 3-channel result (an image stem), oneDNN 2.6 picks a kernel that reaches
/// about 60 GFLOP/s on this project's machines; its plain GEMM-based kernel reaches several times that,
/// even with the reorder of the incoming gradient it needs.
let plainBackwardMaxChannels = 4

extension Tensor {
    /// 2-D convolution (cross-correlation) of an NCHW tensor with OIHW weights (`I = C / groups`),
    /// as PyTorch's `conv2d`. Runs on oneDNN in channels-last layout (on AVX2 CPUs, 3×3 stride-1 layers in fp32 by Winograd's
    /// F(2×2, 3×3) instead) and returns a channels-last tensor. Differentiable with
    /// respect to the input and `residual`; weights and bias are constants.
    /// Computes in ``Precision/current`` (see ``Precision``); output and gradients are fp32 either way.
    ///
    /// - Parameters:
    ///   - weight: [O, C / groups, kH, kW] filters.
    ///   - bias: [O] added to every output position, or `nil`.
    ///   - stride: the step between output positions, on both axes.
    ///   - padding: the border added before the convolution (``ConvPadding``).
    ///   - dilation: the spacing between kernel taps, on both axes.
    ///   - groups: channel groups (C for a depthwise convolution); C and O must divide by it.
    ///   - residual: a tensor shaped like the output, added before `activation` in the same pass
    ///     (a ResNet block's shortcut).
    ///   - activation: applied to conv + bias + residual in the same pass.
    ///   - consumingResidual: the caller will not read `residual` (nor any view of its storage) again, so
    ///     that, when nothing is recorded for differentiation, the output may be written over the residual's
    ///     storage: oneDNN then accumulates onto the shortcut in place instead of onto a copy of it (a
    ///     ResNet's shortcut copy is 0.1–0.2 ms per block on 2 threads). Ignored while recording gradients,
    ///     and when the residual is not a channels-last tensor owning exactly its storage.
    public func conv2d(weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: ConvPadding = .symmetric(0),
                       dilation: Int = 1, groups: Int = 1, residual: Tensor? = nil,
                       activation: ConvActivation? = nil, consumingResidual: Bool = false) -> Tensor {
        precondition(rank == 4 && weight.rank == 4, "conv2d needs NCHW input and OIHW weights, got \(shape) and \(weight.shape)")
        precondition(weight.node == nil && bias?.node == nil,
                     "conv2d weights are constants; gradients with respect to weights are not computed")
        if case .reflect(let p) = padding, p > 0 {
            return padded([(p, p), (p, p)], mode: .reflect)
                .conv2d(weight: weight, bias: bias, stride: stride, padding: .symmetric(0), dilation: dilation, groups: groups,
                        residual: residual, activation: activation, consumingResidual: consumingResidual)
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
        if let residual {
            precondition(residual.shape == [n, o, oh, ow], "conv2d residual shape \(residual.shape), expected \([n, o, oh, ow])")
        }
        // In place only when nothing is recorded: the backward pass of a recorded convolution reads its output,
        // and a recorded residual may be read by its other consumers' backward passes.
        let inPlace = consumingResidual && !(GradientMode.isEnabled && (node != nil || residual?.node != nil))

        // The forward and backward products' operand precisions: they differ in bf16-backward, whose backward
        // product is the bf16 one of a convolution of this shape.
        let (precision, backwardPrecision) = Precision.current.productPrecisions
        func shapeKey(_ precision: Precision) -> String {
            "\(n),\(c),\(h),\(w),\(o),\(kh),\(kw),\(stride),\(pt),\(pb),\(pl),\(pr),\(dilation),\(groups),"
                + "\(bias != nil),\(precision.rawValue)"
        }
        if kh == 1 && kw == 1 && dilation == 1 && groups == 1 && (pt, pb, pl, pr) == (0, 0, 0, 0) {
            if stride == 1 {
                return pointwiseConv2d(weight: weight, bias: bias, residual: residual, activation: activation, inPlace: inPlace,
                                       key: shapeKey(precision), precision: precision, backwardPrecision: backwardPrecision)
            }
            return stridedPointwiseConv2d(weight: weight, bias: bias, stride: stride, outputSize: (oh, ow), residual: residual,
                                          activation: activation, inPlace: inPlace, key: shapeKey(precision), precision: precision,
                                          backwardPrecision: backwardPrecision)
        }
        if precision == .fp32 && backwardPrecision == .fp32 && WinogradConvolution.isEnabled
            && WinogradConvolution.applies(channels: c, outputs: o, height: h, width: w, kernel: (kh, kw), stride: stride,
                                           dilation: dilation, groups: groups, pads: (pt, pb, pl, pr), multiple: 8) {
            return winogradConv2d(weight: weight, bias: bias, residual: residual, activation: activation)
        }
        // The kernels for one operand precision, and their cache key. In bf16-backward the forward primitive of
        // the bf16 kernels is created but never run.
        func kernels(_ precision: Precision) -> (ConvKernels, String) {
            let type = operandType(precision)
            let shapeKey = shapeKey(precision)
            let key = shapeKey + ",\(residual != nil)," + (activation?.keyName ?? "-")
            return (convCache.value(for: key) {
                let src = memoryDesc(dims: [n, c, h, w], tag: dnnl_nhwc, type: type)
                let dst = memoryDesc(dims: [n, o, oh, ow], tag: dnnl_nhwc)
                let wDims = groups > 1 ? [groups, o / groups, ipg, kh, kw] : [o, ipg, kh, kw]
                let wAny = memoryDesc(dims: wDims, tag: dnnl_format_tag_any, type: type)
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
                let attr = postOpsAttribute(residual: residual != nil, activation: activation)
                defer { if let attr { dnnl_primitive_attr_destroy(attr) } }
                let fwd = withUnsafePointer(to: &fd) { DNNLPrimitive(opDesc: UnsafeRawPointer($0), attr: attr) }

                let plain = c <= plainBackwardMaxChannels && groups == 1
                // The input gradient is fp32 in either precision; in bf16 the incoming gradient is converted.
                var diffSrc = memoryDesc(dims: [n, c, h, w], tag: plain ? dnnl_nchw : dnnl_nhwc)
                var diffDst = memoryDesc(dims: [n, o, oh, ow], tag: plain ? dnnl_nchw : dnnl_nhwc, type: type)
                var bd = dnnl_convolution_desc_t()
                dnnlCheck(dnnl_dilated_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &diffSrc, &wa, &diffDst,
                                                                           &strides, &dil, &padL, &padR), "conv backward desc \(key)")
                // The hint must describe the same layouts as the backward pass, so the plain case gets a plain forward.
                var hintDesc = dnnl_convolution_desc_t()
                var hint = fwd
                if plain {
                    var hintSrc = memoryDesc(dims: [n, c, h, w], tag: dnnl_nchw, type: type)
                    var hintDst = memoryDesc(dims: [n, o, oh, ow], tag: dnnl_nchw)
                    dnnlCheck(withUnsafePointer(to: &bb) { bp in
                        dnnl_dilated_convolution_forward_desc_init(&hintDesc, dnnl_forward_training, dnnl_convolution_direct,
                                                                   &hintSrc, &wa, hasBias ? bp : nil, &hintDst, &strides, &dil,
                                                                   &padL, &padR)
                    }, "conv plain forward desc \(key)")
                    hint = withUnsafePointer(to: &hintDesc) { DNNLPrimitive(opDesc: UnsafeRawPointer($0)) }
                }
                let bwd = withUnsafePointer(to: &bd) { DNNLPrimitive(opDesc: UnsafeRawPointer($0), hint: hint.pd) }
                return ConvKernels(forward: fwd, backwardData: bwd, srcMD: src, dstMD: dst, biasMD: b, userWeightsMD: wUser,
                                   diffSrcMD: diffSrc, diffDstMD: diffDst, plainBackward: plain, outShape: [n, o, oh, ow],
                                   shapeKey: shapeKey, precision: precision)
            }, key)
        }
        let (k, key) = kernels(precision)
        let (kb, backwardKey) = backwardPrecision == precision ? (k, key) : kernels(backwardPrecision)

        let x = channelsLast()
        let wc = weight.contiguous()
        let out = runFusedForward(k.forward, input: x, srcMD: k.srcMD, dstMD: k.dstMD, biasMD: k.biasMD, outShape: k.outShape,
                                  weight: wc, weightsUserMD: k.userWeightsMD, packKey: "conv-fwd:" + key,
                                  bias: bias, residual: residual, inPlace: inPlace, precision: precision)

        let strategy = ConvInputGradient(kernels: kb, geometry: ConvGeometry(
            inputShape: shape, kernel: (kh, kw), stride: stride, dilation: dilation, groups: groups, pads: (pt, pb, pl, pr),
            outputSize: (oh, ow)), key: backwardKey)
        return out.recordedConvolution(input: x, residual: residual, activation: activation, weight: wc, strategy: strategy)
    }

    /// A 3×3, stride-1, padding-1 convolution by Winograd's F(2×2, 3×3) on channels-last tensors, its input
    /// gradient by the same algorithm with the rotated, transposed filters (``WinogradConvolution``). The output is
    /// always a fresh tensor: the residual is read, never written over.
    fileprivate func winogradConv2d(weight: Tensor, bias: Tensor?, residual: Tensor?, activation: ConvActivation?) -> Tensor {
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let o = weight.shape[0]
        let x = channelsLast()
        let wc = weight.contiguous()
        let outShape = [n, o, h, w]
        let out = Tensor(shape: outShape, strides: Tensor.channelsLastStrides(outShape),
                         storage: TensorStorage(uninitializedCount: outShape.reduce(1, *)))
        let shortcut = residual.map { r in withoutGradients { r.channelsLast() } }
        withExtendedLifetime(shortcut) {
            WinogradConvolution(weight: wc, bias: bias, activation: activation)
                .run(input: x.basePointer, output: out.storage.pointer, residual: shortcut?.basePointer, batch: n, height: h,
                     width: w, inputBlock: c, outputBlock: o)
        }
        return out.recordedConvolution(input: x, residual: residual, activation: activation, weight: wc, strategy: .winograd)
    }

    /// Records `self`, a convolution's output computed from the channels-last `input` (and `residual`), with
    /// the backward pass `strategy` computes the input gradient by.
    fileprivate func recordedConvolution(input x: Tensor, residual: Tensor?, activation: ConvActivation?, weight wc: Tensor,
                                         strategy: ConvInputGradient) -> Tensor {
        let out = self
        let inputs = residual.map { [x, $0] } ?? [x]
        let hasResidual = residual != nil
        return recorded(from: inputs) { (parts: [Tensor]) in
            if strategy.readsBF16Gradient,
               let fused = activationGradientBF16(parts, output: out, activation: activation, keepFP32: hasResidual) {
                let dx = strategy.inputGradient(of: .bf16(fused.bf16), weight: wc)
                return hasResidual ? [dx, fused.fp32!] : [dx]
            }
            let gl = activationGradient(parts, output: out, activation: activation)
            let dx = strategy.inputGradient(of: .fp32(gl), weight: wc)
            return hasResidual ? [dx, gl] : [dx]
        }
    }

    /// Strides of a channels-last (NHWC in memory) tensor with NCHW shape.
    public static func channelsLastStrides(_ s: [Int]) -> [Int] {
        [s[1] * s[2] * s[3], 1, s[3] * s[1], s[1]]
    }
}

/// The shape of one convolution call, as its backward strategies need it.
private struct ConvGeometry {
    let inputShape: [Int]
    let kernel: (Int, Int)
    let stride, dilation, groups: Int
    /// Zero padding (top, bottom, left, right).
    let pads: (Int, Int, Int, Int)
    let outputSize: (Int, Int)
}

/// How a convolution's input gradient is computed, chosen once per forward call from its shape: the four
/// strategies compute the same product (the transposed convolution of the output gradient), each fastest on
/// its own shapes.
private enum ConvInputGradient {
    /// A strided, unpadded 1×1 convolution: oneDNN's strided 1×1 backward kernel reaches about half its
    /// unstrided speed here; the product at the output's resolution, spread onto the strided grid, is faster.
    case stridedPointwise(ConvGeometry, Precision)
    /// A strided convolution over few input channels (an image stem): the backward pass of the equivalent
    /// stride-1 convolution on the space-to-depth rearranged input (``SpaceToDepthBackward``). fp32 in either
    /// precision: a stem is a few percent of a network's products.
    case spaceToDepth(SpaceToDepthBackward)
    /// A stride-1 convolution that is not depthwise: the forward convolution of the gradient with the flipped
    /// kernel (``FlippedKernelBackward``).
    case flippedKernel(FlippedKernelBackward)
    /// oneDNN's backward-data primitive, created with the forward one.
    case backwardData(ConvKernels, ConvGeometry, key: String)
    /// A convolution run by Winograd's algorithm: the same algorithm on the rotated, transposed filters.
    case winograd

    /// The strategy for a convolution run by oneDNN's convolution primitive (strided 1×1 convolutions take
    /// ``stridedPointwise(_:_:)``, chosen where they run).
    init(kernels k: ConvKernels, geometry g: ConvGeometry, key: String) {
        let (n, c, h, w) = (g.inputShape[0], g.inputShape[1], g.inputShape[2], g.inputShape[3])
        let spaceToDepth = SpaceToDepthBackward(n: n, c: c, h: h, w: w, o: k.outShape[1], kh: g.kernel.0, kw: g.kernel.1,
                                                stride: k.plainBackward && g.dilation == 1 ? g.stride : 1,
                                                padTop: g.pads.0, padLeft: g.pads.2, oh: g.outputSize.0,
                                                ow: g.outputSize.1)
        if spaceToDepth.applies {
            self = .spaceToDepth(spaceToDepth)
            return
        }
        // A few-channel result (an image stem) keeps the plain-layout backward-data kernel, which is fast there.
        if g.stride == 1 && g.groups == 1 && !k.plainBackward {
            let flipped = FlippedKernelBackward(n: n, c: c, h: h, w: w, o: k.outShape[1], kh: g.kernel.0, kw: g.kernel.1,
                                                dilation: g.dilation, pads: g.pads, oh: g.outputSize.0,
                                                ow: g.outputSize.1, precision: k.precision)
            if flipped.applies {
                self = .flippedKernel(flipped)
                return
            }
        }
        self = .backwardData(k, g, key: key)
    }

    /// Whether this strategy's product reads the gradient as a bf16 copy in the output's channels-last layout,
    /// which the activation's backward can then write directly (``OutputGradient/bf16(_:)``).
    var readsBF16Gradient: Bool {
        switch self {
        case let .stridedPointwise(_, precision): return precision == .bf16
        case .spaceToDepth: return false
        case .flippedKernel(let f): return f.precision == .bf16
        case let .backwardData(k, _, _): return k.precision == .bf16 && !k.plainBackward
        case .winograd: return false
        }
    }

    /// The input gradient (shaped like the input) of `gradient`, the gradient before the fused activation
    /// (shaped like the output), through the convolution with OIHW `weight`. A bf16 gradient only where
    /// ``readsBF16Gradient``.
    func inputGradient(of gradient: OutputGradient, weight: Tensor) -> Tensor {
        switch self {
        case let .stridedPointwise(g, precision):
            return stridedPointwiseInputGradient(gradient, weight: weight, geometry: g, precision: precision)
        case .spaceToDepth(let s2d):
            guard case .fp32(let fp32) = gradient else { preconditionFailure("space-to-depth backward reads an fp32 gradient") }
            return s2d.inputGradient(of: fp32, weight: weight)
        case .flippedKernel(let f):
            let operand = gradient.operand(f.precision)
            return withExtendedLifetime(operand.owner) { f.inputGradient(of: operand.pointer, weight: weight) }
        case let .backwardData(k, g, key): return backwardDataInputGradient(gradient, weight: weight, kernels: k, geometry: g,
                                                                            key: key)
        case .winograd:
            guard case .fp32(let fp32) = gradient else { preconditionFailure("Winograd's backward reads an fp32 gradient") }
            let g = fp32.channelsLast()
            let (n, k, h, w) = (g.shape[0], g.shape[1], g.shape[2], g.shape[3])
            let c = weight.shape[1]
            let inputShape = [n, c, h, w]
            let dx = TensorStorage(uninitializedCount: inputShape.reduce(1, *))
            WinogradConvolution(weight: weight, bias: nil, activation: nil, transposed: true)
                .run(input: g.basePointer, output: dx.pointer, residual: nil, batch: n, height: h, width: w, inputBlock: k,
                     outputBlock: c)
            return Tensor(shape: inputShape, strides: Tensor.channelsLastStrides(inputShape), storage: dx)
        }
    }
}

/// The gradient of a convolution's output (before its fused activation) as a backward product reads it.
private enum OutputGradient {
    /// fp32, channels-last; a bf16 product converts it itself.
    case fp32(Tensor)
    /// Already converted to bf16 (``activationGradientBF16(_:output:activation:keepFP32:)``), in the output's
    /// channels-last layout.
    case bf16(TensorStorage)

    /// The bytes a product in `precision` reads, laid out like the channels-last output, and the storage that
    /// owns them (a fresh bf16 copy where one was needed).
    func operand(_ precision: Precision) -> (pointer: UnsafeMutableRawPointer, owner: TensorStorage) {
        switch self {
        case .bf16(let s): return (UnsafeMutableRawPointer(s.pointer), s)
        case .fp32(let g) where precision == .bf16:
            let s = bf16Copy(g, strides: g.strides)
            return (UnsafeMutableRawPointer(s.pointer), s)
        case .fp32(let g): return (UnsafeMutableRawPointer(g.basePointer), g.storage)
        }
    }
}

/// The input gradient of a strided, unpadded 1×1 convolution: the matrix product at the output's resolution,
/// then spread onto every stride-th pixel of a zeroed input-sized gradient.
private func stridedPointwiseInputGradient(_ gradient: OutputGradient, weight: Tensor, geometry g: ConvGeometry,
                                           precision: Precision) -> Tensor {
    let inputShape = g.inputShape
    let (n, c, h, w) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
    let (oh, ow) = g.outputSize
    let compact = Tensor.uninitialized([n * oh * ow, c])
    pointwiseBackward(gradient, weight: weight, pixels: compact.shape[0], into: compact.storage.pointer, precision: precision)
    let dx = Tensor(shape: inputShape, strides: Tensor.channelsLastStrides(inputShape),
                    storage: TensorStorage(uninitializedCount: inputShape.reduce(1, *)))
    scatterStrided(compact.storage.pointer, into: dx.storage.pointer, n: n, h: h, w: w, c: c, stride: g.stride,
                   oh: oh, ow: ow)
    return dx
}

/// The input gradient by oneDNN's backward-data primitive; in plain NCHW layout for few-channel inputs
/// (see ``plainBackwardMaxChannels``), channels-last otherwise.
private func backwardDataInputGradient(_ gradient: OutputGradient, weight: Tensor, kernels k: ConvKernels,
                                       geometry g: ConvGeometry, key: String) -> Tensor {
    let inputShape = g.inputShape
    let bwdWeightsMD = k.backwardData.queryMD(dnnl_query_weights_md)
    let packedB = PackedWeightCache.shared.packed(weight, as: bwdWeightsMD, sourceMD: k.userWeightsMD,
                                                  key: "conv-bwd:" + k.shapeKey)
    // The plain layout needs the gradient reordered (and converted, in bf16); a channels-last backward reads the
    // fp32 gradient as it is, or a bf16 copy in the same layout.
    let diffDst: TensorStorage
    let diffDstPointer: UnsafeMutableRawPointer
    if k.plainBackward, case .fp32(let fp32) = gradient {
        diffDst = TensorStorage(uninitializedCount: (mdSize(k.diffDstMD) + 3) / 4)
        diffDstPointer = UnsafeMutableRawPointer(diffDst.pointer)
        reorder(UnsafeMutableRawPointer(fp32.basePointer), k.dstMD, diffDstPointer, k.diffDstMD, key: "conv-diff-dst:" + key)
    } else {
        precondition(!k.plainBackward, "a plain-layout backward reads an fp32 gradient")
        let operand = gradient.operand(k.precision)
        diffDst = operand.owner
        diffDstPointer = operand.pointer
    }
    let dx = Tensor(shape: inputShape,
                    strides: k.plainBackward ? Tensor.contiguousStrides(for: inputShape)
                                             : Tensor.channelsLastStrides(inputShape),
                    storage: TensorStorage(uninitializedCount: inputShape.reduce(1, *)))
    k.backwardData.execute([
        (DNNL_ARG_DIFF_DST, k.diffDstMD, diffDstPointer),
        (DNNL_ARG_WEIGHTS, bwdWeightsMD, UnsafeMutableRawPointer(packedB.pointer)),
        (DNNL_ARG_DIFF_SRC, k.diffSrcMD, UnsafeMutableRawPointer(dx.storage.pointer)),
    ])
    withExtendedLifetime(diffDst) {}
    return dx
}

/// The post-ops for a fused residual and activation; nil when there are none. The caller destroys the attribute.
///
/// The residual is a sum post-op: ``runFusedForward`` copies it into the output buffer first and the primitive
/// accumulates onto it. oneDNN 2.6's binary-add post-op, which reads the residual as a second operand, costs
/// more than that copy in its brgemm matmul and convolution kernels: ResNet-50's 3136 × 64 · 64 × 256 shortcut
/// product took 0.97 ms with it against 0.65 ms with the copy and the sum on 2 threads (docs/design/onnx-speed.md).
func postOpsAttribute(residual: Bool, activation: ConvActivation?) -> dnnl_primitive_attr_t? {
    guard residual || activation != nil else { return nil }
    var ops: dnnl_post_ops_t?
    dnnlCheck(dnnl_post_ops_create(&ops), "post-ops creation")
    defer { dnnl_post_ops_destroy(ops) }
    if residual { dnnlCheck(dnnl_post_ops_append_sum(ops, 1), "residual post-op") }
    switch activation {
    case .relu?: dnnlCheck(dnnl_post_ops_append_eltwise(ops, 1, dnnl_eltwise_relu, 0, 0), "relu post-op")
    case .relu6?: dnnlCheck(dnnl_post_ops_append_eltwise(ops, 1, dnnl_eltwise_clip_v2, 0, 6), "relu6 post-op")
    case nil: break
    }
    var attr: dnnl_primitive_attr_t?
    dnnlCheck(dnnl_primitive_attr_create(&attr), "attribute creation")
    dnnlCheck(dnnl_primitive_attr_set_post_ops(attr, ops), "post-ops attribute")
    return attr
}

/// A 1×1 convolution's matrix product and layouts, cached per call shape (a class, as ``ConvKernels``).
private final class PointwiseKernels: Sendable {
    let forward: DNNLPrimitive
    /// [pixels, in], [pixels, out] and [1, out], row-major.
    let srcMD, dstMD, biasMD: dnnl_memory_desc_t
    /// The OIHW weights seen as the forward's [in, out] matrix.
    let forwardWeightsUserMD: dnnl_memory_desc_t

    init(forward: DNNLPrimitive, srcMD: dnnl_memory_desc_t, dstMD: dnnl_memory_desc_t, biasMD: dnnl_memory_desc_t,
         forwardWeightsUserMD: dnnl_memory_desc_t) {
        (self.forward, self.srcMD, self.dstMD, self.biasMD) = (forward, srcMD, dstMD, biasMD)
        self.forwardWeightsUserMD = forwardWeightsUserMD
    }
}

private let pointwiseCache = PrimitiveCache<PointwiseKernels>()

private struct PointwiseBackwardKernel {
    let primitive: DNNLPrimitive
    /// [pixels, out] and [pixels, in], row-major, and the OIHW weights as the [out, in] matrix.
    let gradientMD, resultMD, weightsUserMD: dnnl_memory_desc_t
}

private let pointwiseBackwardCache = PrimitiveCache<PointwiseBackwardKernel>()

/// The input gradient of a 1×1 convolution over `pixels` channels-last pixels, [pixels, out] · [out, in];
/// in bf16 from a bf16 copy of the gradient and bf16 packed weights, into an fp32 result.
private func pointwiseBackward(_ gradient: OutputGradient, weight: Tensor, pixels: Int,
                               into result: UnsafeMutablePointer<Float>, precision: Precision) {
    let (o, c) = (weight.shape[0], weight.shape[1])
    let type = operandType(precision)
    let key = "\(pixels),\(o),\(c),\(precision.rawValue)"
    let k = pointwiseBackwardCache.value(for: key) {
        let g = memoryDesc(dims: [pixels, o], tag: dnnl_ab, type: type)
        let dx = memoryDesc(dims: [pixels, c], tag: dnnl_ab)
        let p = matmulPrimitive(src: g, weightsDims: [o, c], type: type, bias: nil, dst: dx,
                                name: "pointwise conv backward \(key)")
        return PointwiseBackwardKernel(primitive: p, gradientMD: g, resultMD: dx,
                                       weightsUserMD: memoryDesc(dims: [o, c], strides: [c, 1]))
    }
    let weightsMD = k.primitive.queryMD(dnnl_query_weights_md)
    let weights = PackedWeightCache.shared.operand(weight, as: weightsMD, sourceMD: k.weightsUserMD,
                                                   key: "pointwise-bwd:\(o),\(c),\(precision.rawValue)")
    let (source, owner) = gradient.operand(precision)
    k.primitive.execute([
        (DNNL_ARG_SRC, k.gradientMD, source),
        (DNNL_ARG_WEIGHTS, weightsMD, weights.pointer),
        (DNNL_ARG_DST, k.resultMD, UnsafeMutableRawPointer(result)),
    ])
    withExtendedLifetime((owner, weights.owner)) {}
}

/// Spreads a channels-last [n, oh, ow, c] buffer onto every `stride`-th row and column of a channels-last
/// [n, h, w, c] buffer and zeros the rest: the input gradient of a strided, unpadded 1×1 convolution,
/// given the one computed at the output's resolution.
private func scatterStrided(_ compact: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>,
                            n: Int, h: Int, w: Int, c: Int, stride: Int, oh: Int, ow: Int) {
    splitAcrossThreads(n * h, work: n * h * w * c) { rows in
        for row in rows {
            let (b, y) = row.quotientAndRemainder(dividingBy: h)
            let out = dst + row * w * c
            guard y % stride == 0 else { out.update(repeating: 0, count: w * c); continue }
            let src = compact + (b * oh + y / stride) * ow * c
            for x in 0..<w {
                if x % stride == 0 { (out + x * c).update(from: src + (x / stride) * c, count: c) }
                else { (out + x * c).update(repeating: 0, count: c) }
            }
        }
    }
}

extension Tensor {
    /// A 1×1, stride-1, unpadded, ungrouped convolution run as the matrix product it is in channels-last
    /// layout: [pixels, in] · [in, out]. oneDNN's matmul kernel is as fast as or faster than its 1×1
    /// convolution kernels on these shapes, with or without the residual and activation post-ops.
    fileprivate func pointwiseConv2d(weight: Tensor, bias: Tensor?, residual: Tensor?, activation: ConvActivation?,
                                     inPlace: Bool, key shapeKey: String, precision: Precision,
                                     backwardPrecision: Precision) -> Tensor {
        let x = channelsLast()
        let wc = weight.contiguous()
        let out = pointwiseForward(x, weight: wc, bias: bias, residual: residual, activation: activation, inPlace: inPlace,
                                   key: shapeKey, precision: precision)
        let inputShape = shape
        let (pixels, c) = (shape[0] * shape[2] * shape[3], shape[1])
        let inputs = residual.map { [x, $0] } ?? [x]
        return out.recorded(from: inputs) { (parts: [Tensor]) in
            let dx = Tensor(shape: inputShape, strides: Tensor.channelsLastStrides(inputShape),
                            storage: TensorStorage(uninitializedCount: pixels * c))
            if backwardPrecision == .bf16,
               let fused = activationGradientBF16(parts, output: out, activation: activation, keepFP32: residual != nil) {
                pointwiseBackward(.bf16(fused.bf16), weight: wc, pixels: pixels, into: dx.storage.pointer,
                                  precision: backwardPrecision)
                return residual == nil ? [dx] : [dx, fused.fp32!]
            }
            let gl = activationGradient(parts, output: out, activation: activation)
            pointwiseBackward(.fp32(gl), weight: wc, pixels: pixels, into: dx.storage.pointer, precision: backwardPrecision)
            return residual == nil ? [dx] : [dx, gl]
        }
    }

    /// A 1×1, strided, unpadded, ungrouped convolution (a ResNet's downsampling shortcut): the stride-1 matrix
    /// product on every stride-th pixel, copied out first. oneDNN 2.6's strided 1×1 convolution kernel on
    /// channels-last data is up to 1.7× slower than the copy and the product on some shapes (ResNet-50's
    /// 512 → 1024 channels at 28 × 28 pixels: 1.75 against 1.03 ms on 2 threads, docs/design/onnx-speed.md).
    fileprivate func stridedPointwiseConv2d(weight: Tensor, bias: Tensor?, stride: Int, outputSize: (Int, Int),
                                            residual: Tensor?, activation: ConvActivation?, inPlace: Bool, key shapeKey: String,
                                            precision: Precision, backwardPrecision: Precision) -> Tensor {
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let (oh, ow) = outputSize
        let x = channelsLast()
        let wc = weight.contiguous()
        let subsampledShape = [n, c, oh, ow]
        let subsampled = Tensor(shape: subsampledShape, strides: Tensor.channelsLastStrides(subsampledShape),
                                storage: TensorStorage(uninitializedCount: n * c * oh * ow))
        gatherStrided(x.basePointer, into: subsampled.storage.pointer, n: n, h: h, w: w, c: c, stride: stride, oh: oh, ow: ow)
        let out = pointwiseForward(subsampled, weight: wc, bias: bias, residual: residual, activation: activation,
                                   inPlace: inPlace, key: shapeKey + ",s\(stride)", precision: precision)
        let geometry = ConvGeometry(inputShape: shape, kernel: (1, 1), stride: stride, dilation: 1, groups: 1,
                                    pads: (0, 0, 0, 0), outputSize: outputSize)
        return out.recordedConvolution(input: x, residual: residual, activation: activation, weight: wc,
                                       strategy: .stridedPointwise(geometry, backwardPrecision))
    }
}

/// The output of a 1×1, stride-1 convolution of the channels-last `x` (unrecorded): oneDNN's matmul with
/// the bias, residual and activation in the same pass.
private func pointwiseForward(_ x: Tensor, weight wc: Tensor, bias: Tensor?, residual: Tensor?, activation: ConvActivation?,
                              inPlace: Bool, key shapeKey: String, precision: Precision) -> Tensor {
    let type = operandType(precision)
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let o = wc.shape[0]
    let pixels = n * h * w
    let key = shapeKey + ",\(residual != nil)," + (activation?.keyName ?? "-")
    let k = pointwiseCache.value(for: key) {
        let src = memoryDesc(dims: [pixels, c], tag: dnnl_ab, type: type)
        let dst = memoryDesc(dims: [pixels, o], tag: dnnl_ab)
        let b = bias != nil ? memoryDesc(dims: [1, o], tag: dnnl_ab) : dnnl_memory_desc_t()
        let attr = postOpsAttribute(residual: residual != nil, activation: activation)
        defer { if let attr { dnnl_primitive_attr_destroy(attr) } }
        let fwd = matmulPrimitive(src: src, weightsDims: [c, o], type: type, bias: bias != nil ? b : nil, dst: dst,
                                  attr: attr, name: "pointwise conv \(key)")
        return PointwiseKernels(forward: fwd, srcMD: src, dstMD: dst, biasMD: b,
                                forwardWeightsUserMD: memoryDesc(dims: [c, o], strides: [1, c]))
    }
    return runFusedForward(k.forward, input: x, srcMD: k.srcMD, dstMD: k.dstMD, biasMD: k.biasMD, outShape: [n, o, h, w],
                           weight: wc, weightsUserMD: k.forwardWeightsUserMD, packKey: "pointwise-fwd:" + key,
                           bias: bias, residual: residual, inPlace: inPlace, precision: precision)
}

/// Copies every `stride`-th row and column of a channels-last [n, h, w, c] buffer into a channels-last
/// [n, oh, ow, c] one: the input of a strided 1×1 convolution run as a matrix product.
private func gatherStrided(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>,
                           n: Int, h: Int, w: Int, c: Int, stride: Int, oh: Int, ow: Int) {
    splitAcrossThreads(n * oh, work: n * oh * ow * c) { rows in
        for row in rows {
            let (b, y) = row.quotientAndRemainder(dividingBy: oh)
            let from = src + (b * h + y * stride) * w * c, to = dst + row * ow * c
            for x in 0..<ow { (to + x * c).update(from: from + x * stride * c, count: c) }
        }
    }
}

/// Runs a convolution-like forward primitive (a convolution, or a 1×1 convolution's matmul) on a channels-last
/// input: packs the weights once, passes the bias, copies the residual into the output for the sum post-op, and
/// returns the channels-last fp32 output. In bf16 the input is converted first (the primitive reads bf16).
/// With `inPlace` (the caller's promise that nothing reads the residual again and nothing is recorded), a
/// channels-last residual that owns exactly its storage becomes the output buffer itself, with no copy.
private func runFusedForward(_ primitive: DNNLPrimitive, input x: Tensor, srcMD: dnnl_memory_desc_t,
                             dstMD: dnnl_memory_desc_t, biasMD: dnnl_memory_desc_t, outShape: [Int],
                             weight: Tensor, weightsUserMD: dnnl_memory_desc_t, packKey: String,
                             bias: Tensor?, residual: Tensor?, inPlace: Bool, precision: Precision) -> Tensor {
    let weightsMD = primitive.queryMD(dnnl_query_weights_md)
    let weights = PackedWeightCache.shared.operand(weight, as: weightsMD, sourceMD: weightsUserMD, key: packKey)
    let count = outShape.reduce(1, *)
    let reusable = residual.map { r in
        inPlace && r.isChannelsLast && r.offset == 0 && r.storage.count == count && r.storage !== x.storage
    } ?? false
    let out = Tensor(shape: outShape, strides: Tensor.channelsLastStrides(outShape),
                     storage: reusable ? residual!.storage : TensorStorage(uninitializedCount: count))
    let converted = precision == .bf16 ? bf16Copy(x, strides: x.strides) : nil
    var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
        (DNNL_ARG_SRC, srcMD, UnsafeMutableRawPointer(converted?.pointer ?? x.basePointer)),
        (DNNL_ARG_WEIGHTS, weightsMD, weights.pointer),
        (DNNL_ARG_DST, dstMD, UnsafeMutableRawPointer(out.storage.pointer)),
    ]
    if let bias { args.append((DNNL_ARG_BIAS, biasMD, UnsafeMutableRawPointer(bias.contiguous().basePointer))) }
    if let residual, !reusable {
        // The sum post-op accumulates onto the output buffer's contents (see postOpsAttribute).
        let shortcut = withoutGradients { residual.channelsLast() }
        let (from, to) = (shortcut.basePointer, out.storage.pointer)
        parallelChunks(out.count) { r in (to + r.lowerBound).update(from: from + r.lowerBound, count: r.count) }
    }
    withExtendedLifetime((converted, weights.owner)) { primitive.execute(args) }
    return out
}

/// The gradient before a fused activation, from the parts of the gradient after it (a channels-last
/// output's), in one pass over memory for the usual one or two parts.
private func activationGradient(_ parts: [Tensor], output: Tensor, activation: ConvActivation?) -> Tensor {
    var parts = parts.map { $0.channelsLast() }
    if parts.count > 2 { parts = [parts.dropFirst().reduce(parts[0]) { $0 + $1 }] }
    switch (activation, parts.count) {
    case (nil, 1): return parts[0]
    case (nil, _): return parts[0] + parts[1]
    case (.relu?, 1): return Tensor.zip(parts[0], output, ReluGradK.self)
    case (.relu6?, 1): return Tensor.zip(parts[0], output, Relu6GradK.self)
    case (let activation?, _):
        let (a, b) = (parts[0], parts[1])
        let out = Tensor.uninitialized(like: output)
        let (pa, pb, py, pd) = (a.basePointer, b.basePointer, output.basePointer, out.storage.pointer)
        parallelChunks(output.count) { r in
            var i = r.lowerBound
            let zero = Vec(repeating: 0), six = Vec(repeating: 6)
            while i < r.upperBound {
                let m = Swift.min(16, r.upperBound - i)
                let sum: Vec = m == 16 ? loadVec(pa + i) + loadVec(pb + i) : loadPartial(pa + i, m) + loadPartial(pb + i, m)
                let y: Vec = m == 16 ? loadVec(py + i) : loadPartial(py + i, m)
                let pass = activation == .relu ? y .> zero : (y .> zero) .& (y .< six)
                let g = vselect(pass, sum, zero)
                if m == 16 { storeVec(g, pd + i) } else { storePartial(g, pd + i, m) }
                i += m
            }
        }
        return out
    }
}

/// The gradient before a fused activation, as ``activationGradient(_:output:activation:)`` computes it, written
/// straight as the bf16 operand of a bf16 backward product (in the output's channels-last layout) in the same
/// pass, and in fp32 too when `keepFP32` (a fused residual's gradient is the same tensor). bf16's backward
/// otherwise writes the fp32 gradient and reads it again to convert it. The conversion is the one oneDNN's
/// reorder makes (``bf16Bits(_:)``), so the result is the same. Nil when a part is not laid out as the output
/// (the caller then takes the unfused path).
private func activationGradientBF16(_ parts: [Tensor], output: Tensor, activation: ConvActivation?,
                                    keepFP32: Bool) -> (fp32: Tensor?, bf16: TensorStorage)? {
    var parts = parts.map { $0.channelsLast() }
    if parts.count > 2 { parts = [parts.dropFirst().reduce(parts[0]) { $0 + $1 }] }
    let sameLayout = parts.allSatisfy { p in
        p.isDense && (0..<p.rank).allSatisfy { p.shape[$0] == 1 || p.strides[$0] == output.strides[$0] }
    }
    guard sameLayout, output.isDense else { return nil }
    let converted = TensorStorage(uninitializedCount: (output.count + 1) / 2)
    let fp32 = keepFP32 ? Tensor.uninitialized(like: output) : nil
    let pa = parts[0].basePointer, pb = parts.count > 1 ? parts[1].basePointer : nil
    let py = output.basePointer, pd = bf16Pointer(converted), pf = fp32?.storage.pointer
    parallelChunks(output.count) { r in
        // One loop per case, so that each vectorises.
        switch (activation, pb) {
        case (nil, nil): storeBF16(r, pd, fp32: pf) { pa[$0] }
        case (nil, let pb?): storeBF16(r, pd, fp32: pf) { pa[$0] + pb[$0] }
        case (.relu?, nil): storeBF16(r, pd, fp32: pf) { py[$0] > 0 ? pa[$0] : 0 }
        case (.relu?, let pb?): storeBF16(r, pd, fp32: pf) { py[$0] > 0 ? pa[$0] + pb[$0] : 0 }
        case (.relu6?, nil): storeBF16(r, pd, fp32: pf) { i in
            let y = py[i]
            return y > 0 && y < 6 ? pa[i] : 0
        }
        case (.relu6?, let pb?): storeBF16(r, pd, fp32: pf) { i in
            let y = py[i]
            return y > 0 && y < 6 ? pa[i] + pb[i] : 0
        }
        }
    }
    return (fp32, converted)
}
