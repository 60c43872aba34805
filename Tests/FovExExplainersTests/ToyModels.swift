import Foundation
import FovExModels
import FovExTensor

/// A differentiable two-class "model" whose class-0 logit is the image's correlation with a
/// narrow Gaussian template at a known spot: sharp detail there raises it, blur lowers it.
final class SpotClassifier: ImageClassifier {
    let size: Int
    let spot: (row: Int, col: Int)
    let template: Tensor
    let gain: Float
    /// The class-1 logit: the clean image's class-0 logit, so the two tie on the clean image and any
    /// blur at the spot makes class 0 lose.
    var reference: Float = 0

    init(size: Int = 32, spot: (row: Int, col: Int), templateSigma: Float = 1.5, gain: Float = 1) {
        self.size = size
        self.spot = spot
        self.gain = gain
        var t = [Float](repeating: 0, count: 3 * size * size)
        for c in 0..<3 { for i in 0..<size { for j in 0..<size {
            let d2 = Float((i - spot.row) * (i - spot.row) + (j - spot.col) * (j - spot.col))
            t[(c * size + i) * size + j] = exp(-d2 / (2 * templateSigma * templateSigma))
        }}}
        template = Tensor(shape: [1, 3, size, size], scalars: t)
        reference = withoutGradients { (image() * template).sum().scalar * gain }
    }

    var identity: ModelIdentity { ModelIdentity(architecture: "spot-toy", weights: "analytic") }
    var preprocessing: Preprocessing {
        Preprocessing(geometry: .direct(size: size), interpolation: .bilinear, antialias: false, mean: [0, 0, 0], std: [1, 1, 1])
    }
    var classNames: [String] { ["spot", "background"] }
    var innerPoints: [String] { ["features"] }
    var defaultCAMPoint: String { "features" }

    func forward(_ pixels: Tensor, capturing points: Set<String>) -> ClassifierOutput {
        let n = pixels.shape[0]
        let features = pixels * template
        let score = features.sum(alongAxes: [1, 2, 3]).reshaped([n, 1]) * gain
        let logits = Tensor.concatenate([score, Tensor(repeating: reference, shape: [n, 1])], axis: 1)
        return ClassifierOutput(logits: logits, captured: points.contains("features") ? ["features": features] : [:])
    }

    /// A dark image with a bright square (side 3) centred on the spot.
    func image() -> Tensor {
        var v = [Float](repeating: 0.1, count: 3 * size * size)
        for c in 0..<3 { for i in (spot.row - 1)...(spot.row + 1) { for j in (spot.col - 1)...(spot.col + 1) {
            v[(c * size + i) * size + j] = 1
        }}}
        return Tensor(shape: [1, 3, size, size], scalars: v)
    }
}

/// A small random convolutional classifier (conv → ReLU → conv → global mean → linear).
final class TinyConvNet: ImageClassifier {
    let w1, b1, w2, fc: Tensor

    init(seed: UInt64, classes: Int = 5) {
        var g = SeededGenerator(seed: seed)
        w1 = Tensor(randomNormal: [8, 3, 3, 3], standardDeviation: 0.5, generator: &g)
        b1 = Tensor(randomNormal: [8], standardDeviation: 0.1, generator: &g)
        w2 = Tensor(randomNormal: [8, 8, 3, 3], standardDeviation: 0.3, generator: &g)
        fc = Tensor(randomNormal: [classes, 8], standardDeviation: 1, generator: &g)
    }

    var identity: ModelIdentity { ModelIdentity(architecture: "tiny-conv", weights: "random") }
    var preprocessing: Preprocessing {
        Preprocessing(geometry: .direct(size: 32), interpolation: .bilinear, antialias: false,
                      mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25])
    }
    var classNames: [String] { (0..<fc.shape[0]).map { "class \($0)" } }
    var innerPoints: [String] { ["conv1", "conv2"] }
    var defaultCAMPoint: String { "conv2" }

    func forward(_ pixels: Tensor, capturing points: Set<String>) -> ClassifierOutput {
        let x = (pixels - 0.5) / 0.25
        let c1 = x.conv2d(weight: w1, bias: b1, padding: .symmetric(1)).tanh()
        let c2 = c1.conv2d(weight: w2, stride: 2, padding: .symmetric(1)).tanh()
        let pooled = c2.mean(alongAxes: [2, 3])
        var captured: [String: Tensor] = [:]
        if points.contains("conv1") { captured["conv1"] = c1 }
        if points.contains("conv2") { captured["conv2"] = c2 }
        return ClassifierOutput(logits: head(pooled), captured: captured)
    }

    /// The linear head as a product summed per row, not ``Tensor/linear(weight:bias:)``: oneDNN's GEMM on AVX2 CPUs
    /// sums a row's products in an order that depends on how many rows it is given (its last bit differs between a
    /// batch of one and of three), and this model serves the tests that a batch gives exactly what its images give
    /// one at a time.
    private func head(_ pooled: Tensor) -> Tensor {
        let (n, k) = (pooled.shape[0], pooled.shape[1])
        return (pooled.reshaped([n, 1, k]) * fc.reshaped([1, fc.shape[0], k])).sum(alongAxes: [2])
    }
}
