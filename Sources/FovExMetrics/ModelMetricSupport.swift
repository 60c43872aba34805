import FovExModels
import FovExTensor

/// Per-image saliency for a model metric: NaN read as 0, resized to the input's S×S when the
/// explainer's grid differs, and the warnings found on the way.
func inputSizedMaps(_ maps: Tensor, height: Int, width: Int, metric: String) -> [(values: [Float], warnings: [String])] {
    precondition(maps.rank == 3, "\(metric): maps must be [N, h, w], got shape \(maps.shape)")
    return (0..<maps.shape[0]).map { i in
        let map = maps.selecting(axis: 0, index: i)
        let (v, warnings, _) = MapCheck.cleaned(map, metric: metric)
        return (MapCheck.resized(v, from: (map.shape[0], map.shape[1]), to: (height, width)), warnings)
    }
}

/// Class probabilities [N, classes] of a batch, run through the model `batchSize` images at a time
/// so that memory stays bounded however many images are scored.
func probabilities(of model: ImageClassifier, _ pixels: Tensor, batchSize: Int) -> Tensor {
    let n = pixels.shape[0]
    guard n > batchSize else { return withoutGradients { model.probabilities(pixels) } }
    let parts = stride(from: 0, to: n, by: batchSize).map { start in
        withoutGradients { model.probabilities(pixels.sliced(axis: 0, start..<Swift.min(start + batchSize, n))) }
    }
    return Tensor.concatenate(parts, axis: 0)
}

/// Whose protocol average drop and average increase follow.
public enum DropConvention: String, Sendable, Codable, CaseIterable {
    /// Grad-CAM++ (Chattopadhay et al., 2018), the paper's: O on the [0, 1] image multiplied by the
    /// map; drop = 100 · max(0, Y − O) / Y.
    case gradcamPlusPlus = "gradcam++"
    /// As Grad-CAM++ with the map kept only where it reaches its median (the top 50 % of its pixels),
    /// zero elsewhere: the form Score-CAM and Relevance-CAM evaluations report.
    case top50
    /// pytorch-grad-cam (`metrics/cam_mult_image.py`): the map multiplies the *normalised* input
    /// ((x − mean)/std · E, so in [0, 1] pixels mean + (x − mean) · E) and `DropInConfidence` is the
    /// absolute max(0, Y − O), here × 100, not divided by Y.
    case normalised
}

/// The map as the convention applies it: top50 zeroes the pixels below the map's median (numpy's
/// 50th percentile, the mean of the two middle values for an even count).
func conventionMask(_ values: [Float], convention: DropConvention) -> [Float] {
    guard convention == .top50, !values.isEmpty else { return values }
    let sorted = values.sorted()
    let n = sorted.count
    let median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    return values.map { $0 >= median ? $0 : 0 }
}

/// Probabilities of each image's class on the clean image (Y) and on the image multiplied by its
/// map (O), the map clamped to [0, 1], shaped by `convention` and broadcast over the channels.
func cleanAndMaskedScores(model: ImageClassifier, pixels: Tensor, maps: Tensor, classes: [Int], batchSize: Int,
                          metric: String, convention: DropConvention = .gradcamPlusPlus)
    -> (y: [Float], o: [Float], warnings: [[String]]) {
    let (n, h, w) = (pixels.shape[0], pixels.shape[2], pixels.shape[3])
    precondition(maps.shape[0] == n && classes.count == n,
                 "\(metric): \(n) images, \(maps.shape[0]) maps and \(classes.count) classes must agree")
    var masks: [Float] = [], warnings: [[String]] = []
    for (values, found) in inputSizedMaps(maps, height: h, width: w, metric: metric) {
        let (clamped, clampWarnings) = MapCheck.unitInterval(values, metric: metric)
        masks += conventionMask(clamped, convention: convention)
        warnings.append(found + clampWarnings)
    }
    let clean = probabilities(of: model, pixels, batchSize: batchSize)
    let e = Tensor(shape: [n, 1, h, w], scalars: masks)
    let masked: Tensor
    if convention == .normalised {
        let mean = Tensor(shape: [1, 3, 1, 1], scalars: model.preprocessing.mean)
        masked = mean + (pixels - mean) * e
    } else {
        masked = pixels * e
    }
    let o = probabilities(of: model, masked, batchSize: batchSize)
    return ((0..<n).map { clean[$0, classes[$0]] }, (0..<n).map { o[$0, classes[$0]] }, warnings)
}
