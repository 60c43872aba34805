import FovExModels
import FovExTensor

/// Average % Increase (Chattopadhyay et al.): per image 100 · 1[O > Y] (Y, O as in ``AverageDrop``);
/// the table value is the mean over images, i.e. the percentage of images whose class probability
/// rose under the mask. Higher is better.
public struct AverageIncrease: ModelMetric {
    /// Images per forward pass.
    public var batchSize: Int

    /// Average increase running the masked images `batchSize` at a time.
    public init(batchSize: Int = 8) {
        precondition(batchSize > 0, "average_increase needs a positive batch size")
        self.batchSize = batchSize
    }

    public var name: String { "average_increase" }
    public var direction: MetricDirection { .higherIsBetter }
    public var options: [String: String] { ["average_increase_score": "softmax probability"] }

    public func evaluate(model: ImageClassifier, pixels: Tensor, maps: Tensor, classes: [Int]) -> [MetricResult] {
        let (y, o, warnings) = cleanAndMaskedScores(model: model, pixels: pixels, maps: maps, classes: classes,
                                                    batchSize: batchSize, metric: name)
        return y.indices.map { MetricResult(value: o[$0] > y[$0] ? 100 : 0, warnings: warnings[$0]) }
    }
}
