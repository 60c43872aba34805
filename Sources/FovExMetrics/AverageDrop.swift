import FovExModels
import FovExTensor

/// Average % Drop (Chattopadhyay et al.): per image 100 · max(0, Y − O) / Y, with Y = p_c(x) and
/// O = p_c(E ⊙ x), E the map (clamped to [0, 1]) broadcast over the channels; the table value is the
/// mean over images. An image with Y = 0 has no value. Lower is better.
public struct AverageDrop: ModelMetric {
    /// Images per forward pass.
    public var batchSize: Int

    /// Average drop running the masked images `batchSize` at a time.
    public init(batchSize: Int = 8) {
        precondition(batchSize > 0, "average_drop needs a positive batch size")
        self.batchSize = batchSize
    }

    public var name: String { "average_drop" }
    public var direction: MetricDirection { .lowerIsBetter }
    public var options: [String: String] { ["average_drop_score": "softmax probability"] }

    public func evaluate(model: ImageClassifier, pixels: Tensor, maps: Tensor, classes: [Int]) -> [MetricResult] {
        let (y, o, warnings) = cleanAndMaskedScores(model: model, pixels: pixels, maps: maps, classes: classes,
                                                    batchSize: batchSize, metric: name)
        return y.indices.map { i in
            guard y[i] > 0 else {
                return .missing("the class's probability on the clean image is 0", warnings: warnings[i])
            }
            return MetricResult(value: 100 * Double(Swift.max(0, y[i] - o[i])) / Double(y[i]), warnings: warnings[i])
        }
    }
}
