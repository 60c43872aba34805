import Foundation
import FovExExplainers
import FovExImaging
import FovExModels
import FovExONNX
import FovExTensor
import FovExWeights
import XCTest

/// EfficientNet-Lite0's real weights exported to ONNX by tools/export_lite0_onnx.py (an independent PyTorch
/// build of the network) against the built-in Lite0: the same top-5 on ImageNet validation images and the
/// same FovEx scanpaths on 10 of them. Skipped unless $FOVEX_LITE0_ONNX names the exported file (19 MB, not
/// committed); $FOVEX_LITE0_IMAGES sets how many images the top-5 check reads (default 100).
final class ONNXLite0ExportTests: XCTestCase {
    func testExportedLite0ClassifiesAndExplainsAsTheBuiltIn() throws {
        let environment = ProcessInfo.processInfo.environment
        guard let path = environment["FOVEX_LITE0_ONNX"], !path.isEmpty else {
            throw XCTSkip("skipped: set FOVEX_LITE0_ONNX to the file `tools/export_lite0_onnx.py WEIGHTS FILE` writes")
        }
        let root = dataDirectory().appendingPathComponent("imagenet-val-1300")
        guard let labels = try? String(contentsOf: root.appendingPathComponent("labels.csv"), encoding: .utf8) else {
            throw XCTSkip("skipped: no ImageNet data at \(root.path) (set FOVEX_DATA)")
        }
        let known = try KnownWeights.named("efficientnet-lite0")
        let weights = WeightsCache.fromEnvironment().url(for: known)
        guard FileManager.default.fileExists(atPath: weights.path) else {
            throw XCTSkip("skipped: no EfficientNet-Lite0 weights (run `fovex models fetch efficientnet-lite0`)")
        }
        let builtIn = try ModelRegistry.model("efficientnet-lite0", weightsFile: weights)
        // The built-in model's preparation (short side 256 bicubic, centre crop 224, Lite's normalisation):
        // the exported graph starts at the first convolution, as torchvision's exports do.
        let exported = try ONNXClassifier(contentsOf: URL(fileURLWithPath: path), preprocessing: builtIn.preprocessing)
        XCTAssertEqual(exported.classNames, builtIn.classNames)

        let count = Int(environment["FOVEX_LITE0_IMAGES"] ?? "") ?? 100
        let files = labels.split(whereSeparator: \.isNewline).dropFirst().prefix(count).map { String($0.split(separator: ",")[0]) }
        let photos = try files.map { try RGBImage(contentsOf: root.appendingPathComponent("images/\($0)")) }
        var sameTop5 = 0, worst: Float = 0
        for start in stride(from: 0, to: photos.count, by: 25) {
            let batch = builtIn.preprocessing.batch(for: Array(photos[start..<min(start + 25, photos.count)]))
            let (a, b) = withoutGradients { (builtIn.logits(batch), exported.logits(batch)) }
            worst = max(worst, relativeError(b, a))
            for i in 0..<batch.shape[0] {
                if top5(a, row: i) == top5(b, row: i) { sameTop5 += 1 }
            }
        }
        print("Lite0 exported to ONNX: the same ordered top-5 on \(sameTop5)/\(photos.count) images, logits max |Δ| / max |ref| \(worst)")
        XCTAssertEqual(sameTop5, photos.count)
        XCTAssertLessThanOrEqual(worst, 1e-4)

        // Explanations resize the whole image to the input (the paper's geometry), for both models alike.
        var geometry = builtIn.preprocessing
        geometry.geometry = .direct(size: geometry.inputSize)
        let pixels = geometry.batch(for: Array(photos.prefix(10)))
        let fovex = FovEx()
        let reference = try fovex.scanpaths(pixels, model: builtIn, classes: nil)
        let onnx = try fovex.scanpaths(pixels, model: exported, classes: nil)
        var largest: Float = 0, fixations = 0, close = 0
        for (r, o) in zip(reference, onnx) {
            XCTAssertEqual(r.classIndex, o.classIndex)
            XCTAssertEqual(r.scanpath.count, o.scanpath.count)
            for (f, g) in zip(r.scanpath, o.scanpath) {
                let difference = max(abs(f.row - g.row), abs(f.col - g.col))
                largest = max(largest, difference)
                fixations += 1
                if difference <= 0.01 { close += 1 }
            }
        }
        // 0.009 is one input pixel in FovEx's normalised units (2 / 223).
        print("Lite0 exported to ONNX: FovEx scanpaths of 10 images, \(close)/\(fixations) fixations within 0.01 "
            + "(max of |Δrow|, |Δcol|, normalised units), largest difference \(largest)")
        XCTAssertLessThanOrEqual(largest, 0.009)
    }

    private func top5(_ logits: Tensor, row: Int) -> [Int] {
        let scores = logits.sliced(axis: 0, row..<(row + 1)).contiguous().scalars
        return Array(scores.indices.sorted { scores[$0] > scores[$1] }.prefix(5))
    }
}
