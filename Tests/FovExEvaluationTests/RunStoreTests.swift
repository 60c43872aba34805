import XCTest
@testable import FovExEvaluation
import FovExTensor

final class RunStoreTests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("fovex-runstore-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func config(methods: [String] = ["fovex", "gradcam"], seed: UInt64 = 42) -> RunConfiguration {
        RunConfiguration(model: "toy", weights: "random", weightsSHA256: nil, dataKind: "imagenet", methods: methods,
                         metrics: ["drop", "deletion"], limit: nil, seed: seed, correctOnly: true, options: ["k": "v"],
                         codeVersion: "test")
    }

    func row(_ image: String, _ method: String, _ v: Double) -> ResultRow {
        ResultRow(image: image, method: method, classIndex: 1, probability: 0.5, metrics: ["drop": v, "deletion": v / 10],
                  curves: ["deletion": [1, v, 0]], seconds: 0.1)
    }

    func testRowsSurviveReopeningAndAreNeverDuplicated() throws {
        let dir = tmp.appendingPathComponent("run")
        var store = try RunStore(directory: dir, configuration: config())
        try store.append([row("a.jpg", "fovex", 1), row("a.jpg", "gradcam", 2)])
        store = try RunStore(directory: dir, configuration: config())
        XCTAssertTrue(store.isFinished(image: "a.jpg", methods: ["fovex", "gradcam"]))
        XCTAssertFalse(store.isFinished(image: "b.jpg", methods: ["fovex", "gradcam"]))
        try store.append([row("a.jpg", "fovex", 99), row("b.jpg", "fovex", 3)])
        let rows = try RunStore.readRows(dir.appendingPathComponent("results.jsonl"))
        XCTAssertEqual(rows.map { "\($0.image)/\($0.method)" }, ["a.jpg/fovex", "a.jpg/gradcam", "b.jpg/fovex"])
        XCTAssertEqual(rows[0].metrics["drop"], 1, "the first row written stays")
    }

    func testAKilledWriteLosesOnlyThePartialLine() throws {
        let dir = tmp.appendingPathComponent("run")
        let store = try RunStore(directory: dir, configuration: config())
        try store.append([row("a.jpg", "fovex", 1), row("a.jpg", "gradcam", 2)])
        // Simulate a kill in the middle of the next image's write.
        let h = try FileHandle(forWritingTo: dir.appendingPathComponent("results.jsonl"))
        try h.seekToEnd()
        try h.write(contentsOf: Data("{\"image\":\"b.jpg\",\"meth".utf8))
        try h.close()
        let reopened = try RunStore(directory: dir, configuration: config())
        XCTAssertEqual(reopened.rows.count, 2)
        try reopened.append([row("b.jpg", "fovex", 3)])
        let rows = try RunStore.readRows(dir.appendingPathComponent("results.jsonl"))
        XCTAssertEqual(rows.count, 3)
        XCTAssertEqual(rows.last?.image, "b.jpg")
    }

    func testADifferentConfigurationIsRefused() throws {
        let dir = tmp.appendingPathComponent("run")
        _ = try RunStore(directory: dir, configuration: config())
        XCTAssertThrowsError(try RunStore(directory: dir, configuration: config(seed: 7))) { error in
            XCTAssertTrue("\(error)".contains("different configuration"), "\(error)")
        }
        XCTAssertThrowsError(try RunStore(directory: dir, configuration: config(), shard: (1, 2)))
    }

    func testShardsPartitionTheSelectionAndMergeIntoTheUnshardedRun() throws {
        let ids = (0..<23).map { String(format: "img%02d.jpg", $0) }
        let all = Selection(limit: 17, seed: 5).apply(to: ids)
        XCTAssertEqual(all.count, 17)
        XCTAssertEqual(all, all.sorted(), "a selection is processed in name order")
        XCTAssertNotEqual(Selection(limit: 17, seed: 6).apply(to: ids), all)
        // The documented rule: image i of the selection goes to shard i mod N.
        for k in 0..<3 {
            let shard = Selection(limit: 17, seed: 5, shardIndex: k, shardCount: 3).apply(to: ids)
            XCTAssertEqual(shard, stride(from: k, to: all.count, by: 3).map { all[$0] }, "shard \(k)/3")
        }

        // Two shard directories, each holding only its own images, merge into rows whose metrics average to the
        // hand-computed mean over the 17 images (the value of image imgNN is NN), each image exactly once.
        func number(_ id: String) -> Double { Double(id.dropFirst(3).prefix(2))! }
        var shardDirs: [URL] = []
        for i in 0..<2 {
            let dir = tmp.appendingPathComponent("shard\(i)")
            shardDirs.append(dir)
            let s = try RunStore(directory: dir, configuration: config(), shard: (i, 2))
            for id in Selection(limit: 17, seed: 5, shardIndex: i, shardCount: 2).apply(to: ids) {
                try s.append([row(id, "fovex", number(id)), row(id, "gradcam", 1)])
            }
        }
        let directions = ["drop": false, "deletion": false]
        let merged = try EvaluationReport(runs: shardDirs, higherIsBetter: directions)
        XCTAssertEqual(merged.imageCount, 17)
        XCTAssertEqual(merged.rows.filter { $0.method == "fovex" }.map(\.image).sorted(), all)
        let expectedMean = all.map(number).reduce(0, +) / 17
        XCTAssertEqual(try XCTUnwrap(merged.summaries["drop"]?["fovex"]).mean, expectedMean, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(merged.summaries["drop"]?["gradcam"]).mean, 1, accuracy: 1e-12)
        // The same shard twice is not a whole run: its images count once.
        let doubled = try EvaluationReport(runs: [shardDirs[0], shardDirs[0]], higherIsBetter: directions)
        XCTAssertEqual(doubled.imageCount, 9)
    }

    func testReportRefusesMixedConfigurations() throws {
        let a = tmp.appendingPathComponent("a"), b = tmp.appendingPathComponent("b")
        _ = try RunStore(directory: a, configuration: config())
        _ = try RunStore(directory: b, configuration: config(methods: ["fovex"]))
        XCTAssertThrowsError(try EvaluationReport(runs: [a, b], higherIsBetter: [:]))
    }

    func testTableMarksBestAndSecondByDirection() throws {
        let dir = tmp.appendingPathComponent("run")
        let cfg = RunConfiguration(model: "toy", weights: "random", weightsSHA256: nil, dataKind: "imagenet",
                                   methods: ["a", "b", "c"], metrics: ["drop"], limit: nil, seed: 1,
                                   correctOnly: false, options: [:], codeVersion: "t")
        let store = try RunStore(directory: dir, configuration: cfg)
        for (m, v) in [("a", 30.0), ("b", 10.0), ("c", 20.0)] {
            try store.append([ResultRow(image: "x", method: m, classIndex: 0, probability: 1, metrics: ["drop": v], seconds: 0)])
        }
        let report = try EvaluationReport(runs: [dir], higherIsBetter: ["drop": false])
        let md = report.markdown()
        XCTAssertTrue(md.contains("| drop ↓ | 30.000 | **10.000** | <u>20.000</u> |"), md)
        XCTAssertEqual(report.summaries["drop"]?["b"]?.low, 10)
        XCTAssertTrue(report.csv().contains("drop,lower,b,10.0,10.0,10.0,1"))
    }

    func testBootstrapIntervalBracketsTheMean() {
        var g = FovExTensor.SeededGenerator(seed: 3)
        let values = (0..<200).map { Double($0 % 17) }
        let s = EvaluationReport.summarize(values, samples: 500, generator: &g)
        XCTAssertEqual(s.mean, values.reduce(0, +) / 200, accuracy: 1e-12)
        XCTAssertLessThan(s.low, s.mean)
        XCTAssertGreaterThan(s.high, s.mean)
        XCTAssertLessThan(s.high - s.low, 3)
    }
}

final class ReportPlaceTests: XCTestCase {
    func testTiesShareAPlaceAndAllTiedMarksNone() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fovex-place-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cfg = RunConfiguration(model: "toy", weights: "random", weightsSHA256: nil, dataKind: "imagenet",
                                   methods: ["a", "b", "c"], metrics: ["inc", "flat"], limit: nil, seed: 1,
                                   correctOnly: false, options: [:], codeVersion: "t")
        let store = try RunStore(directory: dir, configuration: cfg)
        for (m, v) in [("a", 20.0), ("b", 20.0), ("c", 10.0)] {
            try store.append([ResultRow(image: "x", method: m, classIndex: 0, probability: 1, metrics: ["inc": v, "flat": 5], seconds: 0)])
        }
        let md = try EvaluationReport(runs: [dir], higherIsBetter: ["inc": true, "flat": true]).markdown()
        XCTAssertTrue(md.contains("| inc ↑ | **20.000** | **20.000** | 10.000 |"), md)
        XCTAssertTrue(md.contains("| flat ↑ | 5.000 | 5.000 | 5.000 |"), md)
    }

    func testCalibrationRowsAreShownButNotRanked() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fovex-place-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cfg = RunConfiguration(model: "toy", weights: "random", weightsSHA256: nil, dataKind: "imagenet",
                                   methods: ["gradcam", "uniform", "fovex", "centre", "rise"], metrics: ["drop"], limit: nil,
                                   seed: 1, correctOnly: false, options: [:], codeVersion: "t")
        let store = try RunStore(directory: dir, configuration: cfg)
        // The constant map's drop of 0 and the centre map's 5 beat every explainer, yet neither is marked.
        for (m, v) in [("gradcam", 30.0), ("uniform", 0.0), ("fovex", 10.0), ("centre", 5.0), ("rise", 20.0)] {
            try store.append([ResultRow(image: "x", method: m, classIndex: 0, probability: 1, metrics: ["drop": v], seconds: 0)])
        }
        let report = try EvaluationReport(runs: [dir], higherIsBetter: ["drop": false])
        let md = report.markdown()
        XCTAssertTrue(md.contains("| drop ↓ | 30.000 | 0.000 | **10.000** | 5.000 | <u>20.000</u> |"), md)
        XCTAssertTrue(md.contains("`uniform`, `centre` ignore the image (calibration rows): not ranked."), md)
        XCTAssertTrue(report.html(gallery: []).contains("ignore the image (calibration rows)"))
    }

    func testPairedDifferencesSeeWhatOverlappingIntervalsHide() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fovex-paired-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cfg = RunConfiguration(model: "toy", weights: "random", weightsSHA256: nil, dataKind: "imagenet",
                                   methods: ["fovex", "rise", "mp"], metrics: ["ins"], limit: nil,
                                   seed: 1, correctOnly: false, options: [:], codeVersion: "t")
        let store = try RunStore(directory: dir, configuration: cfg)
        // Images spread from 0 to 0.9; fovex is 0.01 above rise on every image (per-method intervals
        // overlap, the paired one does not), and mp differs from fovex by ±0.02 alternately (mean 0).
        for i in 0..<40 {
            let base = Double(i % 10) / 10
            try store.append([
                ResultRow(image: "i\(i)", method: "fovex", classIndex: 0, probability: 1, metrics: ["ins": base + 0.01], seconds: 0),
                ResultRow(image: "i\(i)", method: "rise", classIndex: 0, probability: 1, metrics: ["ins": base], seconds: 0),
                ResultRow(image: "i\(i)", method: "mp", classIndex: 0, probability: 1,
                          metrics: ["ins": base + 0.01 + (i % 2 == 0 ? 0.02 : -0.02)], seconds: 0),
            ])
        }
        let report = try EvaluationReport(runs: [dir], higherIsBetter: ["ins": true])
        let rise = try XCTUnwrap(report.summaries["ins"]?["rise"]), fovex = try XCTUnwrap(report.summaries["ins"]?["fovex"])
        XCTAssertLessThan(fovex.low, rise.high)
        let d = report.pairedDifferences(of: "fovex")
        let vsRise = try XCTUnwrap(d["ins"]?["rise"]), vsMP = try XCTUnwrap(d["ins"]?["mp"])
        XCTAssertEqual(vsRise.mean, 0.01, accuracy: 1e-12)
        XCTAssertEqual(vsRise.low, 0.01, accuracy: 1e-12)
        XCTAssertEqual(vsRise.count, 40)
        XCTAssertEqual(vsRise.verdict(higherIsBetter: true), .better)
        XCTAssertEqual(vsRise.verdict(higherIsBetter: false), .worse)
        XCTAssertEqual(vsMP.mean, 0, accuracy: 1e-12)
        XCTAssertLessThan(vsMP.low, 0)
        XCTAssertGreaterThan(vsMP.high, 0)
        XCTAssertEqual(vsMP.verdict(higherIsBetter: true), .unclear)
        let md = report.markdown()
        XCTAssertTrue(md.contains("## fovex against each method, paired by image"), md)
        XCTAssertTrue(md.contains("| ins ↑ | +0.010 [+0.010, +0.010] *better* | "), md)
        let csv = try XCTUnwrap(report.pairedCSV())
        XCTAssertTrue(csv.hasPrefix("metric,direction,reference,method,mean_difference,ci_low,ci_high,n,verdict\n"), csv)
        XCTAssertTrue(csv.contains("ins,higher,fovex,rise,0.01"), csv)
        XCTAssertTrue(csv.contains(",40,better\n"), csv)
        XCTAssertTrue(csv.contains("ins,higher,fovex,mp,"), csv)
        XCTAssertTrue(csv.hasSuffix(",40,unclear\n"), csv)
    }
}
