import Foundation
import FovExTensor

/// The GEMM floor of a model's pass: the time its convolutions and matrix products alone take at
/// the rate the same kernels reach on this machine, measured in the same run.
///
/// Counting. Every convolution and matrix product of the network is listed from the architecture's
/// geometry (``layers(of:)``), with its count. A convolution or linear layer costs
/// 2·(output elements)·(multiply-adds per output) FLOPs forward, and the same again for its input
/// gradient (backward-data is the transposed product of the same sizes; the weight gradient is not
/// part of an input gradient and is not counted). The attention products of a transformer
/// (Q·Kᵀ and P·V) have activations on both sides, so the input gradient needs both operands'
/// gradients: twice the forward FLOPs. Batch-norm is folded into the convolutions, so it costs
/// nothing here; everything else (activations, pooling, normalisation, softmax, copies, reorders)
/// is what the pass spends above the floor.
///
/// Timing. Each distinct shape is timed forward and backward-data with the same code path as
/// `fovex bench kernels` (channels-last activations, autodiff for backward-data), at batch 1; the
/// floor is Σ count × median time. The ratio pass time / floor shows how much the non-GEMM work costs.
/// The passes and the floor are timed in alternating rounds and the ratio taken per round, because this
/// project's machines change speed by up to 2× within minutes: a floor timed once, before or after the
/// passes, moved the ratio by ±0.2 between runs (docs/results/floor.md).
struct GEMMFloor {
    /// One kind of layer and how often the pass runs it.
    struct Layer {
        var shape: KernelShape
        var count: Int
        /// Input-gradient FLOPs over forward FLOPs: 1 for a layer with constant weights, 2 for a
        /// product of two activations.
        var backwardFactor: Double = 1
    }

    /// Forward and forward + input-gradient floors of one model at batch 1.
    struct Floor: Codable {
        var model: String
        var forwardGFLOP: Double
        var gradientGFLOP: Double
        /// Median over the rounds of each round's floor.
        var forwardMilliseconds: Double
        var gradientMilliseconds: Double
        /// Median over the rounds of pass time / that round's floor.
        var forwardRatio = 0.0
        var gradientRatio = 0.0
    }

    /// The convolutions and matrix products of `model`'s pass at batch 1, or nil for a model not counted.
    static func layers(of model: String) -> [Layer]? {
        switch model {
        case "resnet50": return resNet50
        case "vit-b16": return visionTransformer(dimension: 768, depth: 12, heads: 12, patch: 16, image: 224)
        default: return nil
        }
    }

    /// torchvision's ResNet-50 (v1.5: the stride on the 3×3 convolution) at 224²: stem, 3-4-6-3
    /// bottlenecks, the classifier.
    static var resNet50: [Layer] {
        var layers = [Layer(shape: .conv("r50.stem", "7×7/2 conv 3→64 @224²", c: 3, size: 224, o: 64, k: 7, stride: 2, pad: 3), count: 1)]
        var inputs = 64, size = 56
        for (stage, blocks) in [3, 4, 6, 3].enumerated() {
            let width = 64 << stage, out = 4 * width
            // The first block changes width (and stride); the others repeat one shape.
            for block in 0..<Swift.min(blocks, 2) {
                let stride = stage > 0 && block == 0 ? 2 : 1
                let c = block == 0 ? inputs : out
                let count = block == 0 ? 1 : blocks - 1
                let key = "r50.s\(stage).b\(block)"
                let outSize = size / stride
                layers.append(Layer(shape: .conv(key + ".conv1", "1×1 conv \(c)→\(width) @\(size)²", c: c, size: size, o: width,
                                                 k: 1, pad: 0), count: count))
                layers.append(Layer(shape: .conv(key + ".conv2", "3×3/\(stride) conv \(width)→\(width) @\(size)²", c: width,
                                                 size: size, o: width, k: 3, stride: stride, pad: 1), count: count))
                layers.append(Layer(shape: .conv(key + ".conv3", "1×1 conv \(width)→\(out) @\(outSize)²", c: width, size: outSize,
                                                 o: out, k: 1, pad: 0), count: count))
                if block == 0 {
                    layers.append(Layer(shape: .conv(key + ".down", "1×1/\(stride) conv \(c)→\(out) @\(size)²", c: c, size: size,
                                                     o: out, k: 1, stride: stride, pad: 0), count: 1))
                    size = outSize
                }
            }
            inputs = out
        }
        layers.append(Layer(shape: .linear("r50.fc", rows: 1, in: 2048, out: 1000), count: 1))
        return layers
    }

    /// A ViT at `image`² with `patch`² patches: patch embedding, per block qkv, Q·Kᵀ, P·V, projection
    /// and the two MLP layers, then the head on the class token.
    static func visionTransformer(dimension c: Int, depth: Int, heads: Int, patch: Int, image: Int) -> [Layer] {
        let tokens = (image / patch) * (image / patch) + 1, d = c / heads
        return [
            Layer(shape: .conv("vit.patch", "\(patch)×\(patch)/\(patch) conv 3→\(c) @\(image)²", c: 3, size: image, o: c, k: patch,
                               stride: patch, pad: 0), count: 1),
            Layer(shape: .linear("vit.qkv", rows: tokens, in: c, out: 3 * c), count: depth),
            Layer(shape: .matmul("vit.scores", batch: heads, m: tokens, k: d, n: tokens), count: depth, backwardFactor: 2),
            Layer(shape: .matmul("vit.context", batch: heads, m: tokens, k: tokens, n: d), count: depth, backwardFactor: 2),
            Layer(shape: .linear("vit.proj", rows: tokens, in: c, out: c), count: depth),
            Layer(shape: .linear("vit.fc1", rows: tokens, in: c, out: 4 * c), count: depth),
            Layer(shape: .linear("vit.fc2", rows: tokens, in: 4 * c, out: c), count: depth),
            Layer(shape: .linear("vit.head", rows: 1, in: c, out: 1000), count: 1),
        ]
    }

    /// The floor of `model` and the ratios of its passes to it, timed in `rounds` rounds: each round times one
    /// forward pass and one forward + gradient pass, then every layer's shape forward and backward-data (the
    /// median of at least three calls after one warm-up, for at least `minimumSeconds` per shape and direction).
    /// Each round's ratio compares times taken within a second or two of each other, so the machine's drift
    /// (its speed moves by up to 2× within minutes) cancels; the medians over rounds are reported.
    static func measure(model: String, layers: [Layer], rounds: Int, minimumSeconds: Double,
                        forwardPass: () throws -> Void, gradientPass: () throws -> Void) throws -> Floor {
        let runners = try layers.map { try KernelTiming.runners($0.shape) }
        var floor = Floor(model: model, forwardGFLOP: 0, gradientGFLOP: 0, forwardMilliseconds: 0, gradientMilliseconds: 0)
        for layer in layers {
            let n = Double(layer.count)
            floor.forwardGFLOP += n * layer.shape.flops / 1e9
            floor.gradientGFLOP += n * (1 + layer.backwardFactor) * layer.shape.flops / 1e9
        }
        try forwardPass()
        try gradientPass()
        var forwardFloors: [Double] = [], gradientFloors: [Double] = []
        var forwardRatios: [Double] = [], gradientRatios: [Double] = []
        for _ in 0..<rounds {
            // One call of each pass; each shape after one warm-up call (which brings its weights back into cache
            // after a pass, as a kernel timed alone has them), the median of at least three.
            let forwardPassMs = try FovExBench.measure(minimumSeconds: 0, warmUpCalls: 0, warmUpSeconds: 0, minimumRuns: 1,
                                                         forwardPass).milliseconds
            let gradientPassMs = try FovExBench.measure(minimumSeconds: 0, warmUpCalls: 0, warmUpSeconds: 0, minimumRuns: 1,
                                                          gradientPass).milliseconds
            var forwardMs = 0.0, gradientMs = 0.0
            for (layer, run) in zip(layers, runners) {
                let n = Double(layer.count)
                let forward = try FovExBench.measure(minimumSeconds: minimumSeconds, warmUpCalls: 1, warmUpSeconds: 0,
                                                       minimumRuns: 3, run.forward).milliseconds
                let backward = try FovExBench.measure(minimumSeconds: minimumSeconds, warmUpCalls: 1, warmUpSeconds: 0,
                                                        minimumRuns: 3, run.backward).milliseconds
                forwardMs += n * forward
                gradientMs += n * (forward + backward)
            }
            forwardFloors.append(forwardMs)
            gradientFloors.append(gradientMs)
            forwardRatios.append(forwardPassMs / forwardMs)
            gradientRatios.append(gradientPassMs / gradientMs)
        }
        floor.forwardMilliseconds = median(of: forwardFloors)!
        floor.gradientMilliseconds = median(of: gradientFloors)!
        floor.forwardRatio = median(of: forwardRatios)!
        floor.gradientRatio = median(of: gradientRatios)!
        return floor
    }
}
