import FovExTensor

/// torchvision's ResNet (v1.5: the stride sits on the 3×3 convolution of a bottleneck) with its
/// checkpoint key names, which timm's `resnet*` checkpoints share.
///
/// Batch norms (ε = 1e−5) are folded into the convolutions when the model is built, so inference runs
/// one oneDNN convolution with a bias per conv–BN pair, with the ReLU (and a block's shortcut sum) fused
/// into it; activations stay channels-last throughout.
///
/// Inner points: `conv1` (the stem after conv → BN → ReLU, before max-pooling), every block
/// `layerK.i`, and `layer1`…`layer4` (each stage's output, the same tensor as its last block's).
public final class ResNet: ImageClassifier, PrecisionSelectable {
    /// The depths torchvision defines.
    public struct Configuration: Sendable, Equatable {
        /// Blocks per stage.
        public var blocks: [Int]
        /// Bottleneck blocks (1×1 → 3×3 → 1×1, expansion 4) rather than basic blocks (3×3 → 3×3).
        public var bottleneck: Bool

        /// ResNet-18: basic blocks, 2-2-2-2.
        public static let resnet18 = Configuration(blocks: [2, 2, 2, 2], bottleneck: false)
        /// ResNet-34: basic blocks, 3-4-6-3.
        public static let resnet34 = Configuration(blocks: [3, 4, 6, 3], bottleneck: false)
        /// ResNet-50: bottleneck blocks, 3-4-6-3.
        public static let resnet50 = Configuration(blocks: [3, 4, 6, 3], bottleneck: true)
        /// ResNet-101: bottleneck blocks, 3-4-23-3.
        public static let resnet101 = Configuration(blocks: [3, 4, 23, 3], bottleneck: true)
        /// ResNet-152: bottleneck blocks, 3-8-36-3.
        public static let resnet152 = Configuration(blocks: [3, 8, 36, 3], bottleneck: true)

        var expansion: Int { bottleneck ? 4 : 1 }
        var width: [Int] { [64, 128, 256, 512] }
        /// (stage, block) index pairs in network order.
        var blockIndices: [(stage: Int, block: Int)] {
            blocks.enumerated().flatMap { s, n in (0..<n).map { (s, $0) } }
        }
    }

    /// The ImageNet preprocessing the paper uses: a direct bilinear resize to 224 and ImageNet's mean and std.
    public static let imageNetPreprocessing = Preprocessing(
        geometry: .direct(size: 224), interpolation: .bilinear, antialias: true,
        mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])

    /// The parameters a checkpoint for `configuration` holds, in torchvision's order.
    public static func parameters(_ configuration: Configuration, classes: Int = 1000) -> [ParameterSpec] {
        var specs: [ParameterSpec] = []
        specs.appendConvolution("conv1", bn: "bn1", out: 64, in: 3, kernel: 7)
        var inputs = 64
        for (s, b) in configuration.blockIndices {
            let p = "layer\(s + 1).\(b)"
            let width = configuration.width[s], out = width * configuration.expansion
            if configuration.bottleneck {
                specs.appendConvolution(p + ".conv1", bn: p + ".bn1", out: width, in: inputs, kernel: 1)
                specs.appendConvolution(p + ".conv2", bn: p + ".bn2", out: width, in: width, kernel: 3)
                specs.appendConvolution(p + ".conv3", bn: p + ".bn3", out: out, in: width, kernel: 1)
            } else {
                specs.appendConvolution(p + ".conv1", bn: p + ".bn1", out: width, in: inputs, kernel: 3)
                specs.appendConvolution(p + ".conv2", bn: p + ".bn2", out: width, in: width, kernel: 3)
            }
            if b == 0 && (s > 0 || inputs != out) {
                specs.appendConvolution(p + ".downsample.0", bn: p + ".downsample.1", out: out, in: inputs, kernel: 1)
            }
            inputs = out
        }
        specs.append(ParameterSpec("fc.weight", [classes, inputs], .weight))
        specs.append(ParameterSpec("fc.bias", [classes], .bias))
        return specs
    }

    private struct Block {
        let name: String
        let convolutions: [FoldedConvolution]
        let downsample: FoldedConvolution?
    }

    /// The architecture's name and the weights' source and SHA-256.
    public let identity: ModelIdentity
    /// The precision of the convolutions and matrix products (fp32 unless set; see ``Precision``).
    public var precision: Precision = .fp32
    /// Whether passes that record nothing run the convolutions as a ``BlockedConvolutionChain`` in oneDNN's
    /// preferred activation layout; on unless the environment sets `FOVEX_BLOCKED_CHAINS=0`.
    public var usesBlockedChains = BlockedConvolutionChain.isEnabledByDefault
    /// How photos are prepared for this network; the model applies its `mean` and `std` itself. Settable: explanations resize straight to the input size, accuracy checks crop.
    public var preprocessing: Preprocessing
    public let classNames: [String]
    public let innerPoints: [String]
    public var defaultCAMPoint: String { "layer4" }

    private let configuration: Configuration
    /// The checkpoint's tensors, kept to rebuild the model with re-initialised layers.
    private let weights: ModelWeights
    private let stem: FoldedConvolution
    private let blocks: [Block]
    private let stageEnds: [String: String]
    /// The stem, blocks and global pooling as one chain, for passes that record nothing.
    let body: BlockedBody
    private let fcWeight: Tensor
    private let fcBias: Tensor

    /// Builds the network from weights that match ``parameters(_:classes:)``.
    public init(_ configuration: Configuration, weights: ModelWeights, identity: ModelIdentity,
                preprocessing: Preprocessing = ResNet.imageNetPreprocessing,
                classNames: [String] = ImageNetClasses.names) {
        let eps: Float = 1e-5
        self.configuration = configuration
        self.weights = weights
        stem = FoldedConvolution(weights, conv: "conv1", bn: "bn1", epsilon: eps, stride: 2, padding: .symmetric(3))
        var blocks: [Block] = []
        var points = ["conv1"]
        var stageEnds: [String: String] = [:]
        for (s, b) in configuration.blockIndices {
            let p = "layer\(s + 1).\(b)"
            let stride = s > 0 && b == 0 ? 2 : 1
            let convs: [FoldedConvolution]
            if configuration.bottleneck {
                convs = [FoldedConvolution(weights, conv: p + ".conv1", bn: p + ".bn1", epsilon: eps, padding: .symmetric(0)),
                         FoldedConvolution(weights, conv: p + ".conv2", bn: p + ".bn2", epsilon: eps, stride: stride,
                                           padding: .symmetric(1)),
                         FoldedConvolution(weights, conv: p + ".conv3", bn: p + ".bn3", epsilon: eps, padding: .symmetric(0))]
            } else {
                convs = [FoldedConvolution(weights, conv: p + ".conv1", bn: p + ".bn1", epsilon: eps, stride: stride,
                                           padding: .symmetric(1)),
                         FoldedConvolution(weights, conv: p + ".conv2", bn: p + ".bn2", epsilon: eps, padding: .symmetric(1))]
            }
            let downsample = weights.tensors[p + ".downsample.0.weight"] == nil ? nil
                : FoldedConvolution(weights, conv: p + ".downsample.0", bn: p + ".downsample.1", epsilon: eps,
                                    stride: stride, padding: .symmetric(0))
            blocks.append(Block(name: p, convolutions: convs, downsample: downsample))
            points.append(p)
            if b == configuration.blocks[s] - 1 {
                points.append("layer\(s + 1)")
                stageEnds[p] = "layer\(s + 1)"
            }
        }
        self.blocks = blocks
        self.stageEnds = stageEnds
        body = ResNet.blockedBody(stem: stem, blocks: blocks)
        innerPoints = points
        fcWeight = weights["fc.weight"]
        fcBias = weights["fc.bias"]
        self.identity = identity
        self.preprocessing = preprocessing
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
        var x = stem(normalized, activation: .relu)
        keep("conv1", x)
        x = x.maxPool2d(kernel: 3, stride: 2, padding: 1)
        for block in blocks {
            let shortcut = block.downsample?(x) ?? x
            var y = x
            for conv in block.convolutions.dropLast() { y = conv(y, activation: .relu) }
            // The block's last convolution may accumulate onto the shortcut in place (no copy of it) unless the
            // caller gets the shortcut back as a captured point; conv2d itself declines while recording.
            x = block.convolutions.last!(y, residual: shortcut, activation: .relu,
                                         consumingResidual: !captured.holdsStorage(of: shortcut))
            keep(block.name, x)
            if let stage = stageEnds[block.name] { keep(stage, x) }
        }
        let logits = x.globalAvgPool2d().linear(weight: fcWeight, bias: fcBias)
        return ClassifierOutput(logits: logits, captured: captured)
    }

    /// The layers of ``computeForward(_:capturing:)`` from the stem to the global pooling, as a blocked chain.
    private static func blockedBody(stem: FoldedConvolution, blocks: [Block]) -> BlockedBody {
        var builder = BlockedBodyBuilder()
        var x = builder.append(stem, reading: 0, activation: .relu)
        x = builder.append(.pooling(BlockedPooling(input: x, kind: .maximum, kernel: (3, 3), stride: (2, 2),
                                                   padding: { _, _ in (1, 1, 1, 1) })))
        for block in blocks {
            let shortcut = block.downsample.map { builder.append($0, reading: x) } ?? x
            var y = x
            for conv in block.convolutions.dropLast() { y = builder.append(conv, reading: y, activation: .relu) }
            x = builder.append(block.convolutions.last!, reading: y, residual: shortcut, activation: .relu)
        }
        let pooled = builder.append(.globalAveragePooling(input: x))
        return builder.body(pooled: pooled)
    }
}

extension ResNet: LayerRandomizable {
    /// `fc`, then every block from `layer4.{last}` down to `layer1.0` (each with its downsample), then
    /// the stem `conv1` (with `bn1`).
    public var layersTopDown: [ModelLayer] {
        ModelLayer.topDown(ResNet.parameters(configuration, classes: classNames.count)) { name in
            if name.hasPrefix("fc.") { return "fc" }
            if name.hasPrefix("layer") { return name.split(separator: ".").prefix(2).joined(separator: ".") }
            return "conv1"
        }
    }

    public func randomizingLayers(_ count: Int, seed: UInt64) -> any ImageClassifier {
        let specs = ResNet.parameters(configuration, classes: classNames.count)
        let redrawn = weights.redrawing(Array(layersTopDown.prefix(count)), specs: specs, seed: seed)
        return ResNet(configuration, weights: redrawn,
                      identity: ModelIdentity(architecture: identity.architecture, weights: redrawn.source),
                      preprocessing: preprocessing, classNames: classNames)
    }
}
