import XCTest
// Plain imports on purpose: this file uses only the public API, as a user's own package would
// (docs "Explaining your own network"), so a helper that a custom model needs cannot go internal unnoticed.
import FovExExplainers
import FovExModels
import FovExTensor

/// A network written the way the "Explaining your own network" article shows: tensor ops, named inner
/// points, and hand-set weights so that what it looks at is known. Channel 0 of `detector` fires on
/// pixels that are clearly red (r − (g + b)/2 > 0.5), `pooled` is its 2×2 max pool, and the logit of
/// class 0 ("red thing") is the mean of that channel; class 1 ("background") is a constant.
private final class RedSpotNet: ImageClassifier {
    static let size = 32
    let detectorWeight: Tensor
    let detectorBias: Tensor
    let head: Tensor

    init() {
        // 3×3 kernels with only the centre tap set: channel 0 is r − (g + b)/2, channels 1–3 are
        // each colour on its own, so the network has more than one channel to weigh.
        var w = [Float](repeating: 0, count: 4 * 3 * 3 * 3)
        let centre = 4
        func set(_ o: Int, _ i: Int, _ v: Float) { w[(o * 3 + i) * 9 + centre] = v }
        set(0, 0, 1); set(0, 1, -0.5); set(0, 2, -0.5)
        set(1, 0, 1); set(2, 1, 1); set(3, 2, 1)
        detectorWeight = Tensor(shape: [4, 3, 3, 3], scalars: w)
        detectorBias = Tensor(shape: [4], scalars: [-0.5, 0, 0, 0])
        // The class-0 logit weighs the red detector strongly; the background logit is the bias.
        head = Tensor(shape: [2, 4], scalars: [200, 0, 0, 0, 0, 0, 0, 0])
    }

    let identity = ModelIdentity(architecture: "red-spot-net", weights: "hand-set")
    let preprocessing = Preprocessing(geometry: .direct(size: RedSpotNet.size), interpolation: .bilinear,
                                      antialias: false, mean: [0, 0, 0], std: [1, 1, 1])
    let classNames = ["red thing", "background"]
    let innerPoints = ["detector", "pooled"]
    let defaultCAMPoint = "pooled"

    func forward(_ pixels: Tensor, capturing points: Set<String>) -> ClassifierOutput {
        let detector = pixels.conv2d(weight: detectorWeight, bias: detectorBias, padding: .symmetric(1)).relu()
        let pooled = detector.maxPool2d(kernel: 2)
        let logits = pooled.globalAvgPool2d().linear(weight: head, bias: Tensor(shape: [2], scalars: [0, 1]))
        var captured: [String: Tensor] = [:]
        if points.contains("detector") { captured["detector"] = detector }
        if points.contains("pooled") { captured["pooled"] = pooled }
        return ClassifierOutput(logits: logits, captured: captured)
    }

    /// A grey image with a red 8×8 square whose top-left pixel is (row, col).
    static func photo(row: Int, col: Int) -> Tensor {
        var v = [Float](repeating: 0.4, count: 3 * size * size)
        for i in row..<(row + 8) { for j in col..<(col + 8) {
            v[i * size + j] = 1
            v[(size + i) * size + j] = 0.1
            v[(2 * size + i) * size + j] = 0.1
        }}
        return Tensor(shape: [1, 3, size, size], scalars: v)
    }
}

/// A model written by a user with the tensor ops can be explained by every method that applies to it.
final class CustomClassifierTests: XCTestCase {
    private let square = (row: 20, col: 4)

    /// Share of a [S, S] map's total inside the red square, grown by `margin` pixels.
    private func massInSquare(_ map: Tensor, margin: Int) -> Float {
        let s = map.shape[0], v = map.scalars
        var inside: Float = 0
        for i in max(0, square.row - margin)..<min(s, square.row + 8 + margin) {
            for j in max(0, square.col - margin)..<min(s, square.col + 8 + margin) { inside += v[i * s + j] }
        }
        return inside / max(v.reduce(0, +), .leastNormalMagnitude)
    }

    func testCAMMethodsFindTheRedSquareAtEitherNamedPoint() throws {
        let model = RedSpotNet()
        let pixels = RedSpotNet.photo(row: square.row, col: square.col)
        XCTAssertEqual(model.probabilities(pixels).argmax(alongAxis: 1), [0], "the hand-set net must see the square")
        for point in model.innerPoints {
            for explainer: Explainer in [try GradCAM(options: .init(point: point)),
                                         try GradCAMPlusPlus(options: .init(point: point))] {
                let e = try XCTUnwrap(explainer.explain(pixels, model: model, classes: nil).first)
                XCTAssertEqual(e.map.shape, [RedSpotNet.size, RedSpotNet.size])
                XCTAssertEqual(e.classIndex, 0)
                // Only the red channel's activations carry gradient, so the map lives on the square
                // (the 2×2 pool and the bilinear upsampling spread it by at most two pixels).
                XCTAssertGreaterThan(massInSquare(e.map, margin: 2), 0.95, "\(e.method) at \(point)")
            }
        }
    }

    func testFovExFixatesTheRedSquare() throws {
        let model = RedSpotNet()
        let pixels = RedSpotNet.photo(row: square.row, col: square.col)
        var options = FovEx.Options()
        options.fixations = 3
        options.stepsPerFixation = 10
        options.blurKernelSize = 15
        options.blurSigma = 4
        let search = try XCTUnwrap(try FovEx(options: options).scanpaths(pixels, model: model, classes: [0]).first)
        XCTAssertEqual(search.scanpath.count, 3)
        // Blurred, the square's red drops under the detector's threshold, so the loss is only low when
        // the fovea sits on it: the best fixation must be within the square (±3 px).
        let best = try XCTUnwrap(search.scanpath.min { $0.loss < $1.loss })
        let p = best.inputPixel(size: RedSpotNet.size)
        XCTAssertTrue((Float(square.col - 3)...Float(square.col + 10)).contains(p.x), "fixation x \(p.x)")
        XCTAssertTrue((Float(square.row - 3)...Float(square.row + 10)).contains(p.y), "fixation y \(p.y)")
    }

    func testRegistryOffersTheCNNMethodsAndNamesUnknownPoints() throws {
        let model = RedSpotNet()
        XCTAssertEqual(ExplainerRegistry.names(validFor: model),
                       ExplainerRegistry.names.filter { !ExplainerRegistry.tokenOnlyNames.contains($0) })
        let pixels = RedSpotNet.photo(row: 0, col: 0)
        XCTAssertThrowsError(try GradCAM(options: .init(point: "conv9")).explain(pixels, model: model, classes: nil)) {
            guard case let ExplainerError.unknownPoint(name, available) = $0 else {
                return XCTFail("expected unknownPoint, got \($0)")
            }
            XCTAssertEqual(name, "conv9")
            XCTAssertEqual(available, ["detector", "pooled"])
        }
        XCTAssertThrowsError(try ExplainerRegistry.explainer(named: "gae", for: model)) {
            XCTAssertTrue("\($0)".contains("not a token model"), "\($0)")
        }
    }
}
