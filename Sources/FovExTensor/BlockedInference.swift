import CDNNL
import Foundation

// A forward-only run of a convolutional network's body in oneDNN's own activation layout.
//
// The differentiable convolutions keep their activations channels-last, a layout every other op of the library
// reads. oneDNN's fastest kernels on CPUs without AVX-512 work on blocked layouts instead (nChw8c: eight channels
// innermost): in a C harness on an AVX2 Zen 3, ResNet-50's 53 convolutions ran 7–15 % faster blocked than
// channels-last (docs/design/onnx-speed.md). A pass that records nothing for differentiation (classification,
// RISE's thousands of masked images, deletion and insertion curves) can keep a chain of convolutions, poolings and
// the element-wise work between them in that layout from its first layer to its last, reordering only where the
// chain starts and ends.

/// One layer of a ``BlockedConvolutionChain``. Layers name the values they read by index: the chain's inputs
/// come first (0, 1, …), then each layer's output in order.
public enum BlockedLayer: Sendable {
    /// A 2-D convolution with constant weights, as ``Tensor/conv2d(weight:bias:stride:padding:dilation:groups:residual:activation:consumingResidual:)``.
    case convolution(BlockedConvolution)
    /// Maximum or average pooling over a window.
    case pooling(BlockedPooling)
    /// The mean over each channel's whole plane, [N, C, H, W] → [N, C, 1, 1].
    case globalAveragePooling(input: Int)
    /// Element-wise functions applied in turn (a sigmoid; hard-sigmoid as a linear map then a clip).
    case elementwise(input: Int, [BlockedElementwise])
    /// A sum or product of two values, the second either of the first's shape or [N, C, 1, 1] (a per-channel scale).
    case binary(BlockedBinary, Int, Int)
    /// The values joined along the channel axis.
    case concatenation([Int])
}

/// An element-wise function of a ``BlockedConvolutionChain``.
public enum BlockedElementwise: Sendable, Equatable {
    case relu
    /// 1 / (1 + e^−x).
    case sigmoid
    /// x · σ(x) (SiLU).
    case swish
    /// x · min(max(x + 3, 0), 6) / 6.
    case hardSwish
    /// α·x + β.
    case linear(alpha: Float, beta: Float)
    /// min(max(x, lower), upper).
    case clip(lower: Float, upper: Float)

    /// oneDNN's algorithm and its α and β.
    var algorithm: (dnnl_alg_kind_t, Float, Float) {
        switch self {
        case .relu: return (dnnl_eltwise_relu, 0, 0)
        case .sigmoid: return (dnnl_eltwise_logistic, 0, 0)
        case .swish: return (dnnl_eltwise_swish, 1, 0)
        case .hardSwish: return (dnnl_eltwise_hardswish, 0, 0)
        case let .linear(alpha, beta): return (dnnl_eltwise_linear, alpha, beta)
        case let .clip(lower, upper): return (dnnl_eltwise_clip_v2, lower, upper)
        }
    }
}

/// A binary operation of a ``BlockedConvolutionChain``.
public enum BlockedBinary: Sendable {
    case add, multiply
}

/// A convolution layer of a ``BlockedConvolutionChain``.
public struct BlockedConvolution: Sendable {
    /// The value convolved.
    public var input: Int
    /// [O, C / groups, kH, kW] filters.
    public var weight: Tensor
    /// [O], or nil.
    public var bias: Tensor?
    public var stride: Int
    /// Zero padding or TensorFlow's "same" (reflect padding is not offered).
    public var padding: ConvPadding
    public var dilation: Int
    public var groups: Int
    /// A value shaped like the output, added before the activation.
    public var residual: Int?
    public var activation: ConvActivation?

    public init(input: Int, weight: Tensor, bias: Tensor?, stride: Int, padding: ConvPadding, dilation: Int,
                groups: Int, residual: Int?, activation: ConvActivation?) {
        (self.input, self.weight, self.bias, self.stride, self.padding) = (input, weight, bias, stride, padding)
        (self.dilation, self.groups, self.residual, self.activation) = (dilation, groups, residual, activation)
    }
}

/// A pooling layer of a ``BlockedConvolutionChain``.
public struct BlockedPooling: Sendable {
    public enum Kind: Sendable {
        /// The window's maximum; padding never wins.
        case maximum
        /// The mean of the window's cells inside the input (`countIncludePad == false`) or inside the input and its
        /// padding.
        case average(countIncludePad: Bool)
    }

    public var input: Int
    public var kind: Kind
    /// Height and width.
    public var kernel: (Int, Int)
    public var stride: (Int, Int)
    /// The (top, bottom, left, right) padding for an input's height and width, after which the output size is the
    /// floor rule's; nil when the window cannot run this way on that size (the chain then declines the shape).
    public var padding: @Sendable (_ height: Int, _ width: Int) -> (Int, Int, Int, Int)?

    public init(input: Int, kind: Kind, kernel: (Int, Int), stride: (Int, Int),
                padding: @escaping @Sendable (_ height: Int, _ width: Int) -> (Int, Int, Int, Int)?) {
        (self.input, self.kind, self.kernel, self.stride, self.padding) = (input, kind, kernel, stride, padding)
    }
}

/// A chain of convolutions, poolings, element-wise functions, sums, products and concatenations run forward only,
/// its activations in the layouts oneDNN's kernels prefer.
///
/// Each layer's primitive is created with its output layout left to oneDNN; the next layer reads that layout as
/// it is, and a reorder is inserted only where a layer would want another one (the chain's inputs, usually). The
/// outputs come back channels-last. A residual that nothing reads afterwards is accumulated onto in place.
/// Plans are made per input shape and kept. Nothing is recorded for differentiation: callers use the chain only
/// where no gradient is wanted, and run their differentiable ops otherwise.
public final class BlockedConvolutionChain: @unchecked Sendable {
    public let layers: [BlockedLayer]
    public let inputCount: Int
    /// The values returned, by index.
    public let outputs: [Int]
    private var plans: [String: Plan?] = [:]
    private let lock = NSLock()

    /// Whether callers use chains unless told otherwise: yes, unless the environment sets `FOVEX_BLOCKED_CHAINS=0`
    /// (to time or check the differentiable ops alone).
    public static let isEnabledByDefault = ProcessInfo.processInfo.environment["FOVEX_BLOCKED_CHAINS"] != "0"

    /// - Precondition: every layer reads only the inputs and earlier layers' outputs.
    public init(layers: [BlockedLayer], inputCount: Int, outputs: [Int]) {
        for (k, layer) in layers.enumerated() {
            for v in layer.reads { precondition(v >= 0 && v < inputCount + k, "layer \(k) reads value \(v), not yet computed") }
        }
        precondition(outputs.allSatisfy { $0 >= 0 && $0 < inputCount + layers.count }, "outputs \(outputs) out of range")
        (self.layers, self.inputCount, self.outputs) = (layers, inputCount, outputs)
    }

    /// The outputs for `inputs` (NCHW tensors in any strided layout), channels-last; nil when a layer cannot run
    /// on these shapes in the chain (a shape mismatch, a pooling window that declines the size), which the caller
    /// answers by running its own ops.
    public func callAsFunction(_ inputs: [Tensor]) -> [Tensor]? {
        precondition(inputs.count == inputCount, "\(inputs.count) inputs for a chain of \(inputCount)")
        guard inputs.allSatisfy({ $0.rank == 4 }) else { return nil }
        let entries = inputs.map { $0.isContiguous || $0.isChannelsLast ? $0 : $0.channelsLast() }
        let key = entries.map { cacheKey($0.shape) + ($0.isContiguous ? "c" : "l") }.joined()
        lock.lock()
        let known = plans[key]
        lock.unlock()
        let plan: Plan?
        if let known { plan = known } else {
            plan = Plan(chain: self, entries: entries)
            lock.lock()
            plans[key] = plan
            lock.unlock()
        }
        return plan?.run(entries)
    }

    /// Whether a chain may stand in for a caller's differentiable ops on `inputs`: the pass computes in fp32 (chains
    /// have no bf16 kernels) and records nothing through them (gradient mode off, or none of them tracked).
    public static func mayRun(on inputs: [Tensor]) -> Bool {
        Precision.current != .bf16 && !(GradientMode.isEnabled && inputs.contains { $0.requiresGradient })
    }

    /// How many input shapes the chain has planned and runs (the shapes it declined not counted).
    public var runnableShapeCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return plans.values.filter { $0 != nil }.count
    }
}

extension BlockedLayer {
    /// The values the layer reads.
    var reads: [Int] {
        switch self {
        case .convolution(let c): return [c.input] + (c.residual.map { [$0] } ?? [])
        case .pooling(let p): return [p.input]
        case .globalAveragePooling(let v): return [v]
        case .elementwise(let v, _): return [v]
        case let .binary(_, a, b): return [a, b]
        case .concatenation(let vs): return vs
        }
    }
}

/// A chain's primitives and buffers' layouts for one set of input shapes.
private final class Plan {
    enum Step {
        /// Copies value `from` into value `to`, converting its layout.
        case reorder(from: Int, to: Int, DNNLPrimitive)
        /// Runs a convolution of `input` into `output`; with `residual`, the output buffer starts as the residual's
        /// contents (its own buffer when `inPlace`).
        case convolution(input: Int, output: Int, residual: Int?, inPlace: Bool, DNNLPrimitive,
                         weights: (pointer: UnsafeMutableRawPointer, owner: TensorStorage), bias: Tensor?)
        case pooling(input: Int, output: Int, DNNLPrimitive)
        /// Runs a 3×3 convolution of `input` by Winograd's algorithm into `output`, adding `residual`'s values (in
        /// place, into the residual's own buffer, when `inPlace`).
        case winograd(input: Int, output: Int, residual: Int?, inPlace: Bool, WinogradConvolution)
        /// Runs a primitive on `inputs` (in its argument order) into `output`: an element-wise function, a binary
        /// operation, a concatenation.
        case primitive(inputs: [Int32: Int], output: Int, DNNLPrimitive)
    }

    /// Every value's layout and NCHW shape: the chain's inputs, its layers' outputs, then reordered copies.
    var layouts: [dnnl_memory_desc_t] = []
    var shapes: [[Int]] = []
    var steps: [Step] = []
    /// For each chain value, the value holding it (a layer's output, or the input reordered for its first reader).
    var outputValues: [Int] = []
    /// After which step each value's buffer may be released (`Int.max`: never, for inputs and outputs).
    var lastUse: [Int] = []
    /// The values released after each step.
    var releases: [[Int]] = []
    /// The chain values returned.
    var outputs: [Int] = []

    init?(chain: BlockedConvolutionChain, entries: [Tensor]) {
        for t in entries {
            layouts.append(memoryDesc(dims: t.shape, tag: t.isContiguous ? dnnl_nchw : dnnl_nhwc))
            shapes.append(t.shape)
        }
        // The value each chain value currently lives in, per layout (a reordered input is reused by later readers).
        var copies: [[Int]] = (0..<entries.count).map { [$0] }
        func value(_ v: Int, as md: dnnl_memory_desc_t) -> Int {
            if let found = copies[v].first(where: { mdEqual(layouts[$0], md) }) { return found }
            let copy = layouts.count
            layouts.append(md)
            shapes.append(shapes[copies[v][0]])
            steps.append(.reorder(from: copies[v][0], to: copy, reorderPrimitive(layouts[copies[v][0]], md)))
            copies[v].append(copy)
            return copy
        }
        // Pooling reads its input's layout as it is (oneDNN has no layout choice for it); on a plain NCHW input (a
        // concatenation's output entering the chain) only its slow generic kernel runs, so it reads a blocked copy.
        func pool(_ v: Int, _ kind: BlockedPooling.Kind, kernel: (Int, Int), stride: (Int, Int), pads: (Int, Int, Int, Int)) -> Bool {
            let shape = shapes[copies[v][0]]
            var src = copies[v].last!
            guard var made = Plan.pooling(kind, kernel: kernel, stride: stride, pads: pads, src: layouts[src], shape: shape) else {
                return false
            }
            if !made.primitive.implementation.hasPrefix("jit") {
                let blocked = memoryDesc(dims: shape, tag: blockedActivationTag)
                if let retry = Plan.pooling(kind, kernel: kernel, stride: stride, pads: pads, src: blocked, shape: shape),
                   retry.primitive.implementation.hasPrefix("jit") {
                    (src, made) = (value(v, as: blocked), retry)
                }
            }
            layouts.append(made.primitive.queryMD(dnnl_query_dst_md))
            shapes.append(made.outShape)
            steps.append(.pooling(input: src, output: layouts.count - 1, made.primitive))
            return true
        }
        for layer in chain.layers {
            // The layer's output is the value appended last (after any reorder its inputs needed).
            switch layer {
            case .convolution(let c) where WinogradConvolution.isEnabled
                && WinogradConvolution.applies(to: c, input: shapes[copies[c.input][0]], blockChannels: blockedActivationChannels):
                var outShape = shapes[copies[c.input][0]]
                outShape[1] = c.weight.shape[0]
                if let r = c.residual, shapes[copies[r][0]] != outShape { return nil }
                let blocked = memoryDesc(dims: outShape, tag: blockedActivationTag)
                let src = value(c.input, as: memoryDesc(dims: shapes[copies[c.input][0]], tag: blockedActivationTag))
                let residual = c.residual.map { value($0, as: blocked) }
                layouts.append(blocked)
                shapes.append(outShape)
                steps.append(.winograd(input: src, output: layouts.count - 1, residual: residual, inPlace: false,
                                       WinogradConvolution(weight: c.weight, bias: c.bias, activation: c.activation)))
            case .convolution(let c):
                guard let made = Plan.convolution(c, input: shapes[copies[c.input][0]],
                                                   residual: c.residual.map { shapes[copies[$0][0]] }) else { return nil }
                let (primitive, outShape) = made
                let src = value(c.input, as: primitive.queryMD(dnnl_query_src_md))
                let dstMD = primitive.queryMD(dnnl_query_dst_md)
                let residual = c.residual.map { value($0, as: dstMD) }
                let weightsMD = primitive.queryMD(dnnl_query_weights_md)
                let wc = c.weight.contiguous()
                let userMD = memoryDesc(dims: Plan.weightDims(c), tag: c.groups > 1 ? dnnl_goihw : dnnl_oihw)
                let weights = PackedWeightCache.shared.operand(wc, as: weightsMD, sourceMD: userMD,
                                                               key: "blocked-conv:" + layoutKey(weightsMD))
                layouts.append(dstMD)
                shapes.append(outShape)
                steps.append(.convolution(input: src, output: layouts.count - 1, residual: residual, inPlace: false, primitive,
                                          weights: weights, bias: c.bias?.contiguous()))
            case .pooling(let p):
                let inShape = shapes[copies[p.input][0]]
                guard let pads = p.padding(inShape[2], inShape[3]),
                      pool(p.input, p.kind, kernel: p.kernel, stride: p.stride, pads: pads) else { return nil }
            case .globalAveragePooling(let v):
                let inShape = shapes[copies[v][0]]
                guard pool(v, .average(countIncludePad: false), kernel: (inShape[2], inShape[3]), stride: (1, 1),
                           pads: (0, 0, 0, 0)) else { return nil }
            case let .elementwise(v, functions):
                // In the input's layout: oneDNN's element-wise kernels take any. One primitive per function: with
                // element-wise post-ops oneDNN 2.6 runs only its reference kernel.
                var src = copies[v].last!
                for function in functions {
                    layouts.append(layouts[src])
                    shapes.append(shapes[src])
                    steps.append(.primitive(inputs: [DNNL_ARG_SRC: src], output: layouts.count - 1,
                                            Plan.elementwise(function, layout: layouts[src])))
                    src = layouts.count - 1
                }
            case let .binary(operation, a, b):
                // The full-shape operand first; the other of its shape, or one value per image and channel.
                // (Both operations commute.)
                let (full, other) = shapes[copies[a][0]][2...] == [1, 1] && shapes[copies[b][0]][2...] != [1, 1] ? (b, a) : (a, b)
                let shape = shapes[copies[full][0]], otherShape = shapes[copies[other][0]]
                guard otherShape == shape || otherShape == [shape[0], shape[1], 1, 1] else { return nil }
                let src0 = copies[full].last!
                // A same-shape operand is read in the first's layout; a per-channel one as it is, or plain where
                // oneDNN would broadcast it only in its reference kernel.
                var src1 = otherShape == shape ? value(other, as: layouts[src0]) : copies[other].last!
                var made = Plan.binary(operation, layouts[src0], layouts[src1])
                if made == nil, otherShape != shape {
                    let plain = memoryDesc(dims: otherShape, tag: dnnl_nchw)
                    made = Plan.binary(operation, layouts[src0], plain)
                    if made != nil { src1 = value(other, as: plain) }
                }
                guard let primitive = made else { return nil }
                layouts.append(layouts[src0])
                shapes.append(shape)
                steps.append(.primitive(inputs: [DNNL_ARG_SRC_0: src0, DNNL_ARG_SRC_1: src1], output: layouts.count - 1, primitive))
            case .concatenation(let vs):
                let partShapes = vs.map { shapes[copies[$0][0]] }
                guard partShapes.allSatisfy({ $0[0] == partShapes[0][0] && $0[2...] == partShapes[0][2...] }) else { return nil }
                // oneDNN joins parts of one layout by copies, and parts of mixed layouts (a chain input channels-last,
                // the rest blocked) only in its reference kernel: every part in the blocked layout, or channels-last
                // where a part's channels do not fill whole blocks.
                let blocked = partShapes.allSatisfy { $0[1] % blockedActivationChannels == 0 }
                let parts = vs.map { v in value(v, as: memoryDesc(dims: shapes[copies[v][0]], tag: blocked ? blockedActivationTag : dnnl_nhwc)) }
                var outShape = partShapes[0]
                outShape[1] = partShapes.reduce(0) { $0 + $1[1] }
                let primitive = Plan.concatenation(parts.map { layouts[$0] }, shape: outShape)
                layouts.append(primitive.queryMD(dnnl_query_dst_md))
                shapes.append(outShape)
                var inputs: [Int32: Int] = [:]
                for (i, part) in parts.enumerated() { inputs[DNNL_ARG_MULTIPLE_SRC + Int32(i)] = part }
                steps.append(.primitive(inputs: inputs, output: layouts.count - 1, primitive))
            }
            copies.append([layouts.count - 1])
        }
        outputValues = copies.map { $0[0] }
        // Buffers live until their last reader; inputs belong to the caller and outputs are returned.
        lastUse = Array(repeating: -1, count: layouts.count)
        for (k, step) in steps.enumerated() {
            switch step {
            case .reorder(let from, _, _): lastUse[from] = k
            case .convolution(let input, _, let residual, _, _, _, _):
                lastUse[input] = k
                if let residual { lastUse[residual] = k }
            case .winograd(let input, _, let residual, _, _):
                lastUse[input] = k
                if let residual { lastUse[residual] = k }
            case .pooling(let input, _, _): lastUse[input] = k
            case .primitive(let inputs, _, _): for v in inputs.values { lastUse[v] = k }
            }
        }
        for v in 0..<entries.count { lastUse[v] = .max }
        for v in chain.outputs { lastUse[outputValues[v]] = .max }
        // A residual whose last reader is its convolution is accumulated onto where it lies.
        for (k, step) in steps.enumerated() {
            if case let .convolution(input, output, residual?, _, primitive, weights, bias) = step, lastUse[residual] == k,
               residual != input {
                steps[k] = .convolution(input: input, output: output, residual: residual, inPlace: true, primitive,
                                        weights: weights, bias: bias)
            }
            if case let .winograd(input, output, residual?, _, convolution) = step, lastUse[residual] == k, residual != input {
                steps[k] = .winograd(input: input, output: output, residual: residual, inPlace: true, convolution)
            }
        }
        releases = Array(repeating: [], count: steps.count)
        for (v, k) in lastUse.enumerated() where k >= 0 && k < steps.count { releases[k].append(v) }
        self.outputs = chain.outputs
    }

    func run(_ entries: [Tensor]) -> [Tensor] {
        var buffers = [TensorStorage?](repeating: nil, count: layouts.count)
        var offsets = [Int](repeating: 0, count: layouts.count)
        for (v, t) in entries.enumerated() { (buffers[v], offsets[v]) = (t.storage, t.offset) }
        func pointer(_ v: Int) -> UnsafeMutableRawPointer { UnsafeMutableRawPointer(buffers[v]!.pointer + offsets[v]) }
        func fresh(_ v: Int) -> TensorStorage {
            let s = TensorStorage(uninitializedCount: (mdSize(layouts[v]) + 3) / 4)
            buffers[v] = s
            return s
        }
        for (k, step) in steps.enumerated() {
            switch step {
            case let .reorder(from, to, primitive):
                let dst = fresh(to)
                primitive.execute([(DNNL_ARG_FROM, layouts[from], pointer(from)),
                                   (DNNL_ARG_TO, layouts[to], UnsafeMutableRawPointer(dst.pointer))])
            case let .convolution(input, output, residual, inPlace, primitive, weights, bias):
                if let residual, inPlace {
                    (buffers[output], offsets[output]) = (buffers[residual], offsets[residual])
                    buffers[residual] = nil
                } else {
                    let dst = fresh(output)
                    if let residual {
                        // The sum post-op accumulates onto the output buffer's contents.
                        let bytes = mdSize(layouts[output])
                        UnsafeMutableRawPointer(dst.pointer).copyMemory(from: pointer(residual), byteCount: bytes)
                    }
                }
                var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
                    (DNNL_ARG_SRC, layouts[input], pointer(input)),
                    (DNNL_ARG_WEIGHTS, primitive.queryMD(dnnl_query_weights_md), weights.pointer),
                    (DNNL_ARG_DST, layouts[output], pointer(output)),
                ]
                if let bias { args.append((DNNL_ARG_BIAS, memoryDesc(dims: [bias.count], tag: dnnl_a), UnsafeMutableRawPointer(bias.basePointer))) }
                withExtendedLifetime(weights.owner) { primitive.execute(args) }
            case let .winograd(input, output, residual, inPlace, convolution):
                if let residual, inPlace {
                    (buffers[output], offsets[output]) = (buffers[residual], offsets[residual])
                    buffers[residual] = nil
                } else {
                    _ = fresh(output)
                }
                let shape = shapes[output]
                let added: UnsafePointer<Float>?
                if let residual {
                    added = UnsafePointer(pointer(inPlace ? output : residual).assumingMemoryBound(to: Float.self))
                } else {
                    added = nil
                }
                convolution.run(input: pointer(input).assumingMemoryBound(to: Float.self),
                                output: pointer(output).assumingMemoryBound(to: Float.self), residual: added,
                                batch: shape[0], height: shape[2], width: shape[3], inputBlock: blockedActivationChannels,
                                outputBlock: blockedActivationChannels)
            case let .pooling(input, output, primitive):
                let dst = fresh(output)
                primitive.execute([(DNNL_ARG_SRC, layouts[input], pointer(input)),
                                   (DNNL_ARG_DST, layouts[output], UnsafeMutableRawPointer(dst.pointer))])
            case let .primitive(inputs, output, primitive):
                let dst = fresh(output)
                primitive.execute(inputs.sorted { $0.key < $1.key }.map { ($0.key, layouts[$0.value], pointer($0.value)) }
                                  + [(DNNL_ARG_DST, layouts[output], UnsafeMutableRawPointer(dst.pointer))])
            }
            for v in releases[k] { buffers[v] = nil }
        }
        return outputs.map { chainValue in
            let v = outputValues[chainValue]
            let shape = shapes[v]
            let nhwc = memoryDesc(dims: shape, tag: dnnl_nhwc)
            let strides = Tensor.channelsLastStrides(shape)
            if mdEqual(layouts[v], nhwc) { return Tensor(shape: shape, strides: strides, offset: offsets[v], storage: buffers[v]!) }
            let out = TensorStorage(uninitializedCount: shape.reduce(1, *))
            reorder(pointer(v), layouts[v], UnsafeMutableRawPointer(out.pointer), nhwc,
                    key: "blocked-output:" + layoutKey(layouts[v]))
            return Tensor(shape: shape, strides: strides, storage: out)
        }
    }

    static func weightDims(_ c: BlockedConvolution) -> [Int] {
        let (o, ipg, kh, kw) = (c.weight.shape[0], c.weight.shape[1], c.weight.shape[2], c.weight.shape[3])
        return c.groups > 1 ? [c.groups, o / c.groups, ipg, kh, kw] : [o, ipg, kh, kw]
    }

    /// The inference convolution with every layout left to oneDNN (the residual's sum post-op reads the output's),
    /// and its NCHW output shape; nil when the shapes do not fit.
    static func convolution(_ c: BlockedConvolution, input shape: [Int], residual: [Int]?) -> (DNNLPrimitive, [Int])? {
        if case .reflect = c.padding { return nil }
        let (n, ch, h, w) = (shape[0], shape[1], shape[2], shape[3])
        guard c.weight.rank == 4, ch == c.weight.shape[1] * c.groups, c.weight.shape[0] % c.groups == 0 else { return nil }
        let (o, kh, kw) = (c.weight.shape[0], c.weight.shape[2], c.weight.shape[3])
        let (pt, pb, pl, pr) = c.padding.zeroPads(height: h, width: w, kernel: (kh, kw), stride: c.stride, dilation: c.dilation)
        let oh = (h + pt + pb - ((kh - 1) * c.dilation + 1)) / c.stride + 1
        let ow = (w + pl + pr - ((kw - 1) * c.dilation + 1)) / c.stride + 1
        let outShape = [n, o, oh, ow]
        guard oh > 0, ow > 0, residual == nil || residual == outShape else { return nil }
        // oneDNN's reference kernel is the fallback for layouts its fast kernels do not take; with the layouts
        // left to it, that happens only where no fast kernel exists in any layout. The channels-last primitive is
        // then the one the differentiable path would run.
        for tag in [dnnl_format_tag_any, dnnl_nhwc] {
            var src = memoryDesc(dims: shape, tag: tag)
            var dst = memoryDesc(dims: outShape, tag: tag)
            var wa = memoryDesc(dims: weightDims(c), tag: dnnl_format_tag_any)
            var b = memoryDesc(dims: [o], tag: dnnl_a)
            var strides = [Int64(c.stride), Int64(c.stride)], dil = [Int64(c.dilation - 1), Int64(c.dilation - 1)]
            var padL = [Int64(pt), Int64(pl)], padR = [Int64(pb), Int64(pr)]
            var desc = dnnl_convolution_desc_t()
            let hasBias = c.bias != nil
            dnnlCheck(withUnsafePointer(to: &b) { bp in
                dnnl_dilated_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct, &src, &wa,
                                                           hasBias ? bp : nil, &dst, &strides, &dil, &padL, &padR)
            }, "blocked conv desc")
            let attr = postOpsAttribute(residual: residual != nil, activation: c.activation)
            defer { if let attr { dnnl_primitive_attr_destroy(attr) } }
            let primitive = withUnsafePointer(to: &desc) { DNNLPrimitive(opDesc: UnsafeRawPointer($0), attr: attr) }
            if tag == dnnl_nhwc || !primitive.implementation.hasPrefix("ref") { return (primitive, outShape) }
        }
        return nil
    }

    /// A pooling primitive reading `src` as it is laid out, its output layout left to oneDNN.
    static func pooling(_ kind: BlockedPooling.Kind, kernel: (Int, Int), stride: (Int, Int), pads: (Int, Int, Int, Int),
                        src srcMD: dnnl_memory_desc_t, shape: [Int]) -> (primitive: DNNLPrimitive, outShape: [Int])? {
        let (pt, pb, pl, pr) = pads
        let oh = (shape[2] + pt + pb - kernel.0) / stride.0 + 1, ow = (shape[3] + pl + pr - kernel.1) / stride.1 + 1
        guard oh > 0, ow > 0, [pt, pb].allSatisfy({ $0 < kernel.0 }), [pl, pr].allSatisfy({ $0 < kernel.1 }) else { return nil }
        let outShape = [shape[0], shape[1], oh, ow]
        var src = srcMD, dst = memoryDesc(dims: outShape, tag: dnnl_format_tag_any)
        var strides = [Int64(stride.0), Int64(stride.1)], k = [Int64(kernel.0), Int64(kernel.1)], dil: [Int64] = [0, 0]
        var padL = [Int64(pt), Int64(pl)], padR = [Int64(pb), Int64(pr)]
        let algorithm: dnnl_alg_kind_t
        switch kind {
        case .maximum: algorithm = dnnl_pooling_max
        case .average(let include): algorithm = include ? dnnl_pooling_avg_include_padding : dnnl_pooling_avg_exclude_padding
        }
        var desc = dnnl_pooling_v2_desc_t()
        dnnlCheck(dnnl_pooling_v2_forward_desc_init(&desc, dnnl_forward_inference, algorithm, &src, &dst, &strides, &k, &dil,
                                                    &padL, &padR), "blocked pooling desc")
        return (withUnsafePointer(to: &desc) { DNNLPrimitive(opDesc: UnsafeRawPointer($0)) }, outShape)
    }
}

extension Plan {
    /// `function` on values laid out as `layout`, in the same layout.
    static func elementwise(_ function: BlockedElementwise, layout: dnnl_memory_desc_t) -> DNNLPrimitive {
        var md = layout
        let (algorithm, alpha, beta) = function.algorithm
        var desc = dnnl_eltwise_desc_t()
        dnnlCheck(dnnl_eltwise_forward_desc_init(&desc, dnnl_forward_inference, algorithm, &md, alpha, beta),
                  "blocked element-wise desc")
        return withUnsafePointer(to: &desc) { DNNLPrimitive(opDesc: UnsafeRawPointer($0)) }
    }

    /// `operation` of a full-shape operand laid out as `first` and an operand laid out as `second`, into the first's
    /// layout; nil when oneDNN has only its reference kernel for the pair.
    static func binary(_ operation: BlockedBinary, _ first: dnnl_memory_desc_t, _ second: dnnl_memory_desc_t) -> DNNLPrimitive? {
        var (a, b, d) = (first, second, first)
        var desc = dnnl_binary_desc_t()
        dnnlCheck(dnnl_binary_desc_init(&desc, operation == .add ? dnnl_binary_add : dnnl_binary_mul, &a, &b, &d),
                  "blocked binary desc")
        let primitive = withUnsafePointer(to: &desc) { DNNLPrimitive(opDesc: UnsafeRawPointer($0)) }
        return primitive.implementation.hasPrefix("ref") ? nil : primitive
    }

    /// The concatenation along channels of parts laid out as `parts`, its output layout left to oneDNN.
    static func concatenation(_ parts: [dnnl_memory_desc_t], shape: [Int]) -> DNNLPrimitive {
        var dst = memoryDesc(dims: shape, tag: dnnl_format_tag_any)
        var pd: dnnl_primitive_desc_t?
        withUserScratchpad(nil) { attr in
            dnnlCheck(parts.withUnsafeBufferPointer { srcs in
                dnnl_concat_primitive_desc_create(&pd, &dst, Int32(parts.count), 1, srcs.baseAddress, attr,
                                                  DNNLContext.shared.engine)
            }, "blocked concatenation desc")
        }
        return DNNLPrimitive(pd: pd!)
    }
}

/// The channels per block of this CPU's convolution kernels' activation layout: 16 with AVX-512, else 8.
let blockedActivationChannels: Int = {
    let isa = dnnl_get_effective_cpu_isa().rawValue, avx512 = dnnl_cpu_isa_avx512_core.rawValue
    return isa & avx512 == avx512 ? 16 : 8
}()

/// That layout: nChw16c or nChw8c.
private let blockedActivationTag: dnnl_format_tag_t = blockedActivationChannels == 16 ? dnnl_aBcd16b : dnnl_aBcd8b

/// A blocked layout in words, for cache keys: its dimensions, outer strides and inner blocks.
private func layoutKey(_ md: dnnl_memory_desc_t) -> String {
    var m = md
    let n = Int(m.ndims)
    var parts: [Int] = [n]
    withUnsafeBytes(of: &m.dims) { parts += Array($0.bindMemory(to: Int64.self).prefix(n)).map(Int.init) }
    withUnsafeBytes(of: &m.format_desc.blocking.strides) { parts += Array($0.bindMemory(to: Int64.self).prefix(n)).map(Int.init) }
    let blocks = Int(m.format_desc.blocking.inner_nblks)
    parts.append(blocks)
    withUnsafeBytes(of: &m.format_desc.blocking.inner_blks) { parts += Array($0.bindMemory(to: Int64.self).prefix(blocks)).map(Int.init) }
    withUnsafeBytes(of: &m.format_desc.blocking.inner_idxs) { parts += Array($0.bindMemory(to: Int64.self).prefix(blocks)).map(Int.init) }
    return cacheKey(parts)
}
