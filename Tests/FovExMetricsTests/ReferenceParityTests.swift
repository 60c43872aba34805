import XCTest
import FovExCheckpoints
import FovExModels
@testable import FovExMetrics
import FovExTensor

/// Parity with reference implementations (tools/make_metric_fixtures.py): the MIT saliency
/// benchmark's NSS, AUC-Judd, CC and KLD, the exact shuffled AUC, and RISE's CausalMetric for
/// deletion and insertion on a tiny random conv net.
final class ReferenceParityTests: XCTestCase {
    func fixture() throws -> SafetensorsReader {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return try SafetensorsReader(url: dir.appendingPathComponent("metrics_reference.safetensors"))
    }

    func tensor(_ r: SafetensorsReader, _ name: String) throws -> Tensor {
        let t = try r.tensor(named: name)
        return Tensor(shape: t.shape, scalars: t.values)
    }

    func points(_ t: Tensor) -> [PixelPoint] {
        stride(from: 0, to: t.scalars.count, by: 2).map { PixelPoint(x: Int(t.scalars[$0]), y: Int(t.scalars[$0 + 1])) }
    }

    func testGazeMetricsMatchTheMITBenchmark() throws {
        let r = try fixture()
        let sigma = try tensor(r, "gaze_fixation_sigma").scalar
        let metrics: [(String, GazeMetric, Double)] = [
            // The fixture's NSS is MIT's formula with ddof 0 on a bilinear resize (pysaliency's on distinct
            // fixations); its AUC-Judd MIT's without jitter, fed the bilinearly resized map below.
            ("nss", DistinctNSS(), 1e-4), ("auc", BilinearAUC(), 1e-5), ("cc", CorrelationCoefficient(fixationSigma: sigma), 1e-4),
            ("kld", KLDivergence(fixationSigma: sigma), 1e-4), ("sauc", ShuffledAUC(), 1e-6),
        ]
        for k in 0..<4 {
            let map = try tensor(r, "gaze\(k)_map"), size = try tensor(r, "gaze\(k)_size").scalars.map { Int($0) }
            let fixations = points(try tensor(r, "gaze\(k)_fixations"))
            let negatives = points(try tensor(r, "gaze\(k)_negatives"))
            for (key, metric, tolerance) in metrics {
                let result = metric.evaluate(map: map, imageHeight: size[0], imageWidth: size[1], fixations: fixations,
                                             otherFixations: negatives)
                let expected = Double(try tensor(r, "gaze\(k)_\(key)").scalar)
                XCTAssertEqual(result.value, expected, accuracy: tolerance * max(1, abs(expected)), "\(key), image \(k)")
                XCTAssertTrue(result.warnings.isEmpty, "\(key), image \(k): \(result.warnings)")
            }
        }
    }

    /// pysaliency's NSS (ddof 0, bilinear) with each fixated pixel once, as the fixture's binary map counts it.
    struct DistinctNSS: GazeMetric {
        var name: String { "nss" }
        var direction: MetricDirection { .higherIsBetter }
        var options: [String: String] { [:] }
        func evaluate(map: Tensor, fixations: [PixelPoint], otherFixations: [PixelPoint]) -> MetricResult {
            var seen = Set<PixelPoint>()
            return NSS(convention: .pysaliency).evaluate(map: map, fixations: fixations.filter { seen.insert($0).inserted },
                                                         otherFixations: [])
        }
    }

    /// MIT's AUC-Judd without jitter, on a map resized as the fixture resizes it (bilinear).
    struct BilinearAUC: GazeMetric {
        var name: String { "auc_judd" }
        var direction: MetricDirection { .higherIsBetter }
        var options: [String: String] { [:] }
        func evaluate(map: Tensor, fixations: [PixelPoint], otherFixations: [PixelPoint]) -> MetricResult {
            AUCJudd(convention: .mit, jitter: 0).evaluate(map: map, fixations: fixations, otherFixations: otherFixations)
        }
    }

    /// conv 3→6 (3×3, pad 1) → ReLU → global mean → linear 6→5, normalised inside as every ImageClassifier is.
    final class TinyConvNet: ImageClassifier {
        let convW: Tensor, convB: Tensor, fcW: Tensor, fcB: Tensor, mean: [Float], std: [Float], size: Int
        init(convW: Tensor, convB: Tensor, fcW: Tensor, fcB: Tensor, mean: [Float], std: [Float], size: Int) {
            (self.convW, self.convB, self.fcW, self.fcB) = (convW, convB, fcW, fcB)
            (self.mean, self.std, self.size) = (mean, std, size)
        }
        var identity: ModelIdentity { ModelIdentity(architecture: "tiny-conv", weights: "fixture") }
        var preprocessing: Preprocessing {
            Preprocessing(geometry: .direct(size: size), interpolation: .bilinear, antialias: false, mean: mean, std: std)
        }
        var classNames: [String] { (0..<5).map(String.init) }
        var innerPoints: [String] { [] }
        var defaultCAMPoint: String { "" }
        func forward(_ pixels: Tensor, capturing points: Set<String>) -> ClassifierOutput {
            let x = preprocessing.normalized(pixels)
            let y = x.conv2d(weight: convW, bias: convB, padding: .symmetric(1)).relu().mean(alongAxes: [2, 3])
            return ClassifierOutput(logits: y.linear(weight: fcW, bias: fcB), captured: [:])
        }
    }

    func testDeletionAndInsertionMatchRISECausalMetric() throws {
        let r = try fixture()
        let x = try tensor(r, "causal_x"), saliency = try tensor(r, "causal_saliency")
        let model = TinyConvNet(convW: try tensor(r, "causal_conv_w"), convB: try tensor(r, "causal_conv_b"),
                                fcW: try tensor(r, "causal_fc_w"), fcB: try tensor(r, "causal_fc_b"),
                                mean: try tensor(r, "causal_mean").scalars, std: try tensor(r, "causal_std").scalars,
                                size: x.shape[2])
        let labels = try tensor(r, "causal_labels").scalars.map { Int($0) }
        let step = Int(try tensor(r, "causal_step").scalar)
        let logits = withoutGradients { model.logits(x) }
        XCTAssertEqual(logits.argmax(alongAxis: 1), labels, "the net's predictions differ from the reference")
        let runs: [(String, ModelMetric)] = [
            ("deletion", DeletionMetric(step: step, batchSize: 4)),
            ("insertion", InsertionMetric(step: step, batchSize: 7)),
            ("insertion_zeros", InsertionMetric(step: step, batchSize: 30, blurPadding: .zeros)),
        ]
        for (key, metric) in runs {
            let results = metric.evaluate(model: model, pixels: x, maps: saliency, classes: labels)
            XCTAssertEqual(results.count, labels.count)
            for (j, result) in results.enumerated() {
                let curve = try XCTUnwrap(result.curve)
                let expected = try tensor(r, "causal\(j)_\(key)_curve").scalars
                XCTAssertEqual(curve.count, expected.count, "\(key), image \(j)")
                for (a, b) in zip(curve, expected) { XCTAssertEqual(a, Double(b), accuracy: 1e-5, "\(key), image \(j)") }
                XCTAssertEqual(result.value, Double(try tensor(r, "causal\(j)_\(key)_auc").scalar), accuracy: 1e-5,
                               "\(key), image \(j)")
            }
        }
    }
}
