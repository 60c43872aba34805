// explain-photo: FovEx used as a library. Loads EfficientNet-Lite0 from the weights cache, explains one
// photo with FovEx and Grad-CAM, scores both maps with two faithfulness metrics, and writes overlays.
//
//     swift run -c release explain-photo [PHOTO] [--out DIR] [--random-weights SEED]
//
// Exit status: 0 done; 1 bad input or a failure on the way; 3 the weights are not in the cache (run
// `fovex models fetch efficientnet-lite0`, or pass --random-weights SEED to try the API without them).
import Foundation
import FovExExplainers
import FovExImaging
import FovExMetrics
import FovExModels
import FovExTensor
import FovExWeights

/// Prints to standard error and exits with `status`.
func fail(_ message: String, status: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data("explain-photo: \(message)\n".utf8))
    exit(status)
}

// Arguments: a photo (default: the repository's sample cat), --out DIR, --random-weights SEED.
var photoPath = "../../docs/samples/chelsea.png"
var outPath = "explain-photo-output"
var randomSeed: UInt64?
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--out":
        guard let value = arguments.popFirst() else { fail("--out needs a directory") }
        outPath = value
    case "--random-weights":
        guard let value = arguments.popFirst(), let seed = UInt64(value) else { fail("--random-weights needs a seed (an integer ≥ 0)") }
        randomSeed = seed
    case "-h", "--help":
        print("usage: explain-photo [PHOTO] [--out DIR] [--random-weights SEED]")
        exit(0)
    default:
        if argument.hasPrefix("-") { fail("unknown option \(argument); see --help") }
        photoPath = argument
    }
}

do {
    // 1. The model: EfficientNet-Lite0 with the weights `fovex models fetch efficientnet-lite0` put in the
    //    cache ($FOVEX_CACHE, default ~/.cache/fovex); its SHA-256 is checked against the one recorded then.
    let model: any ImageClassifier
    if let randomSeed {
        model = try ModelRegistry.randomModel("efficientnet-lite0", seed: randomSeed)
        print("Using random weights (seed \(randomSeed)): the API runs end to end, but the maps explain noise.")
    } else {
        do {
            model = try ModelRegistry.cachedModel("efficientnet-lite0")
        } catch WeightsError.notCached(let name, let cache) {
            fail("""
                the weights of \(name) are not in the cache \(cache).
                Fetch them once with `fovex models fetch \(name)` (from the repository: \
                `swift build -c release --product fovex && .build/release/fovex models fetch \(name)`), \
                or pass --random-weights SEED to run this example with random weights.
                """, status: 3)
        }
    }

    // 2. The photo, prepared the paper's way: resized straight to the model's square input (so maps and
    //    the scanpath line up with the whole photo), values in [0, 1]; the model normalises them itself.
    let photo = try RGBImage(contentsOf: URL(fileURLWithPath: photoPath))
    var preparation = model.preprocessing
    preparation.geometry = .direct(size: model.preprocessing.inputSize)
    let pixels = preparation.input(for: photo)

    // 3. Two explainers behind the one `Explainer` protocol; FovEx with the paper's defaults.
    let explainers: [any Explainer] = [FovEx(), GradCAM()]
    let explanations = try explainers.map { try $0.explain(pixels, model: model, classes: nil)[0] }
    let predicted = explanations[0].classIndex
    print("\(URL(fileURLWithPath: photoPath).lastPathComponent): \(model.classNames[predicted]) "
          + "(\(String(format: "%.1f", explanations[0].probability * 100)) %)")

    // 4. Two faithfulness metrics. Both run the model on the photo changed according to the map: average
    //    drop keeps only what the map highlights, deletion removes the most important pixels first. Every
    //    metric takes one `MetricSample` (a gaze metric would find its fixations in `annotations`).
    let metrics: [any Metric] = [AverageDrop(), DeletionMetric(step: 448)]
    let outDirectory = URL(fileURLWithPath: outPath)
    try FileManager.default.createDirectory(at: outDirectory, withIntermediateDirectories: true)
    for explanation in explanations {
        let sample = MetricSample(model: model, pixels: pixels, map: explanation.map, classIndex: explanation.classIndex)
        let scores = metrics.map { metric -> String in
            let result = metric.measure(sample)
            let value = result.isMissing ? "missing (\(result.missingReason ?? "undefined"))" : String(format: "%.4f", result.value)
            return "\(metric.name) \(metric.direction.arrow) \(value)"
        }

        // 5. The overlay at the photo's own resolution, with FovEx's scanpath drawn as numbered fixations.
        let size = explanation.map.shape[0]
        let heatmap = FloatMap(explanation.map).resized(width: photo.width, height: photo.height)
        var picture = overlay(heatmap: heatmap, on: photo)
        let scanpath = explanation.attachment(Scanpath.self)?.fixations ?? []   // FovEx attaches its scanpath
        let fixations = scanpath.map { fixation -> ImagePoint in
            let p = fixation.pixel(width: photo.width, height: photo.height, inputSize: size)
            return ImagePoint(x: p.x, y: p.y)
        }
        if !fixations.isEmpty { picture.drawScanpath(fixations) }
        let file = outDirectory.appendingPathComponent("\(explanation.method).overlay.png")
        try picture.writePNG(to: file)
        print("  \(explanation.method): \(scores.joined(separator: ", ")) → \(file.path)")
    }
} catch {
    fail("\(error)")
}
