import Foundation
import XCTest
import FovExImaging
@testable import FovExModels
import FovExWeights
import FovExTensor

/// Real EfficientNet-Lite0 weights on the 1300 ImageNet validation images: top-1 must be within
/// 1082 ± 5 (the spec's independent measurement, with short side 256 bicubic + centre crop 224).
final class Lite0AccuracyTests: XCTestCase {
    /// $FOVEX_LITE0_WEIGHTS, else the weights cache's file for `efficientnet-lite0`.
    private func weightsFile() -> URL? {
        if let path = ProcessInfo.processInfo.environment["FOVEX_LITE0_WEIGHTS"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        guard let known = try? KnownWeights.named("efficientnet-lite0") else { return nil }
        let url = WeightsCache.fromEnvironment().url(for: known)
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }

    func testTop1OnImageNetVal1300() throws {
        let root = dataDirectory().appendingPathComponent("imagenet-val-1300")
        let labelsURL = root.appendingPathComponent("labels.csv")
        guard let labels = try? String(contentsOf: labelsURL, encoding: .utf8) else {
            throw XCTSkip("skipped: no ImageNet data at \(root.path) (set FOVEX_DATA)")
        }
        guard let weights = weightsFile() else {
            throw XCTSkip("skipped: no EfficientNet-Lite0 weights (set FOVEX_LITE0_WEIGHTS, or run `fovex models fetch efficientnet-lite0`)")
        }
        let model = try ModelRegistry.model("efficientnet-lite0", weightsFile: weights)
        let rows = labels.split(whereSeparator: \.isNewline).dropFirst().map { $0.split(separator: ",") }
        XCTAssertEqual(rows.count, 1300)

        var top1 = 0, top5 = 0
        let batchSize = 25
        for start in stride(from: 0, to: rows.count, by: batchSize) {
            let batch = rows[start..<min(start + batchSize, rows.count)]
            let images = try batch.map { try RGBImage(contentsOf: root.appendingPathComponent("images/\($0[0])")) }
            let logits = withoutGradients { model.logits(model.preprocessing.batch(for: images)) }.scalars
            for (i, row) in batch.enumerated() {
                let label = Int(row[1])!
                let scores = logits[(i * 1000)..<((i + 1) * 1000)]
                let rank = scores.filter { $0 > scores[scores.startIndex + label] }.count
                if rank == 0 { top1 += 1 }
                if rank < 5 { top5 += 1 }
            }
        }
        print("EfficientNet-Lite0 on imagenet-val-1300: top-1 \(top1)/1300, top-5 \(top5)/1300")
        XCTAssertLessThanOrEqual(abs(top1 - 1082), 5, "top-1 \(top1)/1300, expected 1082 ± 5")
    }
}
