import FovExModels
import FovExTensor

/// Probabilities of the class on the clean image (Y) and on the image multiplied by its map (O).
func cleanAndMaskedScores(model: ImageClassifier, pixels: Tensor, maps: Tensor, classes: [Int]) -> (y: [Float], o: [Float]) {
    withoutGradients {
        let n = pixels.shape[0]
        let clean = model.probabilities(pixels)
        let safeMaps = maps.contiguous().scalars.map { $0.isNaN ? 0 : $0 }
        let m = Tensor(shape: [n, 1, maps.shape[1], maps.shape[2]], scalars: safeMaps)
        let masked = model.probabilities(pixels * m)
        return ((0..<n).map { clean[$0, classes[$0]] }, (0..<n).map { masked[$0, classes[$0]] })
    }
}

/// Average % Drop (Chattopadhyay et al.): 100 · max(0, Y − O) / Y per image, averaged over images,
/// with Y = p_c(x) and O = p_c(E ⊙ x), E the map broadcast over the channels. Lower is better.
public struct AverageDrop: ModelMetric {
    public init() {}
    public var name: String { "average_drop" }
    public var direction: MetricDirection { .lowerIsBetter }
    public var options: [String: String] { [:] }

    public func evaluate(model: ImageClassifier, pixels: Tensor, maps: Tensor, classes: [Int]) -> [MetricResult] {
        let (y, o) = cleanAndMaskedScores(model: model, pixels: pixels, maps: maps, classes: classes)
        return zip(y, o).map { y, o in MetricResult(value: y > 0 ? 100 * Double(Swift.max(0, y - o) / y) : 0) }
    }
}
