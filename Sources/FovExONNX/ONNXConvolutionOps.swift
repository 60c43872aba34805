import Foundation
import FovExTensor

// Convolution and batch normalisation on NCHW tensors.

/// A 2-D convolution with constant weights, as the graph compiler plans it: batch normalisation folded in,
/// and an activation and a residual sum fused into oneDNN's pass where the graph allows. A 1-D convolution
/// (ECA's channel attention) runs as a 2-D one on a height of 1.
struct ConvolutionPlan {
    var weight: Tensor
    /// Whether the node is a 1-D convolution ([N, C, L] input), run on [N, C, 1, L].
    var isOneDimensional = false
    var bias: Tensor?
    var stride: Int
    var padding: ConvPadding
    var dilation: Int
    var groups: Int
    var activation: ConvActivation?
    /// Whether the kernel's second input is a residual added before the activation.
    var hasResidual = false

    /// Reads a Conv node's attributes; refuses what `conv2d` cannot do.
    init(_ ctx: KernelContext) throws {
        guard let w = ctx.constantFloat(1) else { throw UnsupportedUseError("weights that are not constant are not supported") }
        guard w.rank == 4 || w.rank == 3 else {
            throw UnsupportedUseError("only 1-D and 2-D convolutions are supported (weights \(w.shape))")
        }
        let node = ctx.node
        let oneDimensional = w.rank == 3
        isOneDimensional = oneDimensional
        // A 1-D convolution's attributes have one entry per side of its one axis: the height gets stride and
        // dilation equal to the width's (harmless at height 1 with a kernel height of 1) and no padding.
        func twoDimensional(_ v: [Int]?) -> [Int]? { oneDimensional ? v.map { $0.count == 1 ? [$0[0], $0[0]] : $0 } : v }
        let strides = twoDimensional(node.ints("strides")) ?? [1, 1], dilations = twoDimensional(node.ints("dilations")) ?? [1, 1]
        guard strides.count == 2, strides[0] == strides[1], dilations.count == 2, dilations[0] == dilations[1] else {
            throw UnsupportedUseError("unequal strides \(strides) or dilations \(dilations) are not supported")
        }
        if let k = node.ints("kernel_shape"), k != Array(w.shape[2...]) {
            throw UnsupportedUseError("kernel_shape \(k) disagrees with the weights \(w.shape)")
        }
        switch node.string("auto_pad") ?? "NOTSET" {
        case "NOTSET":
            var p = node.ints("pads") ?? [0, 0, 0, 0]
            if oneDimensional, p.count == 2 { p = [0, p[0], 0, p[1]] }
            guard p.count == 4 else { throw UnsupportedUseError("pads \(p)") }
            padding = .zeros(top: p[0], bottom: p[2], left: p[1], right: p[3])
        case "VALID": padding = .symmetric(0)
        case "SAME_UPPER": padding = .same
        case let other: throw UnsupportedUseError("auto_pad = \(other) is not supported")
        }
        weight = oneDimensional ? w.reshaped([w.shape[0], w.shape[1], 1, w.shape[2]]) : w
        if ctx.node.inputs.count > 2 && !ctx.node.inputs[2].isEmpty {
            guard let b = ctx.constantFloat(2) else { throw UnsupportedUseError("a bias that is not constant is not supported") }
            bias = b.reshaped([-1])
        }
        stride = strides[0]
        dilation = dilations[0]
        groups = node.int("group", default: 1)
        guard groups >= 1, w.shape[0] % groups == 0 else { throw UnsupportedUseError("group = \(groups) for weights \(w.shape)") }
    }

    /// The kernel: input 0 is the image, input 1 (with `hasResidual`) the residual.
    var kernel: ONNXKernel { kernel(consumingResidual: false) }

    /// The kernel; with `consumingResidual`, one that may write its output over the residual's storage when
    /// nothing is recorded (``Tensor/conv2d(weight:bias:stride:padding:dilation:groups:residual:activation:consumingResidual:)``),
    /// for a caller that knows no one reads the residual afterwards.
    func kernel(consumingResidual: Bool) -> ONNXKernel {
        let convolution = twoDimensionalKernel(consumingResidual: consumingResidual)
        guard isOneDimensional else { return convolution }
        // [N, C, L] (and a residual of rank 3) gain a height of 1 for the 2-D kernel, and lose it after.
        return { inputs in
            let x = try floatInput(inputs, 0, "Conv")
            guard x.rank == 3 else { throw KernelError("Conv: a 1-D convolution needs an [N, C, L] input, got \(x.shape)") }
            let outputs = try convolution([.float(x.expandingShape(at: 2))] + inputs.dropFirst().map { value in
                guard case .float(let r)? = value, r.rank == 3 else { return value }
                return .float(r.expandingShape(at: 2))
            })
            guard case .float(let y)? = outputs.first else { throw KernelError("Conv: no output") }
            return [.float(y.squeezingShape(at: [2]))]
        }
    }

    private func twoDimensionalKernel(consumingResidual: Bool) -> ONNXKernel {
        let plan = self
        return { inputs in
            let x = try floatInput(inputs, 0, "Conv")
            guard x.rank == 4, x.shape[1] == plan.weight.shape[1] * plan.groups else {
                throw KernelError("Conv: input \(x.shape) does not fit weights \(plan.weight.shape) with group \(plan.groups)")
            }
            let residual = plan.hasResidual ? try floatInput(inputs, 1, "Add") : nil
            let (h, w) = (x.shape[2], x.shape[3])
            let (kh, kw) = (plan.weight.shape[2], plan.weight.shape[3])
            let oh: Int, ow: Int
            if case let .zeros(t, b, l, r) = plan.padding {
                oh = (h + t + b - ((kh - 1) * plan.dilation + 1)) / plan.stride + 1
                ow = (w + l + r - ((kw - 1) * plan.dilation + 1)) / plan.stride + 1
            } else {
                // SAME_UPPER: ceil(input / stride).
                (oh, ow) = ((h + plan.stride - 1) / plan.stride, (w + plan.stride - 1) / plan.stride)
            }
            guard oh > 0 && ow > 0 else { throw KernelError("Conv: kernel \(kh)×\(kw) does not fit input \(x.shape)") }
            let outShape = [x.shape[0], plan.weight.shape[0], oh, ow]
            if let residual, residual.shape != outShape {
                // A broadcasting sum cannot run inside oneDNN's pass: add it after the convolution.
                guard Tensor.broadcastShape(outShape, residual.shape) != nil else {
                    throw KernelError("Add: shapes \(outShape) and \(residual.shape) do not broadcast")
                }
                let y = x.conv2d(weight: plan.weight, bias: plan.bias, stride: plan.stride, padding: plan.padding,
                                 dilation: plan.dilation, groups: plan.groups) + residual
                switch plan.activation {
                case .relu?: return [.float(y.relu())]
                case .relu6?: return [.float(y.relu6())]
                case nil: return [.float(y)]
                }
            }
            return [.float(x.conv2d(weight: plan.weight, bias: plan.bias, stride: plan.stride, padding: plan.padding,
                                    dilation: plan.dilation, groups: plan.groups, residual: residual,
                                    activation: plan.activation, consumingResidual: consumingResidual))]
        }
    }
}

extension ONNXOperators {
    static let convolutionBuilders: [String: KernelBuilder] = {
        var b: [String: KernelBuilder] = [:]
        b["Conv"] = { ctx in try ConvolutionPlan(ctx).kernel }
        b["BatchNormalization"] = { ctx in
            let epsilon = ctx.node.float("epsilon", default: 1e-5)
            // Training mode normalises with the input's own statistics. Exporters write it for weight
            // standardisation (timm's NFNets: F.batch_norm(weight, training=True) on constant weights, which
            // the loader then folds into constant weights).
            if ctx.node.int("training_mode", default: 0) == 1 {
                let momentum = ctx.node.float("momentum", default: 0.9), outputs = ctx.node.outputs.count
                return { inputs in
                    let x = try floatInput(inputs, 0, "BatchNormalization")
                    let scale = try floatInput(inputs, 1, "BatchNormalization"), bias = try floatInput(inputs, 2, "BatchNormalization")
                    guard x.rank >= 2, scale.count == x.shape[1], bias.count == x.shape[1] else {
                        throw KernelError("BatchNormalization: input \(x.shape) for \(scale.count) channels")
                    }
                    let (y, mean, variance) = normalizedByStatistics(x, axes: [0] + Array(2..<x.rank), scale: scale,
                                                                     bias: bias, epsilon: epsilon)
                    guard outputs > 1 else { return [.float(y)] }
                    // The running statistics: the given ones moved towards the batch's by (1 − momentum).
                    let runningMean = try floatInput(inputs, 3, "BatchNormalization") * momentum + mean.reshaped([-1]) * (1 - momentum)
                    let runningVariance = try floatInput(inputs, 4, "BatchNormalization") * momentum
                        + variance.reshaped([-1]) * (1 - momentum)
                    return Array([ONNXValue.float(y), .float(runningMean), .float(runningVariance)].prefix(outputs))
                }
            }
            try ctx.require("training_mode", in: [0], default: 0)
            // Opsets 7 and 8: spatial = 0 normalises each activation with statistics of its own ([C, H, W]).
            if ctx.opset < 9 { try ctx.require("spatial", in: [1], default: 1) }
            if ctx.node.outputs.dropFirst().contains(where: { !$0.isEmpty }) {
                throw UnsupportedUseError("running-statistics outputs (training) are not supported")
            }
            guard let scale = ctx.constantFloat(1), let offset = ctx.constantFloat(2), let mean = ctx.constantFloat(3),
                  let variance = ctx.constantFloat(4) else {
                throw UnsupportedUseError("scale, bias, mean and variance must be constant")
            }
            return { inputs in
                let x = try floatInput(inputs, 0, "BatchNormalization")
                guard x.rank >= 2, x.shape[1] == mean.count else {
                    throw KernelError("BatchNormalization: input \(x.shape) for \(mean.count) channels")
                }
                return [.float(x.batchNorm(mean: mean, variance: variance, scale: scale, offset: offset, epsilon: epsilon))]
            }
        }
        // Each (sample, channel) normalised over its spatial axes; PyTorch exports GroupNorm as this on an
        // [N, groups, −1] reshape (timm's PoolFormer, ConvNeXt variants with GroupNorm).
        b["InstanceNormalization"] = { ctx in
            let epsilon = ctx.node.float("epsilon", default: 1e-5)
            return { inputs in
                let x = try floatInput(inputs, 0, "InstanceNormalization")
                let scale = try floatInput(inputs, 1, "InstanceNormalization"), bias = try floatInput(inputs, 2, "InstanceNormalization")
                guard x.rank >= 3, scale.count == x.shape[1], bias.count == x.shape[1] else {
                    throw KernelError("InstanceNormalization: input \(x.shape) for \(scale.count) channels")
                }
                return [.float(normalizedByStatistics(x, axes: Array(2..<x.rank), scale: scale, bias: bias, epsilon: epsilon).y)]
            }
        }
        // Local response normalisation across channels (AlexNet, GoogLeNet and the ONNX Model Zoo's other Caffe
        // conversions): y = x / (bias + alpha / size · Σ x²)^beta, the sum over channels
        // c − floor((size − 1) / 2) … c + ceil((size − 1) / 2) that exist. PyTorch's LocalResponseNorm centres an
        // even window one channel later; exporters write it as other ops, not as LRN.
        b["LRN"] = { ctx in
            let size = ctx.node.int("size", default: 0)
            guard size > 0 else { throw UnsupportedUseError("size = \(size) must be positive") }
            let alpha = ctx.node.float("alpha", default: 1e-4), beta = ctx.node.float("beta", default: 0.75)
            let bias = ctx.node.float("bias", default: 1)
            return { inputs in
                let x = try floatInput(inputs, 0, "LRN")
                guard x.rank >= 3 else { throw KernelError("LRN needs an [N, C, …] input, got \(x.shape)") }
                let channels = x.shape[1]
                var pads = [(before: Int, after: Int)](repeating: (0, 0), count: x.rank)
                pads[1] = ((size - 1) / 2, size / 2)
                let squares = (x * x).padded(pads)
                // The window's sum as `size` shifted slices: exact, where a difference of running sums would not be.
                var window = squares.sliced(axis: 1, 0..<channels)
                for k in 1..<size { window = window + squares.sliced(axis: 1, k..<(k + channels)) }
                return [.float(x * (window * (alpha / Float(size)) + bias).pow(-beta))]
            }
        }
        // Each sample's channels split into `num_groups` groups, each normalised over its channels and spatial
        // axes; then a scale and bias per group (opset 18) or per channel (opset 21, as PyTorch's GroupNorm).
        b["GroupNormalization"] = { ctx in
            let epsilon = ctx.node.float("epsilon", default: 1e-5)
            let groups = ctx.node.int("num_groups", default: 0)
            guard groups > 0 else { throw UnsupportedUseError("num_groups = \(groups) must be positive") }
            let perChannel = ctx.opset >= 21
            return { inputs in
                let x = try floatInput(inputs, 0, "GroupNormalization")
                let scale = try floatInput(inputs, 1, "GroupNormalization"), bias = try floatInput(inputs, 2, "GroupNormalization")
                guard x.rank >= 3, x.shape[1] % groups == 0 else {
                    throw KernelError("GroupNormalization: input \(x.shape) does not split into \(groups) groups of channels")
                }
                let (n, c) = (x.shape[0], x.shape[1])
                let expected = perChannel ? c : groups
                guard scale.count == expected, bias.count == expected else {
                    throw KernelError("GroupNormalization: scale \(scale.shape) and bias \(bias.shape) for \(expected) "
                        + (perChannel ? "channels" : "groups"))
                }
                // Grouped as [N, groups, rest]: opset 18's per-group values apply on that axis 1.
                let grouped = x.reshaped([n, groups, x.count / (n * groups)])
                guard perChannel else {
                    return [.float(normalizedByStatistics(grouped, axes: [2], scale: scale, bias: bias, epsilon: epsilon).y.reshaped(x.shape))]
                }
                let normalized = normalizedByStatistics(grouped, axes: [2], scale: nil, bias: nil, epsilon: epsilon).y.reshaped(x.shape)
                var channel = [Int](repeating: 1, count: x.rank)
                channel[1] = c
                return [.float(normalized * scale.reshaped(channel) + bias.reshaped(channel))]
            }
        }
        return b
    }()
}

/// (x − mean) / √(variance + ε) with the mean and population variance of x over `axes`, then scale and bias
/// per channel (axis 1) when given. Differentiable; also returns the statistics (kept dimensions).
private func normalizedByStatistics(_ x: Tensor, axes: [Int], scale: Tensor?, bias: Tensor?,
                                    epsilon: Float) -> (y: Tensor, mean: Tensor, variance: Tensor) {
    let mean = x.mean(alongAxes: axes, keepingDimensions: true)
    let centred = x - mean
    let variance = centred.pow(2).mean(alongAxes: axes, keepingDimensions: true)
    var channel = [Int](repeating: 1, count: x.rank)
    channel[1] = x.shape[1]
    var y = centred / (variance + epsilon).sqrt()
    if let scale { y = y * scale.reshaped(channel) }
    if let bias { y = y + bias.reshaped(channel) }
    return (y, mean, variance)
}
