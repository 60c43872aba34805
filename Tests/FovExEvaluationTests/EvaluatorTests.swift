import XCTest
@testable import FovExEvaluation
import FovExExplainers
import FovExImaging
import FovExMetrics
import FovExModels

/// The evaluator run end to end on a toy model and the committed layouts.
final class EvaluatorTests: XCTestCase {
    var tmp: URL!
    let model = ToyConvNet(seed: 11)

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("fovex-evaluator-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func imagenet() throws -> ImageNetDataset {
        let root = try DatasetFixtures.layout("imagenet-csv", in: tmp, images: [
            "images/a/x.png": (16, 16), "images/b/x.png": (16, 16), "images/c.png": (20, 10),
        ])
        return try ImageNetDataset(root: root, synsets: [:])
    }

    func metrics(_ list: String) throws -> [Metric] {
        var settings = MetricSettings()
        settings.deletionStep = 256  // 4 steps on the 32×32 input
        return try MetricRegistry.metrics(list, settings: settings)
    }

    func evaluator(_ data: EvaluationDataset, metrics list: String = "paper,pointing_game",
                   shard: (Int, Int) = (0, 1)) throws -> Evaluator {
        try Evaluator(model: model, explainers: try ExplainerRegistry.explainers("gradcam,randomcam", for: model),
                      metrics: try metrics(list), data: data,
                      selection: Selection(shardIndex: shard.0, shardCount: shard.1), correctOnly: false)
    }

    func configuration(_ e: Evaluator) -> RunConfiguration {
        RunConfiguration(model: "toy-conv", weights: "random", weightsSHA256: nil, dataKind: e.data.kind,
                         methods: e.explainers.map(\.name), metrics: e.metrics.map(\.name), limit: nil, seed: 42,
                         correctOnly: false, options: [:], codeVersion: "test", dataset: e.data.identity)
    }

    func run(_ e: Evaluator, into dir: URL, shard: (Int, Int) = (0, 1)) throws -> (store: RunStore, warnings: [String]) {
        let store = try RunStore(directory: dir, configuration: configuration(e), shard: shard)
        var warnings: [String] = []
        try e.run(into: store, warn: { warnings.append($0) })
        return (store, warnings)
    }

    /// Rows without their timings, which differ from run to run.
    func untimed(_ rows: [ResultRow]) -> [ResultRow] { rows.map { var r = $0; r.seconds = 0; return r } }

    func testRowsHoldValuesOrMissingReasonsNeverAMadeUpZero() throws {
        let data = try imagenet()
        let e = try evaluator(data)
        let (store, warnings) = try run(e, into: tmp.appendingPathComponent("run"))
        XCTAssertEqual(store.rows.map { "\($0.image) \($0.method)" }, [
            "images/a/x.png gradcam", "images/a/x.png randomcam", "images/b/x.png gradcam", "images/b/x.png randomcam",
            "images/c.png gradcam", "images/c.png randomcam",
        ])
        for row in store.rows {
            // The faithfulness metrics have a value on every image; deletion and insertion have 4 steps.
            for m in ["average_drop", "average_increase", "deletion", "insertion"] {
                XCTAssertNotNil(row.metrics[m], "\(row.image) \(row.method) \(m)")
            }
            XCTAssertEqual(row.curves["deletion"]?.count, 5)
            if row.image == "images/a/x.png" {
                XCTAssertNotNil(row.metrics["ebpg"])
                XCTAssertNotNil(row.metrics["pointing_game"])
                XCTAssertTrue(row.missing.isEmpty)
            } else {
                XCTAssertNil(row.metrics["ebpg"], "no box: no value, not 0")
                XCTAssertNil(row.metrics["pointing_game"])
                let expected = row.image == "images/c.png" ? "no ground-truth box is recorded for the image"
                    : "none of the image's 2 boxes is usable (see the warnings)"
                XCTAssertEqual(row.missing["ebpg"], expected)
                XCTAssertEqual(row.missing["pointing_game"], expected)
            }
        }
        // The dropped boxes are named in the warnings and in warnings.log, with the image.
        let log = try String(contentsOf: store.warningsURL, encoding: .utf8)
        for text in ["images/a/x.png: box 2 of 2 left out: entirely off", "images/b/x.png: box 1 of 2 left out: inverted",
                     "images/b/x.png: box 2 of 2 left out: a coordinate is not a finite number"] {
            XCTAssertTrue(log.contains(text), "\(text) not in \(log)")
            XCTAssertTrue(warnings.contains { $0.hasPrefix(text) }, text)
        }
        // The report counts only real values and says why the others are missing.
        let report = try EvaluationReport(runs: [store.directory], higherIsBetter: ["ebpg": true])
        XCTAssertEqual(report.summaries["ebpg"]?["gradcam"]?.count, 1)
        XCTAssertEqual(report.summaries["deletion"]?["gradcam"]?.count, 3)
        XCTAssertEqual(report.missingReasons["ebpg"]?["gradcam"]?["no ground-truth box is recorded for the image"], 1)
        let md = report.markdown()
        XCTAssertTrue(md.contains("- ebpg, gradcam: 1 image: no ground-truth box is recorded for the image"), md)
        XCTAssertTrue(md.contains("(n 1)"), md)
    }

    func testAResumedRunFinishesTheSameRowsAndWritesNothingTwice() throws {
        let data = try imagenet()
        let e = try evaluator(data)
        let whole = tmp.appendingPathComponent("whole"), killed = tmp.appendingPathComponent("killed")
        let reference = try run(e, into: whole).store.rows
        // A run killed after its first image: the first image's rows only, then a partial line.
        do {
            let first = try run(try evaluator(data), into: killed).store
            let lines = try String(contentsOf: first.directory.appendingPathComponent("results.jsonl"), encoding: .utf8)
                .split(separator: "\n")
            try (lines.prefix(2).joined(separator: "\n") + "\n{\"image\":\"images/b").write(
                to: first.directory.appendingPathComponent("results.jsonl"), atomically: true, encoding: .utf8)
        }
        let resumed = try run(e, into: killed).store
        XCTAssertEqual(untimed(resumed.rows.sorted { ($0.image, $0.method) < ($1.image, $1.method) }), untimed(reference))
        // Running again finds everything done and leaves the file as it is.
        let file = killed.appendingPathComponent("results.jsonl")
        let bytes = try Data(contentsOf: file)
        _ = try run(e, into: killed)
        XCTAssertEqual(try Data(contentsOf: file), bytes)
        XCTAssertEqual(try RunStore.readRows(file).count, 6)
    }

    func testShardsMergeIntoTheUnshardedRun() throws {
        let data = try imagenet()
        let whole = try run(try evaluator(data), into: tmp.appendingPathComponent("whole")).store
        var dirs: [URL] = []
        for i in 0..<2 {
            let dir = tmp.appendingPathComponent("shard\(i)")
            let rows = try run(try evaluator(data, shard: (i, 2)), into: dir, shard: (i, 2)).store.rows
            XCTAssertEqual(Set(rows.map(\.image)).count, i == 0 ? 2 : 1, "shard \(i)")
            dirs.append(dir)
        }
        let merged = try EvaluationReport(runs: dirs, higherIsBetter: [:])
        let single = try EvaluationReport(runs: [whole.directory], higherIsBetter: [:])
        XCTAssertEqual(untimed(merged.rows), untimed(single.rows))
        XCTAssertEqual(merged.imageCount, 3)
    }

    func testAnUnreadableImageIsSkippedWithItsReasonAndAResumePassesOverIt() throws {
        let data = try imagenet()
        try Data("not an image".utf8).write(to: try XCTUnwrap(data.file(of: "images/b/x.png")))
        let dir = tmp.appendingPathComponent("run")
        let (store, warnings) = try run(try evaluator(data), into: dir)
        XCTAssertEqual(Set(store.rows.map(\.image)), ["images/a/x.png", "images/c.png"])
        XCTAssertEqual(store.skipped.keys.sorted(), ["images/b/x.png"])
        XCTAssertTrue(store.skipped["images/b/x.png"]?.contains("x.png") == true, "the reason names the file")
        XCTAssertTrue(warnings.contains { $0.hasPrefix("images/b/x.png: skipped") })
        let again = try run(try evaluator(data), into: dir).store
        XCTAssertEqual(again.rows.count, 4)
        let report = try EvaluationReport(runs: [dir], higherIsBetter: [:])
        XCTAssertEqual(report.skipped.map(\.image), ["images/b/x.png"])
        XCTAssertEqual(report.skipped.first?.kind, .unreadable)
        XCTAssertTrue(report.markdown().contains("## Skipped images\n\n- images/b/x.png: "), report.markdown())
    }

    func testMetricsTheDataCannotFeedAreRefusedBeforeAnyWork() throws {
        XCTAssertThrowsError(try evaluator(try imagenet(), metrics: "nss")) { error in
            XCTAssertTrue("\(error)".contains("metric 'nss' needs human fixations, which imagenet data does not have"), "\(error)")
        }
        let gaze = try GazeDataset(root: try DatasetFixtures.layout("osie", in: tmp, images: ["images/p.png": (16, 12), "images/q.png": (8, 8)]))
        XCTAssertThrowsError(try evaluator(gaze, metrics: "ebpg")) { error in
            XCTAssertTrue("\(error)".contains("needs ground-truth boxes"), "\(error)")
        }
    }

    func testGazeRunsScoreMapsAtTheImagesOwnSize() throws {
        let gaze = try GazeDataset(root: try DatasetFixtures.layout("osie", in: tmp, images: ["images/p.png": (16, 12), "images/q.png": (8, 8)]))
        let e = try evaluator(gaze, metrics: "gaze")
        let (store, warnings) = try run(e, into: tmp.appendingPathComponent("gaze"))
        XCTAssertEqual(store.rows.count, 4)
        for row in store.rows {
            XCTAssertEqual(Set(row.metrics.keys).union(row.missing.keys), ["nss", "auc_judd", "cc", "kld", "sauc"])
            XCTAssertNotNil(row.metrics["nss"], "\(row.image) \(row.method): \(row.missing)")
        }
        XCTAssertTrue(warnings.contains { $0.hasPrefix("images/p.png: 1 of 4 fixations lie off") }, "\(warnings)")
        // The same sample scored by hand: the map resized to 16×12, the two fixated pixels, q's as negatives.
        let row = try XCTUnwrap(store.rows.first { $0.image == "images/p.png" && $0.method == "gradcam" })
        let map = try ExplainerRegistry.explainer(named: "gradcam", for: model)
            .explain(model.preprocessing.input(for: try RGBImage(contentsOf: try XCTUnwrap(gaze.file(of: "images/p.png")))), model: model, classes: nil)[0].map
        let nss = NSS().evaluate(map: map, imageHeight: 12, imageWidth: 16, fixations: [PixelPoint(x: 5, y: 3), PixelPoint(x: 1, y: 1)],
                                 otherFixations: [])
        XCTAssertEqual(row.metrics["nss"], nss.value)
    }

    func testADifferentDataSetOnTheSameRunDirectoryIsRefused() throws {
        let data = try imagenet()
        let dir = tmp.appendingPathComponent("run")
        let e = try evaluator(data)
        _ = try RunStore(directory: dir, configuration: configuration(e))
        var other = configuration(e)
        other.dataset?.digest = String(repeating: "0", count: 64)
        XCTAssertThrowsError(try RunStore(directory: dir, configuration: other)) { error in
            XCTAssertTrue("\(error)".contains("data set imagenet:"), "\(error)")
        }
        // The same data found at another path is the same data set.
        var moved = configuration(e)
        moved.dataset?.path = "/elsewhere"
        XCTAssertNoThrow(try RunStore(directory: dir, configuration: moved))
    }

    func testTheReportDrawsTheGalleryFromTheKeptMaps() throws {
        let data = try imagenet()
        let dir = tmp.appendingPathComponent("run")
        _ = try run(try evaluator(data), into: dir)
        // a/x.png and b/x.png share a file name: their maps must not share a file.
        let a = RunStore.mapURL(in: dir, image: "images/a/x.png", method: "gradcam")
        let b = RunStore.mapURL(in: dir, image: "images/b/x.png", method: "gradcam")
        XCTAssertNotEqual(try Data(contentsOf: a), try Data(contentsOf: b))
        let report = try EvaluationReport(runs: [dir], higherIsBetter: [:])
        let out = tmp.appendingPathComponent("report")
        let gallery = try ReportGallery.draw(report, into: out)
        XCTAssertEqual(gallery.map(\.image), ["images/a/x.png", "images/b/x.png", "images/c.png"])
        let picture = try RGBImage(contentsOf: out.appendingPathComponent(try XCTUnwrap(gallery[2].overlays["randomcam"])))
        XCTAssertEqual([picture.width, picture.height], [20, 10], "drawn over the image at its own size")
        let html = report.html(gallery: gallery)
        XCTAssertTrue(html.contains("<img src=\"gallery/images/a/x.png.gradcam.png\""), html)
        XCTAssertTrue(html.contains("<img src=\"gallery/images/b/x.png.gradcam.png\""), html)
    }
}
