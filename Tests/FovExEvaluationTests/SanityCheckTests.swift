import Foundation
import XCTest
@testable import FovExEvaluation
import FovExExplainers
import FovExMetrics
import FovExModels
import FovExTensor

/// A small convolutional classifier (conv → tanh → conv → tanh → global mean → linear) on 32×32 inputs whose
/// layers re-initialise through ``ModelWeights``, as the built-in models do.
final class ToyLayeredNet: LayerRandomizable {
    static let specs = [
        ParameterSpec("conv1.weight", [8, 3, 3, 3], .weight), ParameterSpec("conv1.bias", [8], .bias),
        ParameterSpec("conv2.weight", [8, 8, 3, 3], .weight), ParameterSpec("conv2.bias", [8], .bias),
        ParameterSpec("fc.weight", [5, 8], .weight), ParameterSpec("fc.bias", [5], .bias),
    ]
    let weights: ModelWeights

    init(weights: ModelWeights) { self.weights = weights }
    convenience init(seed: UInt64) { self.init(weights: ModelWeights(random: ToyLayeredNet.specs, seed: seed)) }

    var identity: ModelIdentity { ModelIdentity(architecture: "toy-layered", weights: weights.source) }
    var preprocessing: Preprocessing {
        Preprocessing(geometry: .direct(size: 32), interpolation: .bilinear, antialias: false, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25])
    }
    var classNames: [String] { (0..<5).map { "class \($0)" } }
    var innerPoints: [String] { ["conv1", "conv2"] }
    var defaultCAMPoint: String { "conv2" }

    var layersTopDown: [ModelLayer] {
        ModelLayer.topDown(ToyLayeredNet.specs) { String($0.split(separator: ".")[0]) }
    }

    func randomizingLayers(_ count: Int, seed: UInt64) -> any ImageClassifier {
        ToyLayeredNet(weights: weights.redrawing(Array(layersTopDown.prefix(count)), specs: ToyLayeredNet.specs, seed: seed))
    }

    func forward(_ pixels: Tensor, capturing points: Set<String>) -> ClassifierOutput {
        let x = preprocessing.normalized(pixels)
        let c1 = x.conv2d(weight: weights["conv1.weight"], bias: weights["conv1.bias"], padding: .symmetric(1)).tanh()
        let c2 = c1.conv2d(weight: weights["conv2.weight"], bias: weights["conv2.bias"], padding: .symmetric(1)).tanh()
        var captured: [String: Tensor] = [:]
        if points.contains("conv1") { captured["conv1"] = c1 }
        if points.contains("conv2") { captured["conv2"] = c2 }
        return ClassifierOutput(logits: c2.mean(alongAxes: [2, 3]).linear(weight: weights["fc.weight"], bias: weights["fc.bias"]),
                                captured: captured)
    }
}

/// `SanityCheck` and `SanityReport` end to end on the toy model: Grad-CAM's maps change with the weights,
/// the image-independent baselines' do not, so the check passes the one and fails the others.
final class SanityCheckTests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("fovex-sanity-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func data() throws -> ImageNetDataset {
        let root = try DatasetFixtures.layout("imagenet-csv", in: tmp, images: [
            "images/a/x.png": (32, 32), "images/b/x.png": (40, 32), "images/c.png": (32, 48),
        ])
        return try ImageNetDataset(root: root, synsets: [:])
    }

    func configuration(_ check: SanityCheck) -> SanityConfiguration {
        SanityConfiguration(model: "toy-layered", weights: "random", weightsSHA256: nil, methods: check.explainers.map(\.name),
                            layers: check.model.layersTopDown.map(\.name), depths: check.depths, seed: check.seed, limit: nil,
                            correctOnly: false, options: [:], codeVersion: "test", dataset: check.data.identity)
    }

    func check(_ methods: String = "gradcam,uniform,centre", depths: [Int] = [1, 2, 3]) throws -> SanityCheck {
        let model = ToyLayeredNet(seed: 11)
        let data = try data()
        return SanityCheck(model: model, explainers: try ExplainerRegistry.explainers(methods, for: model), data: data,
                           imageIDs: data.imageIDs, depths: depths, seed: 7)
    }

    func testGradCAMChangesAndTheBaselinesDoNotSoTheCheckCanFail() throws {
        let c = try check()
        let dir = tmp.appendingPathComponent("run")
        let store = try SanityStore(directory: dir, configuration: configuration(c))
        var calls: [(Int, Int)] = []
        try c.run(into: store, progress: { calls.append(($0, $1)) })
        XCTAssertEqual(store.rows.count, 3 * 3 * 3)
        XCTAssertEqual(calls.last?.0, 9)
        XCTAssertEqual(Set(store.rows.map(\.layer)), ["fc", "conv2", "conv1"])
        for r in store.rows where r.method != "gradcam" {
            XCTAssertEqual(r.similarities.values, [1, 1, 1, 1], "\(r.method) at step \(r.depth) changed")
        }
        let full = store.rows.filter { $0.method == "gradcam" && $0.depth == 3 }
        XCTAssertEqual(full.count, 3)
        for r in full {
            // Every similarity is defined for these maps, and at full randomisation none is the identity's 1.
            for v in r.similarities.values { XCTAssertLessThan(try XCTUnwrap(v), 0.999, "\(r.image)") }
        }
        let report = try SanityReport(directory: dir, threshold: 0.5)
        XCTAssertEqual(report.verdict("uniform").0, .fail)
        XCTAssertEqual(report.verdict("centre").0, .fail)
        let gradcam = try XCTUnwrap(report.verdict("gradcam").1)
        XCTAssertEqual(report.verdict("gradcam").0, gradcam.mean < 0.5 ? .pass : .fail)
        XCTAssertEqual(gradcam.count, 3)
        XCTAssertEqual(gradcam.mean, full.map { $0.similarities.spearmanAbs! }.reduce(0, +) / 3, accuracy: 1e-12)
        XCTAssertLessThanOrEqual(gradcam.low, gradcam.mean)
        XCTAssertGreaterThanOrEqual(gradcam.high, gradcam.mean)
        // The verdict follows the threshold: at the method's own mean it fails, just above it passes; the
        // baselines fail under any threshold up to 1.
        XCTAssertEqual(try SanityReport(directory: dir, threshold: gradcam.mean).verdict("gradcam").0, .fail)
        XCTAssertEqual(try SanityReport(directory: dir, threshold: gradcam.mean + 0.01).verdict("gradcam").0, .pass)
        XCTAssertEqual(try SanityReport(directory: dir, threshold: 0.999).verdict("uniform").0, .fail)
    }

    func testReportWritesEveryOutput() throws {
        let c = try check(depths: [1, 3])
        let dir = tmp.appendingPathComponent("run")
        try c.run(into: try SanityStore(directory: dir, configuration: configuration(c)))
        let report = try SanityReport(directory: dir)
        try report.write()
        let csv = try String(contentsOf: dir.appendingPathComponent("similarities.csv"), encoding: .utf8)
        let lines = csv.split(separator: "\n")
        XCTAssertEqual(lines.first, "image,method,depth,layer,class,spearman_abs,spearman,ssim,hog")
        XCTAssertEqual(lines.count, 1 + 3 * 3 * 2)
        XCTAssertTrue(lines.contains { $0.hasPrefix("images/a/x.png,uniform,3,conv1,") && $0.hasSuffix(",1.0,1.0,1.0,1.0") }, csv)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("similarities.json"))) as? [String: Any]
        XCTAssertEqual((json?["rows"] as? [Any])?.count, 18)
        XCTAssertEqual((json?["verdicts"] as? [[String: Any]])?.first { $0["method"] as? String == "uniform" }?["verdict"] as? String, "fail")
        let md = try String(contentsOf: dir.appendingPathComponent("sanity.md"), encoding: .utf8)
        XCTAssertTrue(md.contains("| uniform | 1.000 [1.000, 1.000] (n 3) | fail |"), md)
        for name in SanitySimilarities.names {
            let svg = try String(contentsOf: dir.appendingPathComponent("\(name).svg"), encoding: .utf8)
            XCTAssertEqual(svg.components(separatedBy: "<polyline").count - 1, 3, "one line per method in \(name).svg")
            XCTAssertEqual(svg.components(separatedBy: "<polygon").count - 1, 3, "one interval band per method in \(name).svg")
        }
        let html = try String(contentsOf: dir.appendingPathComponent("sanity.html"), encoding: .utf8)
        // Two gallery images (the default), three methods, trained + two steps.
        XCTAssertEqual(html.components(separatedBy: "<td><img").count - 1, 2 * 3 * 3, html)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("gallery/images/a/x.png.gradcam.3.png").path))
    }

    func testResumesWithoutRecomputingAndRefusesOtherSettings() throws {
        let c = try check("gradcam,uniform", depths: [1, 2])
        let dir = tmp.appendingPathComponent("run")
        do {
            let store = try SanityStore(directory: dir, configuration: configuration(c))
            try c.run(into: store)
        }
        let full = try String(contentsOf: dir.appendingPathComponent("results.jsonl"), encoding: .utf8)
        // An interrupted run: the last row cut in the middle of its line.
        var lines = full.split(separator: "\n").map(String.init)
        let cut = lines.removeLast()
        try (lines.joined(separator: "\n") + "\n" + cut.prefix(20)).write(to: dir.appendingPathComponent("results.jsonl"),
                                                                           atomically: true, encoding: .utf8)
        do {
            let store = try SanityStore(directory: dir, configuration: configuration(c))
            XCTAssertEqual(store.rows.count, lines.count, "the partial line is dropped")
            try c.run(into: store)
            XCTAssertEqual(store.rows.count, lines.count + 1, "only the missing row is computed")
        }
        let resumed = try SanityStore.readRows(dir.appendingPathComponent("results.jsonl"))
        XCTAssertEqual(resumed.count, 3 * 2 * 2)
        XCTAssertEqual(resumed.last, try SanityStore.readRows(dir.appendingPathComponent("results.jsonl")).last)
        var other = configuration(c)
        other.depths = [1, 2, 3]
        XCTAssertThrowsError(try SanityStore(directory: dir, configuration: other)) { error in
            XCTAssertTrue("\(error)".contains("other settings"), "\(error)")
        }
    }
}
