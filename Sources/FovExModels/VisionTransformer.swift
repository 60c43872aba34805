import Foundation
import FovExTensor

/// timm's `vit_*_patch16_224`: a 16×16 stride-16 patch embedding, a class token, a learned position
/// embedding, pre-norm blocks `x + attn(norm1(x))`, `x + mlp(norm2(x))` with a fused qkv projection
/// and exact (erf) GELU, LayerNorm ε = 1e−6, a final `norm` and the `head` on the class token.
///
/// Inner points, per block i: `blocks.i.norm1`, `blocks.i.attn.probs` (softmax attention [N, heads,
/// T, T] — the tensor the block multiplies the values with, so gradients with respect to it are the
/// true ones), `blocks.i.attn` (attention output after the projection, before the residual add) and
/// `blocks.i` (block output); then `norm`. Token tensors are [N, T, C] with T = 1 + 196.
public final class VisionTransformer: TokenClassifier, PrecisionSelectable {
    /// Width, depth and heads of a ViT variant.
    public struct Configuration: Sendable, Equatable {
        /// Token width C.
        public var dimension: Int
        /// Transformer blocks.
        public var depth: Int
        /// Attention heads per block (C must divide by it).
        public var heads: Int
        /// Side of a square patch, in pixels.
        public var patch = 16
        /// Side of the square input, in pixels (a multiple of `patch`).
        public var imageSize = 224

        /// A variant with these dimensions (the named ones are ``tiny``, ``small``, ``base`` and ``large``).
        public init(dimension: Int, depth: Int, heads: Int, patch: Int = 16, imageSize: Int = 224) {
            self.dimension = dimension
            self.depth = depth
            self.heads = heads
            self.patch = patch
            self.imageSize = imageSize
        }

        /// ViT-Ti/16: C 192, 12 blocks, 3 heads.
        public static let tiny = Configuration(dimension: 192, depth: 12, heads: 3)
        /// ViT-S/16: C 384, 12 blocks, 6 heads.
        public static let small = Configuration(dimension: 384, depth: 12, heads: 6)
        /// ViT-B/16: C 768, 12 blocks, 12 heads.
        public static let base = Configuration(dimension: 768, depth: 12, heads: 12)
        /// ViT-L/16: C 1024, 24 blocks, 16 heads.
        public static let large = Configuration(dimension: 1024, depth: 24, heads: 16)

        var grid: Int { imageSize / patch }
        var tokens: Int { 1 + grid * grid }
    }

    /// The preprocessing of timm's augreg checkpoints: a direct bicubic resize to 224 and mean = std = 0.5.
    public static let defaultPreprocessing = Preprocessing(
        geometry: .direct(size: 224), interpolation: .bicubic, antialias: true,
        mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5])

    /// The parameters a timm checkpoint for `configuration` holds, in timm's order.
    public static func parameters(_ configuration: Configuration, classes: Int = 1000) -> [ParameterSpec] {
        let c = configuration.dimension, p = configuration.patch
        var specs = [ParameterSpec("cls_token", [1, 1, c], .embedding),
                     ParameterSpec("pos_embed", [1, configuration.tokens, c], .embedding),
                     ParameterSpec("patch_embed.proj.weight", [c, 3, p, p], .weight),
                     ParameterSpec("patch_embed.proj.bias", [c], .bias)]
        func linear(_ name: String, _ out: Int, _ inputs: Int) {
            specs += [ParameterSpec(name + ".weight", [out, inputs], .weight), ParameterSpec(name + ".bias", [out], .bias)]
        }
        func norm(_ name: String) {
            specs += [ParameterSpec(name + ".weight", [c], .normScale), ParameterSpec(name + ".bias", [c], .normOffset)]
        }
        for i in 0..<configuration.depth {
            let b = "blocks.\(i)"
            norm(b + ".norm1")
            linear(b + ".attn.qkv", 3 * c, c)
            linear(b + ".attn.proj", c, c)
            norm(b + ".norm2")
            linear(b + ".mlp.fc1", 4 * c, c)
            linear(b + ".mlp.fc2", c, 4 * c)
        }
        norm("norm")
        linear("head", classes, c)
        return specs
    }

    private struct Linear {
        let weight: Tensor
        let bias: Tensor
        func callAsFunction(_ x: Tensor) -> Tensor { x.linear(weight: weight, bias: bias) }
    }

    private struct Norm {
        let weight: Tensor
        let bias: Tensor
        func callAsFunction(_ x: Tensor) -> Tensor { x.layerNorm(weight: weight, bias: bias, epsilon: 1e-6) }
    }

    private struct Block {
        let norm1: Norm
        let qkv: Linear
        let proj: Linear
        let norm2: Norm
        let fc1: Linear
        let fc2: Linear
    }

    /// The architecture's name and the weights' source and SHA-256.
    public let identity: ModelIdentity
    /// The precision of the convolutions and matrix products (fp32 unless set; see ``Precision``).
    public var precision: Precision = .fp32
    /// How photos are prepared for this network; the model applies its `mean` and `std` itself. Settable: explanations resize straight to the input size, accuracy checks crop.
    public var preprocessing: Preprocessing
    public let classNames: [String]
    public let innerPoints: [String]
    /// The variant's width, depth, heads, patch and input size.
    public let configuration: Configuration
    public var defaultCAMPoint: String { "blocks.\(configuration.depth - 1).norm1" }
    public var blockCount: Int { configuration.depth }

    /// The checkpoint's tensors, kept to rebuild the model with re-initialised layers.
    private let weights: ModelWeights
    private let patchWeight: Tensor
    private let patchBias: Tensor
    private let classToken: Tensor
    private let positions: Tensor
    private let blocks: [Block]
    private let norm: Norm
    private let head: Linear

    /// Builds the network from weights that match ``parameters(_:classes:)``.
    ///
    /// - Parameters:
    ///   - configuration: the variant's dimensions.
    ///   - weights: tensors named and shaped as ``parameters(_:classes:)`` lists them.
    ///   - identity: the architecture's name and the weights' source, recorded with results.
    ///   - classNames: names of the head's classes, in index order.
    ///   - normalizesInput: apply the preprocessing's mean and std inside `forward` (the
    ///     checkpoints' convention); `false` feeds [0, 1] pixels straight in, as the FovEx authors' demo did.
    public init(_ configuration: Configuration, weights: ModelWeights, identity: ModelIdentity,
                normalizesInput: Bool = true, classNames: [String] = ImageNetClasses.names) {
        self.configuration = configuration
        self.weights = weights
        func makeLinear(_ n: String) -> Linear { Linear(weight: weights[n + ".weight"], bias: weights[n + ".bias"]) }
        func makeNorm(_ n: String) -> Norm { Norm(weight: weights[n + ".weight"], bias: weights[n + ".bias"]) }
        patchWeight = weights["patch_embed.proj.weight"]
        patchBias = weights["patch_embed.proj.bias"]
        classToken = weights["cls_token"]
        positions = weights["pos_embed"]
        // Every layer reads the checkpoint's own tensors, which `weights` keeps too: the model holds each
        // parameter once (a qkv with the attention scale folded in would be a second copy of 21 % of a ViT's
        // weights; the queries are scaled instead, as timm does).
        blocks = (0..<configuration.depth).map { i in
            let b = "blocks.\(i)"
            return Block(norm1: makeNorm(b + ".norm1"), qkv: makeLinear(b + ".attn.qkv"), proj: makeLinear(b + ".attn.proj"),
                         norm2: makeNorm(b + ".norm2"), fc1: makeLinear(b + ".mlp.fc1"), fc2: makeLinear(b + ".mlp.fc2"))
        }
        norm = makeNorm("norm")
        head = makeLinear("head")
        innerPoints = (0..<configuration.depth).flatMap { i in
            ["blocks.\(i).norm1", "blocks.\(i).attn.probs", "blocks.\(i).attn", "blocks.\(i)"]
        } + ["norm"]
        self.identity = identity
        var preprocessing = VisionTransformer.defaultPreprocessing
        if !normalizesInput {
            preprocessing.mean = [0, 0, 0]
            preprocessing.std = [1, 1, 1]
        }
        self.preprocessing = preprocessing
        self.classNames = classNames
    }

    public func attentionProbabilitiesPoint(block i: Int) -> String { "blocks.\(i).attn.probs" }
    public func attentionOutputPoint(block i: Int) -> String { "blocks.\(i).attn" }

    public func projectTokensToClasses(_ tokens: Tensor) -> Tensor { withPrecision(precision) { head(norm(tokens)) } }

    /// Token points [N, T, C] become [N, C, grid, grid] with the class token dropped; attention
    /// probabilities are returned unchanged.
    public func spatialMap(of captured: Tensor, at point: String) -> Tensor {
        guard !point.hasSuffix(".probs"), captured.rank == 3 else { return captured }
        let (n, t, c) = (captured.shape[0], captured.shape[1], captured.shape[2])
        let g = Int(Double(t - 1).squareRoot())
        precondition(g * g == t - 1, "spatialMap: \(t - 1) patch tokens at \(point) do not form a square grid")
        return captured.sliced(axis: 1, 1..<t).reshaped([n, g, g, c]).permuted(0, 3, 1, 2)
    }

    /// Runs the network in ``precision``.
    public func forward(_ pixels: Tensor, capturing points: Set<String>) -> ClassifierOutput {
        withPrecision(precision) { computeForward(pixels, capturing: points) }
    }

    private func computeForward(_ pixels: Tensor, capturing points: Set<String>) -> ClassifierOutput {
        var captured: [String: Tensor] = [:]
        func keep(_ name: String, _ t: Tensor) { if points.contains(name) { captured[name] = t } }

        let n = pixels.shape[0], c = configuration.dimension, heads = configuration.heads
        let patches = preprocessing.normalized(pixels)
            .conv2d(weight: patchWeight, bias: patchBias, stride: configuration.patch)
        let grid = patches.shape[2] * patches.shape[3]
        precondition(grid + 1 == configuration.tokens,
                     "VisionTransformer expects \(configuration.imageSize)×\(configuration.imageSize) input, got \(pixels.shape)")
        // Channels-last patches are already [N, h, w, C] in memory: the token sequence is a view.
        let tokens = patches.permuted(0, 2, 3, 1).reshaped([n, grid, c])
        var x = Tensor.concatenate([classToken.broadcast(to: [n, 1, c]), tokens], axis: 1) + positions
        let t = x.shape[1], d = c / heads
        let scale = 1 / Float(d).squareRoot()
        for (i, block) in blocks.enumerated() {
            let b = "blocks.\(i)"
            let h = block.norm1(x)
            keep(b + ".norm1", h)
            let qkv = block.qkv(h).reshaped([n, t, 3, heads, d]).permuted(2, 0, 3, 1, 4)
            let q = qkv.selecting(axis: 0, index: 0) * scale, k = qkv.selecting(axis: 0, index: 1)
            let v = qkv.selecting(axis: 0, index: 2)
            let probs = q.matmul(k.transposed()).softmax()
            keep(b + ".attn.probs", probs)
            let attn = block.proj(probs.matmul(v).permuted(0, 2, 1, 3).reshaped([n, t, c]))
            keep(b + ".attn", attn)
            x = x + attn
            x = x + block.fc2(block.fc1(block.norm2(x)).gelu())
            keep(b, x)
        }
        x = norm(x)
        keep("norm", x)
        let logits = head(x.selecting(axis: 1, index: 0))
        return ClassifierOutput(logits: logits, captured: captured)
    }
}

extension VisionTransformer: LayerRandomizable {
    /// `head`, the final `norm`, every block from the last down to `blocks.0`, then the embedding
    /// (`patch_embed`, `cls_token`, `pos_embed`).
    public var layersTopDown: [ModelLayer] {
        ModelLayer.topDown(VisionTransformer.parameters(configuration, classes: classNames.count)) { name in
            if name.hasPrefix("blocks.") { return name.split(separator: ".").prefix(2).joined(separator: ".") }
            if name.hasPrefix("head.") { return "head" }
            if name.hasPrefix("norm.") { return "norm" }
            return "embedding"
        }
    }

    public func randomizingLayers(_ count: Int, seed: UInt64) -> any ImageClassifier {
        let specs = VisionTransformer.parameters(configuration, classes: classNames.count)
        let redrawn = weights.redrawing(Array(layersTopDown.prefix(count)), specs: specs, seed: seed)
        let model = VisionTransformer(configuration, weights: redrawn,
                                      identity: ModelIdentity(architecture: identity.architecture, weights: redrawn.source),
                                      classNames: classNames)
        model.preprocessing = preprocessing  // with or without the input normalisation, as this model has it
        return model
    }
}
