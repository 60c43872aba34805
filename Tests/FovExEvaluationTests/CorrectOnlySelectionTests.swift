import Foundation
import XCTest
@testable import FovExEvaluation
import FovExExplainers
import FovExImaging
import FovExMetrics
import FovExModels

/// Images drawn on disk whose labels are chosen by the test: the model's own prediction for the
/// images `correct` names, another class for the rest.
struct LabelledImages: EvaluationDataset {
    var kind: String { "imagenet" }
    let root: URL
    let imageIDs: [String]
    let labels: [String: Int]
    var provides: MetricNeeds { .model }
    var identity: DatasetIdentity { DatasetIdentity.make(kind: kind, root: root, lines: imageIDs.map { "\($0) \(labels[$0]!)" }) }
    func file(of id: String) -> URL? { imageIDs.contains(id) ? root.appendingPathComponent(id) : nil }
    func label(of id: String) -> Int? { labels[id] }
    func annotations(of id: String, imageWidth: Int, imageHeight: Int, inputSize: Int,
                     needs: MetricNeeds) -> (annotations: SampleAnnotations, warnings: [String]) { (.init(), []) }
}

/// `--correct-only` draws its N images among the correctly classified ones, the same set for any shard count.
final class CorrectOnlySelectionTests: XCTestCase {
    var tmp: URL!
    let model = ToyConvNet(seed: 11)

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("fovex-correct-only-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    /// 24 images; every third one (by name) is labelled with a class the model does not predict.
    func dataset(allCorrect: Bool = false) throws -> (LabelledImages, wrong: Set<String>) {
        var labels: [String: Int] = [:]
        var wrong = Set<String>()
        let ids = (0..<24).map { String(format: "images/i%02d.png", $0) }
        var geometry = model.preprocessing
        geometry.geometry = .direct(size: 32)
        for (k, id) in ids.enumerated() {
            let url = tmp.appendingPathComponent(id)
            try DatasetFixtures.drawImage(width: 16, height: 16, seed: 7 * k + 3, to: url)
            let predicted = model.probabilities(geometry.input(for: try RGBImage(contentsOf: url))).argmax(alongAxis: 1)[0]
            if !allCorrect && k % 3 == 0 {
                labels[id] = (predicted + 1) % 5
                wrong.insert(id)
            } else {
                labels[id] = predicted
            }
        }
        return (LabelledImages(root: tmp, imageIDs: ids, labels: labels), wrong)
    }

    func evaluator(_ data: EvaluationDataset, limit: Int?, shard: (Int, Int) = (0, 1), correctOnly: Bool = true) throws -> Evaluator {
        try Evaluator(model: model, explainers: try ExplainerRegistry.explainers("gradcam", for: model),
                      metrics: try MetricRegistry.metrics("average_drop", settings: MetricSettings()), data: data,
                      selection: Selection(limit: limit, seed: 5, shardIndex: shard.0, shardCount: shard.1),
                      correctOnly: correctOnly)
    }

    func testTheSubsetHasLimitImagesAllCorrectlyClassified() throws {
        let (data, wrong) = try dataset()
        let ids = try evaluator(data, limit: 10).imageIDs()
        XCTAssertEqual(ids.count, 10, "N correct images, not N sampled minus the misclassified")
        XCTAssertTrue(Set(ids).isDisjoint(with: wrong))
        XCTAssertEqual(ids, ids.sorted())
        // Sampling first and filtering after (the old protocol) keeps fewer here: some of the seeded 10 are wrong.
        let naive = Selection(limit: 10, seed: 5).apply(to: data.imageIDs).filter { !wrong.contains($0) }
        XCTAssertLessThan(naive.count, 10)
        // Without a limit, every correctly classified image.
        XCTAssertEqual(Set(try evaluator(data, limit: nil).imageIDs()), Set(data.imageIDs).subtracting(wrong))
    }

    func testEveryShardCountGivesTheSameSet() throws {
        let (data, _) = try dataset()
        let whole = try evaluator(data, limit: 9).imageIDs()
        for count in [2, 3, 4] {
            let parts = try (0..<count).map { try evaluator(data, limit: 9, shard: ($0, count)).imageIDs() }
            XCTAssertEqual(parts.flatMap { $0 }.sorted(), whole, "\(count) shards")
            XCTAssertEqual(Set(parts.flatMap { $0 }).count, whole.count, "shards overlap with \(count) shards")
        }
    }

    func testWhenEveryImageIsCorrectTheSubsetIsThePlainSeededOne() throws {
        let (data, _) = try dataset(allCorrect: true)
        XCTAssertEqual(try evaluator(data, limit: 7).imageIDs(), Selection(limit: 7, seed: 5).apply(to: data.imageIDs))
    }

    func testPassedOverImagesAreRecordedAndTheRunHasLimitRows() throws {
        let (data, wrong) = try dataset()
        let e = try evaluator(data, limit: 6)
        let config = RunConfiguration(model: "toy-conv", weights: "random", weightsSHA256: nil, dataKind: "imagenet",
                                      methods: ["gradcam"], metrics: ["average_drop"], limit: 6, seed: 5, correctOnly: true,
                                      options: [:], codeVersion: "test", dataset: data.identity)
        let dir = tmp.appendingPathComponent("run")
        do {
            let store = try RunStore(directory: dir, configuration: config)
            try e.run(into: store)
            XCTAssertEqual(Set(store.rows.map(\.image)).count, 6)
            XCTAssertFalse(store.skipped.isEmpty)
            XCTAssertTrue(Set(store.skipped.keys).isSubset(of: wrong), "only misclassified images are passed over")
            // Those passed over come before the last chosen image in the seeded order.
            let order = Selection(limit: 6, seed: 5).seededOrder(of: data.imageIDs)
            let lastChosen = store.rows.map { order.firstIndex(of: $0.image)! }.max()!
            for id in store.skipped.keys { XCTAssertLessThan(order.firstIndex(of: id)!, lastChosen) }
        }
        // A resumed run selects the same images from the records.
        let store = try RunStore(directory: dir, configuration: config)
        XCTAssertEqual(try e.imageIDs(store: store), try e.imageIDs())
    }
}
