import Foundation
import FovExModels
import FovExTensor

/// Insertion (Petsiuk et al., RISE): as ``DeletionMetric`` but starting from a blurred copy of the
/// image and copying the original pixels in, most salient first; the value is the area under the
/// class-probability curve. Higher is better.
///
/// Two forms of the blur (``Blur``): the paper's (a Gaussian of kernel 11, σ 5 sampled and
/// normalised to sum 1, torchvision's `gaussian_blur`, on [0, 1] pixels, border reflected), and
/// RISE's own (`evaluation.py`'s `gkern(11, 5)`: SciPy's `gaussian_filter` of a centred impulse,
/// whose σ-5 tails, truncated at 4σ, fold back into the 11×11 window by reflection; applied by
/// `conv2d` with zero padding to the *normalised* image, so in [0, 1] pixels the border fades to the
/// normalisation's mean colour).
public struct InsertionMetric: ModelMetric {
    /// Whose blur makes the starting image.
    public enum Blur: String, Sendable, Codable, CaseIterable {
        /// torchvision's Gaussian in pixel space, reflect padding (the paper's).
        case paper
        /// RISE's `gkern` in normalised space, zero padding.
        case rise
    }

    /// The starting image's blur; `paper` by default.
    public var blur: Blur = .paper
    /// Pixels inserted per iteration (224 by default; 1792 as the cheaper option).
    public var step: Int
    /// Images per forward pass.
    public var batchSize: Int
    /// Side of the blur's Gaussian kernel (odd).
    public var blurKernelSize: Int
    /// σ of the blur's Gaussian, in pixels.
    public var blurSigma: Float
    /// How the blur treats the border: reflect (the default, torchvision's `gaussian_blur`) keeps
    /// the border's brightness; zeros, as RISE's own code pads, darkens a 5-pixel frame.
    public var blurPadding: PaddingMode

    /// Insertion copying `step` pixels per iteration into a copy blurred with the given Gaussian, scoring `batchSize` images per forward pass.
    public init(step: Int = 224, batchSize: Int = 8, blurKernelSize: Int = 11, blurSigma: Float = 5,
                blurPadding: PaddingMode = .reflect) {
        precondition(step > 0 && batchSize > 0, "insertion needs a positive step and batch size")
        precondition(blurKernelSize > 0 && blurKernelSize % 2 == 1 && blurSigma > 0,
                     "insertion needs an odd positive blur kernel and a positive sigma")
        self.step = step
        self.batchSize = batchSize
        self.blurKernelSize = blurKernelSize
        self.blurSigma = blurSigma
        self.blurPadding = blurPadding
    }

    public var name: String { "insertion" }
    public var direction: MetricDirection { .higherIsBetter }
    public var options: [String: String] {
        var o = ["insertion_step": "\(step)", "insertion_blur": blur.rawValue, "insertion_blur_kernel": "\(blurKernelSize)",
                 "insertion_blur_sigma": "\(blurSigma)"]
        if blur == .paper { o["insertion_blur_padding"] = blurPadding == .reflect ? "reflect" : "zeros" }
        return o
    }

    /// RISE's `gkern(size, sigma)` in one axis: SciPy's `gaussian_filter1d` (weights exp(−k²/2σ²)
    /// for |k| ≤ ⌊4σ + 0.5⌋, normalised to sum 1; border mode `reflect`, d c b a | a b c d) applied to
    /// an impulse at the centre of `size` samples. The 2-D kernel is its outer product.
    public static func riseKernel(size: Int, sigma: Float) -> [Float] {
        let radius = Int(4 * Double(sigma) + 0.5)
        let weights = (-radius...radius).map { k in Foundation.exp(-0.5 * Double(k * k) / Double(sigma * sigma)) }
        let total = weights.reduce(0, +)
        let centre = size / 2
        return (0..<size).map { i in
            var sum = 0.0
            for (j, w) in weights.enumerated() {
                // Fold i + k back into 0..<size with the period 2·size of a half-sample reflection.
                var m = (i + j - radius) % (2 * size)
                if m < 0 { m += 2 * size }
                if m >= size { m = 2 * size - 1 - m }
                if m == centre { sum += w }
            }
            return Float(sum / total)
        }
    }

    /// The starting image of every curve: `pixels` blurred as ``blur`` says.
    func blurred(_ pixels: Tensor, model: ImageClassifier) -> Tensor {
        withoutGradients {
            switch blur {
            case .paper:
                return pixels.gaussianBlurred(kernelSize: blurKernelSize, sigma: blurSigma, padding: blurPadding)
            case .rise:
                // conv2d on (x − mean)/std with zeros outside is, back in pixels, mean + conv(x − mean).
                let mean = Tensor(shape: [1, 3, 1, 1], scalars: model.preprocessing.mean)
                let kernel = InsertionMetric.riseKernel(size: blurKernelSize, sigma: blurSigma)
                return mean + (pixels - mean).separablyBlurred(kernel: kernel, padding: .zeros)
            }
        }
    }

    public func evaluate(model: ImageClassifier, pixels: Tensor, maps: Tensor, classes: [Int]) -> [MetricResult] {
        let (h, w) = (pixels.shape[2], pixels.shape[3])
        let blurred = self.blurred(pixels, model: model)
        let curve = CausalCurve(step: step, batchSize: batchSize)
        return inputSizedMaps(maps, height: h, width: w, metric: name).enumerated().map { i, map in
            let scores = curve.scores(model: model, start: blurred.selecting(axis: 0, index: i),
                                      finish: pixels.selecting(axis: 0, index: i), saliency: map.values, classIndex: classes[i])
            return MetricResult(value: CausalCurve.area(scores), curve: scores, warnings: map.warnings)
        }
    }
}
