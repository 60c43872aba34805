import FovExModels
import FovExTensor

/// Average % Increase (Chattopadhyay et al.): per image 100 · 1[O > Y] (Y, O as in ``AverageDrop``);
/// the table value is the mean over images, i.e. the percentage of images whose class probability
/// rose under the mask. Higher is better. ``convention`` shapes the masked image as for
/// ``AverageDrop``.
public struct AverageIncrease: ModelMetric {
    /// Images per forward pass.
    public var batchSize: Int
    /// Whose protocol the increase follows (Grad-CAM++'s, the paper's, by default).
    public var convention: DropConvention

    /// Average increase running the masked images `batchSize` at a time, under `convention`.
    public init(batchSize: Int = 8, convention: DropConvention = .gradcamPlusPlus) {
        precondition(batchSize > 0, "average_increase needs a positive batch size")
        self.batchSize = batchSize
        self.convention = convention
    }

    public var name: String { "average_increase" }
    public var direction: MetricDirection { .higherIsBetter }
    public var options: [String: String] {
        ["average_increase_score": "softmax probability", "average_increase_convention": convention.rawValue]
    }

    public func evaluate(model: ImageClassifier, pixels: Tensor, maps: Tensor, classes: [Int]) -> [MetricResult] {
        let (y, o, warnings) = cleanAndMaskedScores(model: model, pixels: pixels, maps: maps, classes: classes,
                                                    batchSize: batchSize, metric: name, convention: convention)
        return y.indices.map { MetricResult(value: o[$0] > y[$0] ? 100 : 0, warnings: warnings[$0]) }
    }
}
