import XCTest
import FovExCheckpoints
import FovExModels
@testable import FovExMetrics
import FovExTensor

/// Parity with reference implementations (tools/make_metric_fixtures.py): the MIT saliency
/// benchmark's NSS and AUC-Judd, and RISE's CausalMetric for deletion and insertion.
final class ReferenceParityTests: XCTestCase {
    func fixture() throws -> SafetensorsReader {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return try SafetensorsReader(url: dir.appendingPathComponent("metrics_reference.safetensors"))
    }

    func tensor(_ r: SafetensorsReader, _ name: String) throws -> Tensor {
        let t = try r.tensor(named: name)
        return Tensor(shape: t.shape, scalars: t.values)
    }

    func testNSSAndAUCJuddMatchTheMITBenchmark() throws {
        let r = try fixture()
        for k in 0..<4 {
            let map = try tensor(r, "gaze\(k)_map"), fix = try tensor(r, "gaze\(k)_fix")
            let w = fix.shape[1]
            let points = fix.scalars.enumerated().filter { $0.element > 0 }.map { PixelPoint(x: $0.offset % w, y: $0.offset / w) }
            let nss = NSS().evaluate(map: map, fixations: points, otherFixations: []).value
            let auc = AUCJudd().evaluate(map: map, fixations: points, otherFixations: []).value
            XCTAssertEqual(nss, Double(try tensor(r, "gaze\(k)_nss").scalar), accuracy: 1e-4, "image \(k)")
            XCTAssertEqual(auc, Double(try tensor(r, "gaze\(k)_auc").scalar), accuracy: 1e-5, "image \(k)")
        }
    }

    final class LinearSoftmax: ImageClassifier {
        let w: Tensor, mean: [Float]
        init(w: Tensor, mean: [Float]) { self.w = w; self.mean = mean }
        var identity: ModelIdentity { ModelIdentity(architecture: "linear", weights: "fixture") }
        var preprocessing: Preprocessing {
            Preprocessing(geometry: .direct(size: 8), interpolation: .bilinear, antialias: false, mean: mean, std: [1, 1, 1])
        }
        var classNames: [String] { ["0", "1", "2", "3"] }
        var innerPoints: [String] { [] }
        var defaultCAMPoint: String { "" }
        func forward(_ pixels: Tensor, capturing points: Set<String>) -> ClassifierOutput {
            let n = pixels.shape[0]
            let x = preprocessing.normalized(pixels).reshaped([n, -1])
            return ClassifierOutput(logits: x.linear(weight: w), captured: [:])
        }
    }

    func testDeletionAndInsertionMatchRISECausalMetric() throws {
        let r = try fixture()
        let model = LinearSoftmax(w: try tensor(r, "causal_W"), mean: try tensor(r, "causal_mean").scalars)
        let x = try tensor(r, "causal_x"), saliency = try tensor(r, "causal_saliency").reshaped([1, 8, 8])
        let label = Int(try tensor(r, "causal_label").scalar)
        let del = DeletionMetric(step: 5, batchSize: 4).evaluate(model: model, pixels: x, maps: saliency, classes: [label])[0]
        let ins = InsertionMetric(step: 5, batchSize: 7).evaluate(model: model, pixels: x, maps: saliency, classes: [label])[0]
        let refDel = try tensor(r, "deletion_curve").scalars, refIns = try tensor(r, "insertion_curve").scalars
        XCTAssertEqual(del.curve!.count, refDel.count)
        XCTAssertEqual(ins.curve!.count, refIns.count)
        for (a, b) in zip(del.curve!, refDel) { XCTAssertEqual(a, Double(b), accuracy: 1e-5) }
        for (a, b) in zip(ins.curve!, refIns) { XCTAssertEqual(a, Double(b), accuracy: 1e-5) }
        XCTAssertEqual(del.value, Double(try tensor(r, "deletion_auc").scalar), accuracy: 1e-5)
        XCTAssertEqual(ins.value, Double(try tensor(r, "insertion_auc").scalar), accuracy: 1e-5)
    }
}
