import FovExModels
import FovExTensor

/// Average % Drop (Chattopadhyay et al.): per image 100 · max(0, Y − O) / Y, with Y = p_c(x) and
/// O = p_c(E ⊙ x), E the map (clamped to [0, 1]) broadcast over the channels; the table value is the
/// mean over images. An image with Y = 0 has no value. Lower is better. ``convention`` selects
/// Grad-CAM++'s form (the default, the paper's), the top-50 % map or pytorch-grad-cam's
/// normalised-space absolute drop (``DropConvention``).
public struct AverageDrop: ModelMetric {
    /// Images per forward pass.
    public var batchSize: Int
    /// Whose protocol the drop follows (Grad-CAM++'s, the paper's, by default).
    public var convention: DropConvention

    /// Average drop running the masked images `batchSize` at a time, under `convention`.
    public init(batchSize: Int = 8, convention: DropConvention = .gradcamPlusPlus) {
        precondition(batchSize > 0, "average_drop needs a positive batch size")
        self.batchSize = batchSize
        self.convention = convention
    }

    public var name: String { "average_drop" }
    public var direction: MetricDirection { .lowerIsBetter }
    public var options: [String: String] {
        ["average_drop_score": "softmax probability", "average_drop_convention": convention.rawValue]
    }

    public func evaluate(model: ImageClassifier, pixels: Tensor, maps: Tensor, classes: [Int]) -> [MetricResult] {
        let (y, o, warnings) = cleanAndMaskedScores(model: model, pixels: pixels, maps: maps, classes: classes,
                                                    batchSize: batchSize, metric: name, convention: convention)
        return y.indices.map { i in
            let drop = Double(Swift.max(0, y[i] - o[i]))
            if convention == .normalised { return MetricResult(value: 100 * drop, warnings: warnings[i]) }
            guard y[i] > 0 else {
                return .missing("the class's probability on the clean image is 0", warnings: warnings[i])
            }
            return MetricResult(value: 100 * drop / Double(y[i]), warnings: warnings[i])
        }
    }
}
