import FovExModels
import FovExTensor

/// Average % Increase (Chattopadhyay et al.): 100 · 1[O > Y] per image, averaged over images.
/// Higher is better.
public struct AverageIncrease: ModelMetric {
    public init() {}
    public var name: String { "average_increase" }
    public var direction: MetricDirection { .higherIsBetter }
    public var options: [String: String] { [:] }

    public func evaluate(model: ImageClassifier, pixels: Tensor, maps: Tensor, classes: [Int]) -> [MetricResult] {
        let (y, o) = cleanAndMaskedScores(model: model, pixels: pixels, maps: maps, classes: classes)
        return zip(y, o).map { y, o in MetricResult(value: o > y ? 100 : 0) }
    }
}
