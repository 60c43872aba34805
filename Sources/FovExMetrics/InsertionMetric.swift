import FovExModels
import FovExTensor

/// Insertion (Petsiuk et al., RISE): starting from a blurred copy of the image (Gaussian, kernel 11,
/// σ 5, in pixel space), the most salient original pixels are copied in, `step` per iteration; the
/// score is the area under the class-probability curve. Higher is better.
public struct InsertionMetric: ModelMetric {
    public var step: Int
    public var batchSize: Int
    public var blurKernelSize: Int
    public var blurSigma: Float

    public init(step: Int = 224, batchSize: Int = 32, blurKernelSize: Int = 11, blurSigma: Float = 5) {
        precondition(step > 0 && batchSize > 0, "insertion needs a positive step and batch size")
        self.step = step
        self.batchSize = batchSize
        self.blurKernelSize = blurKernelSize
        self.blurSigma = blurSigma
    }

    public var name: String { "insertion" }
    public var direction: MetricDirection { .higherIsBetter }
    public var options: [String: String] {
        ["insertion_step": "\(step)", "insertion_blur_kernel": "\(blurKernelSize)", "insertion_blur_sigma": "\(blurSigma)"]
    }

    public func evaluate(model: ImageClassifier, pixels: Tensor, maps: Tensor, classes: [Int]) -> [MetricResult] {
        let blurred = withoutGradients { pixels.gaussianBlurred(kernelSize: blurKernelSize, sigma: blurSigma) }
        let curve = CausalCurve(step: step, batchSize: batchSize)
        return (0..<pixels.shape[0]).map { i in
            let (saliency, warnings, _) = MapCheck.cleaned(maps.selecting(axis: 0, index: i), metric: name)
            let scores = curve.scores(model: model, start: blurred.selecting(axis: 0, index: i),
                                      finish: pixels.selecting(axis: 0, index: i), saliency: saliency, classIndex: classes[i])
            return MetricResult(value: CausalCurve.area(scores), curve: scores, warnings: warnings)
        }
    }
}
