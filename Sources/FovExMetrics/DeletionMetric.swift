import FovExModels
import FovExTensor

/// Deletion (Petsiuk et al., RISE): starting from the image, the most salient pixels are set to the
/// substrate — 0 in the model's normalised space, i.e. the data set's mean colour — `step` per
/// iteration; the score is the area under the class-probability curve. Lower is better.
public struct DeletionMetric: ModelMetric {
    /// Pixels removed per iteration (224 by default; 1792 as a cheaper option).
    public var step: Int
    /// Images per forward pass.
    public var batchSize: Int

    public init(step: Int = 224, batchSize: Int = 32) {
        precondition(step > 0 && batchSize > 0, "deletion needs a positive step and batch size")
        self.step = step
        self.batchSize = batchSize
    }

    public var name: String { "deletion" }
    public var direction: MetricDirection { .lowerIsBetter }
    public var options: [String: String] { ["deletion_step": "\(step)", "substrate": "dataset mean colour"] }

    public func evaluate(model: ImageClassifier, pixels: Tensor, maps: Tensor, classes: [Int]) -> [MetricResult] {
        let (h, w) = (pixels.shape[2], pixels.shape[3])
        let mean = model.preprocessing.mean
        let substrate = Tensor(shape: [3, 1, 1], scalars: mean).broadcast(to: [3, h, w]).contiguous()
        let curve = CausalCurve(step: step, batchSize: batchSize)
        return (0..<pixels.shape[0]).map { i in
            let (saliency, warnings, _) = MapCheck.cleaned(maps.selecting(axis: 0, index: i), metric: name)
            let scores = curve.scores(model: model, start: pixels.selecting(axis: 0, index: i), finish: substrate,
                                      saliency: saliency, classIndex: classes[i])
            return MetricResult(value: CausalCurve.area(scores), curve: scores, warnings: warnings)
        }
    }
}
