import FovExModels
import FovExTensor

/// Insertion (Petsiuk et al., RISE): as ``DeletionMetric`` but starting from a blurred copy of the
/// image (Gaussian in pixel space, kernel 11, σ 5, normalised to sum 1) and copying the original
/// pixels in, most salient first; the value is the area under the class-probability curve.
/// Higher is better.
public struct InsertionMetric: ModelMetric {
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
        ["insertion_step": "\(step)", "insertion_blur_kernel": "\(blurKernelSize)", "insertion_blur_sigma": "\(blurSigma)",
         "insertion_blur_padding": blurPadding == .reflect ? "reflect" : "zeros"]
    }

    public func evaluate(model: ImageClassifier, pixels: Tensor, maps: Tensor, classes: [Int]) -> [MetricResult] {
        let (h, w) = (pixels.shape[2], pixels.shape[3])
        let blurred = withoutGradients {
            pixels.gaussianBlurred(kernelSize: blurKernelSize, sigma: blurSigma, padding: blurPadding)
        }
        let curve = CausalCurve(step: step, batchSize: batchSize)
        return inputSizedMaps(maps, height: h, width: w, metric: name).enumerated().map { i, map in
            let scores = curve.scores(model: model, start: blurred.selecting(axis: 0, index: i),
                                      finish: pixels.selecting(axis: 0, index: i), saliency: map.values, classIndex: classes[i])
            return MetricResult(value: CausalCurve.area(scores), curve: scores, warnings: map.warnings)
        }
    }
}
