import Foundation
import FovExExplainers
import FovExImaging
import FovExMetrics
import FovExModels
import FovExTensor

/// Why an evaluation cannot start.
public enum EvaluationError: Error, CustomStringConvertible {
    /// A metric needs annotations the data set does not have (`nss` on ImageNet boxes, say).
    case metricNeedsData(metric: String, needs: String, dataKind: String)
    /// The selection (subset and shard) keeps no image.
    case nothingSelected(String)

    public var description: String {
        switch self {
        case let .metricNeedsData(m, needs, kind):
            return "metric '\(m)' needs \(needs), which \(kind) data does not have; "
                + "use --metrics paper or pointing_game with imagenet data, --metrics gaze with gaze data"
        case let .nothingSelected(why): return why
        }
    }
}

/// Runs explainers and metrics over a data set into a ``RunStore``, resuming where it stopped.
///
/// A short loop over images × methods × metrics: each image is decoded and resized straight to
/// the model's input size (the paper's protocol); the data set turns its ground truth into the
/// sample's annotations; every metric scores the sample. An image that cannot be read is recorded
/// as skipped with the reason, so that a resumed run passes over it too.
public struct Evaluator {
    /// The classifier explained.
    public var model: ImageClassifier
    /// The methods, in the order rows are written.
    public var explainers: [Explainer]
    /// The metrics scored on every map.
    public var metrics: [Metric]
    /// The data set.
    public var data: EvaluationDataset
    /// Which of its images this run covers.
    public var selection: Selection
    /// Whether images the model misclassifies are skipped (recorded as skipped, with the reason).
    public var correctOnly: Bool
    /// Maps kept for the report's gallery: those of the first this many images of the run.
    public var galleryImages = 6
    /// Images explained and scored together (see ``run(into:progress:warn:)``); 1 explains one image
    /// at a time. The rows do not depend on it beyond timings and round-off (which an optimising method can
    /// amplify: Adam's first step in Meaningful Perturbation is the sign of each gradient component).
    public var batchSize = Evaluator.defaultBatchSize
    /// One image at a time: the paper protocol on EfficientNet-Lite0 ran 60.3 s per image at batch 1 and 59.8 s at
    /// batch 4 (docs/results/throughput.md), since RISE and the deletion/insertion curves batch their own work.
    public static let defaultBatchSize = 1

    /// Refuses metrics whose needs the data set cannot meet, before any work.
    public init(model: ImageClassifier, explainers: [Explainer], metrics: [Metric], data: EvaluationDataset,
                selection: Selection, correctOnly: Bool) throws {
        try Evaluator.check(metrics: metrics, data: data)
        self.model = model
        self.explainers = explainers
        self.metrics = metrics
        self.data = data
        self.selection = selection
        self.correctOnly = correctOnly
    }

    /// Throws ``EvaluationError/metricNeedsData(metric:needs:dataKind:)`` for the first metric that
    /// needs annotations `data` does not have.
    public static func check(metrics: [Metric], data: EvaluationDataset) throws {
        for m in metrics where !m.needs.missing(from: data.provides).isEmpty {
            throw EvaluationError.metricNeedsData(metric: m.name, needs: m.needs.missing(from: data.provides).summary,
                                                  dataKind: data.kind)
        }
    }

    /// The images this run covers, in order.
    ///
    /// Without `correctOnly`, the selection's seeded subset. With it, the subset is drawn among the
    /// images the model classifies correctly (the paper's protocol): the seeded order is walked,
    /// each image classified, and the first `limit` correct ones kept, so every shard computes the
    /// same subset. Images passed over on the way are recorded in `store` as skipped (misclassified
    /// or unreadable), and a resumed run trusts those records and the rows already written instead
    /// of classifying again.
    public func imageIDs(store: RunStore? = nil, warn: (String) -> Void = { _ in }) throws -> [String] {
        guard correctOnly else { return selection.apply(to: data.imageIDs) }
        let methodNames = explainers.map(\.name)
        return try selection.apply(to: data.imageIDs) { id in
            if let store {
                if store.skipped[id] != nil { return false }
                if methodNames.contains(where: { store.hasRow(image: id, method: $0) }) { return true }
            }
            let photo: RGBImage
            do { photo = try decode(id) } catch {
                warn("\(id): skipped: \(error)")
                try store?.skip(image: id, reason: "\(error)", kind: .unreadable)
                return false
            }
            let predicted = model.probabilities(inputGeometry.input(for: photo)).argmax(alongAxis: 1)[0]
            guard let label = data.label(of: id), predicted == label else {
                let reason = data.label(of: id).map { "predicted \(predicted), label \($0)" } ?? "the image has no label"
                try store?.skip(image: id, reason: reason, kind: .misclassified)
                return false
            }
            return true
        }.ids
    }

    /// The paper's geometry: the whole image resized straight to the model's input size.
    var inputGeometry: Preprocessing {
        var geometry = model.preprocessing
        geometry.geometry = .direct(size: geometry.inputSize)
        return geometry
    }

    func decode(_ id: String) throws -> RGBImage {
        guard let file = data.file(of: id) else { throw DatasetError.malformed(data.root, "it does not list \(id)") }
        return try RGBImage(contentsOf: file)
    }

    /// Evaluates every selected image not yet in `store`, ``batchSize`` images at a time.
    /// `progress(done, total)` is called after each batch; `warn` receives every warning (also kept
    /// in the run's `warnings.log`), tagged with the image and method.
    ///
    /// Batching changes neither which rows are written nor their order: the images still missing
    /// rows are taken in the selection's order, `batchSize` at a time; each explainer explains the
    /// batch's images that lack its row in one call, the faithfulness metrics score them in one
    /// call, and the rows are then appended image by image in that order, each image in one write.
    /// A run killed during a batch loses only the batch's unwritten images, which a resumed run
    /// redoes. Seeded methods draw per image (RandomCAM from the image's pixels, RISE's masks and
    /// FovEx's restarts from the seed alone), so their maps do not depend on the batch. Only the
    /// `seconds` field (the batch's explanation time shared evenly among its images) and the
    /// round-off of batched kernels differ from a run at batch 1: oneDNN's GEMM, for one, may sum a row's products
    /// in another order for another number of rows (on AVX2 CPUs a classifier head's logits differ in the last bit
    /// between a batch of one and of three).
    public func run(into store: RunStore, progress: (Int, Int) -> Void = { _, _ in },
                    warn: (String) -> Void = { _ in }) throws {
        let ids = try imageIDs(store: store, warn: { text in
            warn(text)
            try? store.log(warnings: [text])
        })
        let methodNames = explainers.map(\.name)
        progress(0, ids.count)
        var pending: [(position: Int, id: String)] = []
        for (position, id) in ids.enumerated() {
            if !store.isFinished(image: id, methods: methodNames) { pending.append((position, id)) }
            if pending.count == Swift.max(batchSize, 1) {
                try evaluate(pending, into: store, warn: warn)
                pending = []
            }
            // Finished images count as done at once unless a batch before them is still gathering.
            if pending.isEmpty { progress(position + 1, ids.count) }
        }
        if !pending.isEmpty {
            try evaluate(pending, into: store, warn: warn)
            progress(ids.count, ids.count)
        }
    }

    /// One image of a batch, decoded and classified.
    private struct BatchImage {
        var position: Int
        var id: String
        var pixels: Tensor
        var predicted: Int
        var annotations: SampleAnnotations
        var rows: [ResultRow] = []
        var warnings: [String] = []
    }

    /// Explains and scores one batch of images that still miss rows, then writes their rows image by image.
    private func evaluate(_ batch: [(position: Int, id: String)], into store: RunStore,
                          warn: (String) -> Void) throws {
        let size = model.preprocessing.inputSize
        let geometry = inputGeometry
        let needs = metrics.reduce(MetricNeeds()) { $0.union($1.needs) }
        var images: [BatchImage] = []
        for (position, id) in batch {
            let photo: RGBImage
            do {
                photo = try decode(id)
            } catch {
                let text = "\(id): skipped: \(error)"
                warn(text)
                try? store.log(warnings: [text])
                try store.skip(image: id, reason: "\(error)", kind: .unreadable)
                continue
            }
            let (annotations, notes) = data.annotations(of: id, imageWidth: photo.width, imageHeight: photo.height,
                                                        inputSize: size, needs: needs)
            images.append(BatchImage(position: position, id: id, pixels: geometry.input(for: photo), predicted: 0,
                                     annotations: annotations, warnings: notes.map { "\(id): \($0)" }))
        }
        guard !images.isEmpty else { return }
        // Under correctOnly the selection already classified the images; the class explained is the prediction.
        let predicted = model.probabilities(Tensor.concatenate(images.map(\.pixels), axis: 0)).argmax(alongAxis: 1)
        for i in images.indices { images[i].predicted = predicted[i] }
        for explainer in explainers {
            let members = images.indices.filter { !store.hasRow(image: images[$0].id, method: explainer.name) }
            guard !members.isEmpty else { continue }
            let pixels = Tensor.concatenate(members.map { images[$0].pixels }, axis: 0)
            let start = Date()
            let explanations = try explainer.explain(pixels, model: model, classes: members.map { images[$0].predicted })
            let seconds = Date().timeIntervalSince(start) / Double(members.count)
            let samples = zip(members, explanations).map { i, e in
                MetricSample(model: model, pixels: images[i].pixels, map: e.map, classIndex: e.classIndex,
                             annotations: images[i].annotations,
                             predictedScanpath: e.attachment(Scanpath.self)?.fixations.map { f in
                                 let p = f.inputPixel(size: size)
                                 return HumanFixation(x: p.x, y: p.y)
                             })
            }
            var results = Array(repeating: [MetricResult](), count: members.count)
            for metric in metrics {
                for (k, result) in Self.measure(metric, samples, pixels: pixels).enumerated() { results[k].append(result) }
            }
            for (k, i) in members.enumerated() {
                let e = explanations[k]
                var row = ResultRow(image: images[i].id, method: explainer.name, classIndex: e.classIndex,
                                    probability: e.probability, metrics: [:], seconds: seconds)
                for (metric, result) in zip(metrics, results[k]) {
                    images[i].warnings += result.warnings.map { "\(images[i].id) \(explainer.name): \($0)" }
                    if result.isMissing {
                        row.missing[metric.name] = result.missingReason ?? "the value is not a finite number"
                    } else {
                        row.metrics[metric.name] = result.value
                        if let c = result.curve { row.curves[metric.name] = c }
                    }
                }
                images[i].rows.append(row)
                if images[i].position < galleryImages {
                    try keepMap(e.map, image: images[i].id, method: explainer.name, in: store)
                }
            }
        }
        for image in images {
            try store.append(image.rows)
            image.warnings.forEach(warn)
            try? store.log(warnings: image.warnings)
        }
    }

    /// Scores a batch's samples: a faithfulness metric in one call when the maps share a shape
    /// (its forward passes then take several images at once), any other metric sample by sample.
    static func measure(_ metric: Metric, _ samples: [MetricSample], pixels: Tensor) -> [MetricResult] {
        guard samples.count > 1, let modelMetric = metric as? ModelMetric,
              let shape = samples.first?.map.shape, samples.allSatisfy({ $0.map.shape == shape }) else {
            return samples.map { metric.measure($0) }
        }
        let maps = Tensor.concatenate(samples.map { $0.map.reshaped([1] + shape) }, axis: 0)
        return modelMetric.evaluate(model: samples[0].model, pixels: pixels, maps: maps, classes: samples.map(\.classIndex))
    }

    /// Keeps a map as a 16-bit PNG for the report's gallery (non-finite values as 0).
    func keepMap(_ map: Tensor, image: String, method: String, in store: RunStore) throws {
        let url = RunStore.mapURL(in: store.directory, image: image, method: method)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw RunStoreError.io(url.deletingLastPathComponent(), "cannot create: \(error.localizedDescription)")
        }
        let values = map.contiguous().scalars.map { $0.isFinite ? Swift.min(Swift.max($0, 0), 1) : 0 }
        try FloatMap(width: map.shape[1], height: map.shape[0], values: values).writePNG(to: url, bitDepth: .sixteen)
    }
}
