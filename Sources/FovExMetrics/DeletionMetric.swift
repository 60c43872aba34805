import FovExModels
import FovExTensor

/// Deletion (Petsiuk et al., RISE): starting from the image, the most salient pixels are set to the
/// substrate — 0 in the model's normalised space, i.e. the data set's mean colour
/// (`preprocessing.mean`) in pixel space — `step` per iteration, all channels at once; after each
/// iteration the class probability is scored, n = ⌈HW / step⌉ iterations and n + 1 scores with the
/// start. The value is the trapezoid area (Σ s − s₀/2 − sₙ/2) / n; the curve is s₀…sₙ.
/// A constant map deletes in row-major order (ties keep index order), with a warning. Lower is better.
public struct DeletionMetric: ModelMetric {
    /// Pixels removed per iteration (224 by default, 225 forward passes at 224×224; 1792 is the
    /// cheaper option, 29 passes).
    public var step: Int
    /// Images per forward pass.
    public var batchSize: Int

    /// Deletion removing `step` pixels per iteration, scoring `batchSize` images per forward pass.
    public init(step: Int = 224, batchSize: Int = 8) {
        precondition(step > 0 && batchSize > 0, "deletion needs a positive step and batch size")
        self.step = step
        self.batchSize = batchSize
    }

    public var name: String { "deletion" }
    public var direction: MetricDirection { .lowerIsBetter }
    public var options: [String: String] {
        ["deletion_step": "\(step)", "deletion_substrate": "dataset mean colour (0 after normalisation)"]
    }

    public func evaluate(model: ImageClassifier, pixels: Tensor, maps: Tensor, classes: [Int]) -> [MetricResult] {
        let (h, w) = (pixels.shape[2], pixels.shape[3])
        let mean = model.preprocessing.mean
        precondition(mean.count == 3, "deletion: the model's preprocessing has \(mean.count) mean values, not 3")
        let substrate = Tensor(shape: [3, 1, 1], scalars: mean).broadcast(to: [3, h, w]).contiguous()
        let curve = CausalCurve(step: step, batchSize: batchSize)
        return inputSizedMaps(maps, height: h, width: w, metric: name).enumerated().map { i, map in
            let scores = curve.scores(model: model, start: pixels.selecting(axis: 0, index: i), finish: substrate,
                                      saliency: map.values, classIndex: classes[i])
            return MetricResult(value: CausalCurve.area(scores), curve: scores, warnings: map.warnings)
        }
    }
}
