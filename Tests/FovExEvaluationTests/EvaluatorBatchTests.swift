import XCTest
@testable import FovExEvaluation
import FovExExplainers
import FovExMetrics
import FovExModels
import FovExTensor

/// Batched evaluation writes the rows a one-image-at-a-time run writes: same rows, same order, the
/// same values up to the round-off of batched kernels, with exact resume and shard merging.
final class EvaluatorBatchTests: XCTestCase {
    var tmp: URL!
    let model = ToyConvNet(seed: 5)

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("fovex-evaluator-batch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func data() throws -> ImageNetDataset {
        let root = try DatasetFixtures.layout("imagenet-csv", in: tmp, images: [
            "images/a/x.png": (16, 16), "images/b/x.png": (16, 16), "images/c.png": (20, 10),
        ])
        return try ImageNetDataset(root: root, synsets: [:])
    }

    /// Every seeded method (RandomCAM, RISE, Meaningful Perturbation, FovEx with restarts) and an
    /// unseeded one, small enough for a test.
    func evaluator(_ data: EvaluationDataset, batch: Int, shard: (Int, Int) = (0, 1)) throws -> Evaluator {
        var options = ExplainerRegistry.Options()
        options.rise.masks = 24
        options.rise.batchSize = 5
        options.meaningfulPerturbation.iterations = 3
        options.fovex.fixations = 3
        options.fovex.stepsPerFixation = 2
        options.fovex.blurKernelSize = 5
        options.fovex.blurSigma = 2
        var settings = MetricSettings()
        settings.deletionStep = 256
        var e = try Evaluator(model: model,
                              explainers: try ExplainerRegistry.explainers("gradcam,randomcam,rise,mp,fovex", for: model, options: options),
                              metrics: try MetricRegistry.metrics("paper,pointing_game", settings: settings), data: data,
                              selection: Selection(shardIndex: shard.0, shardCount: shard.1), correctOnly: false)
        e.batchSize = batch
        return e
    }

    func run(_ e: Evaluator, into dir: URL, shard: (Int, Int) = (0, 1)) throws -> RunStore {
        let configuration = RunConfiguration(
            model: "toy-conv", weights: "random", weightsSHA256: nil, dataKind: e.data.kind, methods: e.explainers.map(\.name),
            metrics: e.metrics.map(\.name), limit: nil, seed: 42, correctOnly: false, options: [:], codeVersion: "test",
            dataset: e.data.identity)
        let store = try RunStore(directory: dir, configuration: configuration, shard: shard)
        try e.run(into: store)
        return store
    }

    /// Same rows in the same order; values equal up to float round-off (relative 1e-4); timings ignored.
    func assertSameRows(_ a: [ResultRow], _ b: [ResultRow], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.map { "\($0.image) \($0.method)" }, b.map { "\($0.image) \($0.method)" }, file: file, line: line)
        func close(_ x: Double, _ y: Double) -> Bool { abs(x - y) <= 1e-4 * Swift.max(1, abs(x), abs(y)) }
        for (r, s) in zip(a, b) {
            let what = "\(r.image) \(r.method)"
            XCTAssertEqual(r.classIndex, s.classIndex, what, file: file, line: line)
            XCTAssertTrue(close(Double(r.probability), Double(s.probability)), "\(what) probability", file: file, line: line)
            XCTAssertEqual(r.missing, s.missing, what, file: file, line: line)
            XCTAssertEqual(Set(r.metrics.keys), Set(s.metrics.keys), what, file: file, line: line)
            for (k, v) in r.metrics {
                XCTAssertTrue(close(v, s.metrics[k] ?? .nan), "\(what) \(k): \(v) vs \(s.metrics[k] ?? .nan)", file: file, line: line)
            }
            XCTAssertEqual(Set(r.curves.keys), Set(s.curves.keys), what, file: file, line: line)
            for (k, c) in r.curves {
                let d = s.curves[k] ?? []
                XCTAssertEqual(c.count, d.count, "\(what) \(k)", file: file, line: line)
                XCTAssertTrue(zip(c, d).allSatisfy { close($0, $1) }, "\(what) \(k): \(c) vs \(d)", file: file, line: line)
            }
        }
    }

    func testBatchesWriteTheRowsOfOneImageAtATime() throws {
        let data = try data()
        let single = try run(try evaluator(data, batch: 1), into: tmp.appendingPathComponent("b1")).rows
        XCTAssertEqual(single.count, 15)
        // 3 images: one full batch of 3; batches of 2 leave a partial last batch.
        for batch in [3, 2] {
            let batched = try run(try evaluator(data, batch: batch), into: tmp.appendingPathComponent("b\(batch)")).rows
            assertSameRows(batched, single)
            // The gallery's maps are the same images' maps.
            let maps = { (dir: String) in
                try FileManager.default.subpathsOfDirectory(atPath: self.tmp.appendingPathComponent(dir).appendingPathComponent("maps").path)
                    .filter { $0.hasSuffix(".png") }.sorted()
            }
            XCTAssertEqual(try maps("b\(batch)"), try maps("b1"))
        }
    }

    func testSeededMethodsDrawTheSameMapsWhateverTheBatch() throws {
        let data = try data()
        let e = try evaluator(data, batch: 3)
        let pixels = try data.imageIDs.map { try e.inputGeometry.input(for: e.decode($0)) }
        for explainer in e.explainers where ["randomcam", "rise", "mp", "fovex"].contains(explainer.name) {
            let together = try explainer.explain(Tensor.concatenate(pixels, axis: 0), model: model, classes: [0, 1, 2])
            for (i, p) in pixels.enumerated() {
                let alone = try explainer.explain(p, model: model, classes: [i])[0]
                let difference = zip(alone.map.contiguous().scalars, together[i].map.contiguous().scalars).map { abs($0 - $1) }.max() ?? .nan
                XCTAssertLessThan(difference, 1e-4, "\(explainer.name), image \(i)")
            }
        }
    }

    func testARunKilledDuringABatchResumesToTheSameRows() throws {
        let data = try data()
        let reference = try run(try evaluator(data, batch: 1), into: tmp.appendingPathComponent("whole")).rows
        let killed = tmp.appendingPathComponent("killed")
        // Killed while the second image of a batch was being written: its first rows, then a partial line.
        do {
            let store = try run(try evaluator(data, batch: 3), into: killed)
            let file = store.directory.appendingPathComponent("results.jsonl")
            let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n")
            try (lines.prefix(7).joined(separator: "\n") + "\n{\"image\":\"images/b").write(to: file, atomically: true, encoding: .utf8)
        }
        let resumed = try run(try evaluator(data, batch: 2), into: killed)
        assertSameRows(resumed.rows.sorted { ($0.image, $0.method) < ($1.image, $1.method) },
                       reference.sorted { ($0.image, $0.method) < ($1.image, $1.method) })
        XCTAssertEqual(try RunStore.readRows(killed.appendingPathComponent("results.jsonl")).count, 15)
    }

    func testShardsRunInBatchesMergeIntoTheUnshardedRun() throws {
        let data = try data()
        let whole = try run(try evaluator(data, batch: 1), into: tmp.appendingPathComponent("whole")).rows
        var merged: [ResultRow] = []
        for index in 0..<2 {
            merged += try run(try evaluator(data, batch: 2, shard: (index, 2)), into: tmp.appendingPathComponent("shard\(index)"),
                              shard: (index, 2)).rows
        }
        let order = { (rows: [ResultRow]) in rows.sorted { ($0.image, $0.method) < ($1.image, $1.method) } }
        assertSameRows(order(merged), order(whole))
        let report = try EvaluationReport(runs: [tmp.appendingPathComponent("shard0"), tmp.appendingPathComponent("shard1")],
                                          higherIsBetter: [:])
        XCTAssertEqual(report.summaries["deletion"]?["fovex"]?.count, 3)
    }
}
