import Foundation
import XCTest
@testable import FovExEvaluation
import FovExExplainers
import FovExImaging
import FovExMetrics
import FovExModels
import FovExTensor

/// Observer scanpaths from fixations.csv, the scanpath protocol end to end on a tiny data set (random
/// EfficientNet-Lite0 weights), and the animated scanpath that `explain` writes.
final class ScanpathEvaluationTests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("fovex-scanpath-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp.appendingPathComponent("images"), withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func writeCSV(_ lines: [String]) throws {
        try (["image,subject,order,x,y,duration_ms"] + lines).joined(separator: "\n")
            .write(to: tmp.appendingPathComponent("fixations.csv"), atomically: true, encoding: .utf8)
    }

    func testObserversKeepOrDropTheFirstFixation() throws {
        for name in ["a.png", "b.png"] { try RGBImage(width: 10, height: 10).writePNG(to: tmp.appendingPathComponent("images/\(name)")) }
        try writeCSV(["a.png,10,1,5,6,200", "a.png,2,0,1,1,100", "a.png,10,0,3,4,150", "b.png,2,0,7,7,90", "a.png,2,1,2,2,120"])
        let data = try GazeDataset(root: tmp)
        let a = try XCTUnwrap(data.items.first { $0.file.lastPathComponent == "a.png" })
        let b = try XCTUnwrap(data.items.first { $0.file.lastPathComponent == "b.png" })
        let kept = ScanpathEvaluator.observers(a, firstFixation: .keep)
        XCTAssertEqual(kept.map(\.observer), ["10", "2"])  // order of first appearance in the file
        XCTAssertEqual(kept[0].fixations, [ScanpathPoint(x: 3, y: 4, duration: 150), ScanpathPoint(x: 5, y: 6, duration: 200)])
        let dropped = ScanpathEvaluator.observers(a, firstFixation: .drop)
        XCTAssertEqual(dropped[1].fixations, [ScanpathPoint(x: 2, y: 2, duration: 120)])
        XCTAssertTrue(ScanpathEvaluator.observers(b, firstFixation: .drop).isEmpty)  // its only fixation was the first
        // Spread of x/width: values 0.3, 0.5, 0.1, 0.2, 0.7 have a sample standard deviation of √0.058.
        XCTAssertEqual(ScanpathEvaluator.spread(data, firstFixation: .keep).x, 0.058.squareRoot(), accuracy: 1e-12)
    }

    /// Two 80×80 images; on each, observers 1 and 2 make the same scanpath through grid cells 0, 5, 10
    /// and observer 3 makes 4 fixations in cell 15 (3 substitutions and an insertion away), so the
    /// leave-one-out string edit distances are known by hand: observers 1 and 2: (0 + 4) / 2, observer 3:
    /// (4 + 4) / 2 — mean 8/3.
    func makeDataSet() throws {
        for name in ["p.png", "q.png"] {
            var image = RGBImage(width: 80, height: 80, color: .white)
            image.drawCircle(center: ImagePoint(x: 20, y: 60), radius: 10, fill: .red, outline: .black, outlineWidth: 1)
            try image.writePNG(to: tmp.appendingPathComponent("images").appendingPathComponent(name))
        }
        var lines: [String] = []
        for image in ["p.png", "q.png"] {
            for s in [1, 2] {
                for (k, c) in [10, 30, 50].enumerated() { lines.append("\(image),\(s),\(k),\(c),\(c),\(100 + 10 * k)") }
            }
            for k in 0..<4 { lines.append("\(image),3,\(k),\(70 - k),70,200") }
        }
        try writeCSV(lines)
    }

    func evaluator(length: ScanpathLength = .fovex, seed: UInt64 = 42) throws -> ScanpathEvaluator {
        let model = try ModelRegistry.randomModel("efficientnet-lite0", seed: 1)
        var fovex = FovEx.Options()
        fovex.fixations = 3
        fovex.stepsPerFixation = 2
        var e = try ScanpathEvaluator(model: model, data: try GazeDataset(root: tmp),
                                      methods: ScanpathEvaluator.defaultMethods,
                                      metrics: ScanpathMetricRegistry.names.compactMap(ScanpathMetricRegistry.metric(named:)),
                                      fovexOptions: fovex, explainerOptions: ExplainerRegistry.Options(),
                                      selection: Selection(seed: seed), seed: seed)
        e.length = length
        return e
    }

    func store(_ name: String, methods: [String]) throws -> RunStore {
        try RunStore(directory: tmp.appendingPathComponent(name),
                     configuration: RunConfiguration(model: "toy", weights: "random", weightsSHA256: nil, dataKind: "gaze",
                                                     methods: methods, metrics: ScanpathMetricRegistry.names, limit: nil, seed: 42,
                                                     correctOnly: false, options: [:], codeVersion: "test"))
    }

    func testProtocolGivesTheCeilingBaselinesAndBestObservers() throws {
        try makeDataSet()
        let e = try evaluator()
        let s = try store("run", methods: e.methods)
        try e.run(into: s)
        XCTAssertEqual(s.rows.count, 2 * 6)
        for image in ["images/p.png", "images/q.png"] {
            let loo = try XCTUnwrap(s.rows.first { $0.image == image && $0.method == "human-loo" })
            XCTAssertEqual(try XCTUnwrap(loo.metrics["sed"]), 8.0 / 3, accuracy: 1e-12)
            XCTAssertNotNil(loo.metrics["mm_duration"])  // humans have durations
            let fovex = try XCTUnwrap(s.rows.first { $0.image == image && $0.method == "fovex" })
            XCTAssertNil(fovex.metrics["mm_duration"])  // a generated scanpath has none
            XCTAssertNotNil(fovex.metrics["scanmatch"])
        }
        let records = try ScanpathEvaluator.readRecords(s.directory)
        XCTAssertEqual(records.map(\.image), ["images/p.png", "images/q.png"])
        for r in records {
            XCTAssertEqual(r.observers, ["1", "2", "3"])
            for m in ["fovex", "fovex-refined", "saliency-gradcam", "centre-random", "uniform-random"] {
                XCTAssertEqual(r.paths[m]?.count, 3, m)
                let best = try XCTUnwrap(r.bestObserver[m], m)
                // The best observer has the highest ScanMatch score of the three.
                let scores = try XCTUnwrap(r.perObserver[m]?["scanmatch"]).map { $0 ?? -1 }
                XCTAssertEqual(scores[r.observers.firstIndex(of: best)!], scores.max()!, m)
            }
            XCTAssertTrue(r.paths["fovex-refined"]!.allSatisfy { $0.x >= -0.5 && $0.x <= 79.5 && $0.y >= -0.5 && $0.y <= 79.5 })
        }
        // Running again finds everything done; a second directory with the same seed repeats the random baselines.
        try e.run(into: s)
        XCTAssertEqual(try RunStore.readRows(s.directory.appendingPathComponent("results.jsonl")).count, 12)
        let again = try store("again", methods: e.methods)
        try e.run(into: again)
        let other = try ScanpathEvaluator.readRecords(again.directory)
        XCTAssertEqual(other[0].paths["uniform-random"], records[0].paths["uniform-random"])
        XCTAssertEqual(other[0].paths["centre-random"], records[0].paths["centre-random"])
        XCTAssertNotEqual(records[0].paths["uniform-random"], records[1].paths["uniform-random"])  // per-image streams

        // The report: each image's best-matching observer, the figure, and the animated pair.
        let report = try ScanpathReport(runs: [s.directory])
        let markdown = report.markdown(methods: e.methods)
        XCTAssertTrue(markdown.contains("(by scanmatch)"))
        for r in records { XCTAssertTrue(markdown.contains("| \(r.image) | 3 | \(r.bestObserver["fovex"]!) ("), markdown) }
        // Observers 1 and 2 make saccades of √800 ≈ 28 px, observer 3 of 1 px: the median of 2 · 2 · 2 + 2 · 3 values is 28.
        let geometry = report.geometryMarkdown(methods: e.methods)
        XCTAssertTrue(geometry.contains("| human observers | 28 | "), geometry)
        XCTAssertTrue(geometry.contains("| uniform-random | "), geometry)
        let html = try report.writeAnimations(to: tmp.appendingPathComponent("report"), images: 1)
        let animations = try FileManager.default.contentsOfDirectory(atPath: tmp.appendingPathComponent("report/animations").path)
        XCTAssertEqual(animations.sorted(), ["p.fovex.svg", "p.observer-\(records[0].bestObserver["fovex"]!).svg"])
        XCTAssertTrue(html.contains("animations/p.fovex.svg"))
        var directions: [String: Bool] = [:]
        for n in ScanpathMetricRegistry.names { directions[n] = ScanpathMetricRegistry.metric(named: n)!.direction == .higherIsBetter }
        let summary = try EvaluationReport(runs: [s.directory], higherIsBetter: directions)
        let figure = ScanpathReport.figure(summary, metrics: ["sed", "scanmatch"], title: "t")
        XCTAssertEqual(figure.components(separatedBy: "<circle").count - 1, 12)  // 6 methods × 2 metrics
        XCTAssertTrue(figure.contains("sed ↓") && figure.contains("scanmatch ↑"))
    }

    func testObserverLengthCutsGeneratedPathsToEachObserver() throws {
        try makeDataSet()
        var e = try evaluator(length: .observer)
        e.methods = ["uniform-random", "human-loo"]
        let s = try store("observer", methods: e.methods)
        try e.run(into: s)
        let r = try ScanpathEvaluator.readRecords(s.directory)[0]
        let path = try XCTUnwrap(r.paths["uniform-random"])
        XCTAssertEqual(path.count, 4)  // the longest observer's length
        // Against observers 1 and 2 (3 fixations) only the first 3 generated fixations count.
        let sed = StringEditDistance()
        XCTAssertEqual(r.perObserver["uniform-random"]?["sed"]?[0],
                       sed.compare(Array(path.prefix(3)), with: r.observerPaths[0], width: 80, height: 80).value)
        XCTAssertEqual(r.perObserver["uniform-random"]?["sed"]?[2],
                       sed.compare(path, with: r.observerPaths[2], width: 80, height: 80).value)
    }

    func testUnknownMethodsAreRefused() throws {
        try makeDataSet()
        XCTAssertThrowsError(try ScanpathEvaluator(
            model: try ModelRegistry.randomModel("efficientnet-lite0", seed: 1), data: try GazeDataset(root: tmp),
            methods: ["saliency-nothing"], metrics: [], fovexOptions: FovEx.Options(),
            explainerOptions: ExplainerRegistry.Options(), selection: Selection(), seed: 1)) { e in
            XCTAssertTrue("\(e)".contains("saliency-nothing"), "\(e)")
        }
    }

    func testExplainWritesAnAnimatedScanpathForFovExAndTheGalleryPlaysIt() throws {
        let model = try ModelRegistry.randomModel("efficientnet-lite0", seed: 1)
        let writer = try ExplanationWriter(directory: tmp.appendingPathComponent("explained"))
        let e = Explanation(method: "fovex", map: Tensor(zeros: [224, 224]), classIndex: 3, probability: 0.5,
                            settings: ["fovea_sigma": "0.25", "forgetting": "0.5"],
                            attachments: [Scanpath(fixations: [Fixation(row: 0, col: 0, loss: 1), Fixation(row: 0.5, col: -0.5, loss: 0.5)])])
        let photo = RGBImage(width: 400, height: 200, color: .white)
        let written = try writer.write(e, photo: photo, imageName: "x.png", model: model)
        let name = try XCTUnwrap(written.animation)
        let svg = try String(contentsOf: writer.directory.appendingPathComponent(name), encoding: .utf8)
        // The fovea reaches √σ_f of each side: √0.25 · 400 = 200 and √0.25 · 200 = 100.
        XCTAssertTrue(svg.contains("rx=\"200.0000\" ry=\"100.0000\""), "fovea size follows the explanation's sigma")
        let gradcam = Explanation(method: "gradcam", map: Tensor(zeros: [224, 224]), classIndex: 3, probability: 0.5, settings: [:])
        XCTAssertNil(try writer.write(gradcam, photo: photo, imageName: "x.png", model: model).animation)
        try writer.writeGallery([written], inputs: [:], title: "t")
        let page = try String(contentsOf: writer.directory.appendingPathComponent("index.html"), encoding: .utf8)
        XCTAssertTrue(page.contains("src=\"\(name)\""))
    }
}
