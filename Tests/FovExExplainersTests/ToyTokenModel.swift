import FovExModels
import FovExTensor

/// A one-block, one-head attention classifier built by hand so that its class-0 logit depends on a
/// single patch: the class token attends to bright patches (key = patch brightness, constant
/// query), and only the value of the `spot` patch carries anything to the logit.
///
/// Tokens have two features, [brightness, is-spot]; the class token is [0, 0]. The attention
/// output of the class token is Σ_p A[cls, p]·[0, spot_p] = [0, A[cls, spot]], and
/// logits = [gain·x_cls[1], 1] with x the block output (identity norm, no MLP).
final class SpotTokenClassifier: TokenClassifier {
    let size: Int
    let patch: Int
    let spot: (row: Int, col: Int)
    let gain: Float

    init(size: Int = 32, patch: Int = 4, spot: (row: Int, col: Int), gain: Float = 8) {
        self.size = size
        self.patch = patch
        self.spot = spot
        self.gain = gain
    }

    var grid: Int { size / patch }
    var spotToken: Int { 1 + (spot.row / patch) * grid + spot.col / patch }

    var identity: ModelIdentity { ModelIdentity(architecture: "spot-token-toy", weights: "analytic") }
    var preprocessing: Preprocessing {
        Preprocessing(geometry: .direct(size: size), interpolation: .bilinear, antialias: false, mean: [0, 0, 0], std: [1, 1, 1])
    }
    var classNames: [String] { ["spot", "background"] }
    var innerPoints: [String] { ["blocks.0.norm1", "blocks.0.attn.probs", "blocks.0.attn", "blocks.0"] }
    var defaultCAMPoint: String { "blocks.0.norm1" }
    var blockCount: Int { 1 }

    func attentionProbabilitiesPoint(block i: Int) -> String { "blocks.\(i).attn.probs" }
    func attentionOutputPoint(block i: Int) -> String { "blocks.\(i).attn" }

    func projectTokensToClasses(_ tokens: Tensor) -> Tensor {
        let spotFeature = tokens.sliced(axis: -1, 1..<2) * gain
        return Tensor.concatenate([spotFeature, Tensor(repeating: 1, shape: spotFeature.shape)], axis: -1)
    }

    func spatialMap(of captured: Tensor, at point: String) -> Tensor {
        guard !point.hasSuffix(".probs"), captured.rank == 3 else { return captured }
        let (n, t, c) = (captured.shape[0], captured.shape[1], captured.shape[2])
        return captured.sliced(axis: 1, 1..<t).reshaped([n, grid, grid, c]).permuted(0, 3, 1, 2)
    }

    func forward(_ pixels: Tensor, capturing points: Set<String>) -> ClassifierOutput {
        let n = pixels.shape[0], g = grid
        // Mean brightness per patch: [N, g·g, 1].
        let brightness = pixels.mean(alongAxes: [1]).reshaped([n, g, patch, g, patch]).mean(alongAxes: [2, 4])
            .reshaped([n, g * g, 1])
        let isSpot = Tensor(shape: [1, g * g, 1], scalars: (0..<(g * g)).map { $0 + 1 == spotToken ? 1 : 0 })
        let patches = Tensor.concatenate([brightness, isSpot.broadcast(to: [n, g * g, 1])], axis: 2)
        let x = Tensor.concatenate([Tensor(zeros: [n, 1, 2]), patches], axis: 1)   // [N, T, 2]
        let t = x.shape[1]
        // Scores q·k with q = 1 and k = gain·brightness for every token.
        let keys = x.sliced(axis: 2, 0..<1) * gain                                  // [N, T, 1]
        let scores = keys.reshaped([n, 1, 1, t]).broadcast(to: [n, 1, t, t])
        let probs = scores.softmax()                                                 // [N, 1, T, T]
        let values = Tensor.concatenate([Tensor(zeros: [n, t, 1]), x.sliced(axis: 2, 1..<2)], axis: 2)
        let attn = probs.reshaped([n, t, t]).matmul(values)                          // [N, T, 2]
        let out = x + attn
        var captured: [String: Tensor] = [:]
        for (name, value) in [("blocks.0.norm1", x), ("blocks.0.attn.probs", probs), ("blocks.0.attn", attn), ("blocks.0", out)]
            where points.contains(name) { captured[name] = value }
        let logits = projectTokensToClasses(out.selecting(axis: 1, index: 0))
        return ClassifierOutput(logits: logits, captured: captured)
    }
}
