// custom-model: explaining a network written here with FovEx's tensor operations. The network is a
// small CNN with its own deterministic random weights; swap in trained ones (e.g. from a safetensors
// file read with FovExCheckpoints) and nothing else changes.
//
//     swift run -c release custom-model [PHOTO] [--out DIR]
import Foundation
import FovExExplainers
import FovExImaging
import FovExModels
import FovExTensor

/// Three stride-2 convolution blocks, global average pooling and a linear head.
///
/// To be explainable it conforms to `ImageClassifier`: it says how images reach it (``preprocessing``),
/// normalises its [0, 1] input itself inside ``forward(_:capturing:)`` (explainers change pixels, not
/// normalised values), and names the inner points that CAM methods may read (``innerPoints``); `forward`
/// returns the tensors asked for by name, exactly as computed, so that gradients reach them.
final class SmallCNN: ImageClassifier {
    /// Output channels of the three blocks.
    static let widths = [16, 32, 64]
    let convolutions: [(weight: Tensor, bias: Tensor)]
    let head: (weight: Tensor, bias: Tensor)

    let identity: ModelIdentity
    let classNames = ["circle", "square", "stripes", "noise"]
    let preprocessing = Preprocessing(geometry: .direct(size: 64), interpolation: .bilinear, antialias: true,
                                      mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25])
    let innerPoints = ["block1", "block2", "block3"]
    /// The last spatial point: the coarsest map, but the one closest to the decision (Grad-CAM's choice).
    let defaultCAMPoint = "block3"

    /// He-initialised weights from a seeded generator: the same seed gives the same network.
    init(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        var inputs = 3
        var convolutions: [(Tensor, Tensor)] = []
        for width in Self.widths {
            let std = (2 / Float(inputs * 9)).squareRoot()
            convolutions.append((Tensor(randomNormal: [width, inputs, 3, 3], standardDeviation: std, generator: &generator),
                                 Tensor(zeros: [width])))
            inputs = width
        }
        self.convolutions = convolutions
        head = (Tensor(randomNormal: [4, inputs], standardDeviation: (1 / Float(inputs)).squareRoot(), generator: &generator),
                Tensor(zeros: [4]))
        identity = ModelIdentity(architecture: "small-cnn", weights: "random(seed: \(seed))")
    }

    func forward(_ pixels: Tensor, capturing points: Set<String>) -> ClassifierOutput {
        var x = preprocessing.normalized(pixels)
        var captured: [String: Tensor] = [:]
        for (i, convolution) in convolutions.enumerated() {
            x = x.conv2d(weight: convolution.weight, bias: convolution.bias, stride: 2, padding: .symmetric(1)).relu()
            let name = innerPoints[i]
            if points.contains(name) { captured[name] = x }
        }
        let logits = x.globalAvgPool2d().linear(weight: head.weight, bias: head.bias)
        return ClassifierOutput(logits: logits, captured: captured)
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("custom-model: \(message)\n".utf8))
    exit(1)
}

var photoPath = "../../docs/samples/coffee.png"
var outPath = "custom-model-output"
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--out":
        guard let value = arguments.popFirst() else { fail("--out needs a directory") }
        outPath = value
    case "-h", "--help":
        print("usage: custom-model [PHOTO] [--out DIR]")
        exit(0)
    default:
        if argument.hasPrefix("-") { fail("unknown option \(argument); see --help") }
        photoPath = argument
    }
}

do {
    let model = SmallCNN(seed: 7)
    let photo = try RGBImage(contentsOf: URL(fileURLWithPath: photoPath))
    let pixels = model.preprocessing.input(for: photo)
    print("\(model.identity.architecture) (\(model.identity.weights)) on \(URL(fileURLWithPath: photoPath).lastPathComponent); "
          + "methods that apply: \(ExplainerRegistry.names(validFor: model).joined(separator: ", "))")

    // Grad-CAM at each named point (finer points give finer, noisier maps), and FovEx, which needs
    // no inner point at all: it only moves a fovea over the pixels and follows the loss.
    var fovexOptions = FovEx.Options()
    fovexOptions.fixations = 5
    fovexOptions.blurKernelSize = 21
    fovexOptions.blurSigma = 5
    // Options are checked when a method is built: a value out of range throws InvalidOptionError.
    var explainers: [(label: String, explainer: any Explainer)] = try model.innerPoints.map {
        ("gradcam-\($0)", try GradCAM(options: .init(point: $0)))
    }
    explainers.append(("fovex", try FovEx(options: fovexOptions)))

    let outDirectory = URL(fileURLWithPath: outPath)
    try FileManager.default.createDirectory(at: outDirectory, withIntermediateDirectories: true)
    for (label, explainer) in explainers {
        let explanation = try explainer.explain(pixels, model: model, classes: nil)[0]
        let heatmap = FloatMap(explanation.map).resized(width: photo.width, height: photo.height)
        var picture = overlay(heatmap: heatmap, on: photo)
        let size = explanation.map.shape[0]
        let fixations = (explanation.attachment(Scanpath.self)?.fixations ?? []).map { f -> ImagePoint in
            let p = f.pixel(width: photo.width, height: photo.height, inputSize: size)
            return ImagePoint(x: p.x, y: p.y)
        }
        if !fixations.isEmpty { picture.drawScanpath(fixations) }
        let file = outDirectory.appendingPathComponent("\(label).overlay.png")
        try picture.writePNG(to: file)
        print("  \(label): class \(model.classNames[explanation.classIndex]) "
              + "(\(String(format: "%.1f", explanation.probability * 100)) %) → \(file.path)")
    }

    // Asking for a point the model does not name is an error that lists the ones it does.
    do {
        _ = try GradCAM(options: .init(point: "fc")).explain(pixels, model: model, classes: nil)
    } catch let error as ExplainerError {
        print("  as expected: \(error)")
    }
} catch {
    fail("\(error)")
}
