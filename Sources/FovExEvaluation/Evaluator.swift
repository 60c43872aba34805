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

    /// Evaluates every selected image not yet in `store`. `progress(done, total)` is called after each
    /// image; `warn` receives every warning (also kept in the run's `warnings.log`), tagged with the
    /// image and method.
    public func run(into store: RunStore, progress: (Int, Int) -> Void = { _, _ in },
                    warn: (String) -> Void = { _ in }) throws {
        let ids = try imageIDs(store: store, warn: { text in
            warn(text)
            try? store.log(warnings: [text])
        })
        let methodNames = explainers.map(\.name)
        let size = model.preprocessing.inputSize
        let geometry = inputGeometry
        let needs = metrics.reduce(MetricNeeds()) { $0.union($1.needs) }
        progress(0, ids.count)
        for (done, id) in ids.enumerated() {
            defer { progress(done + 1, ids.count) }
            if store.isFinished(image: id, methods: methodNames) { continue }
            var warnings: [String] = []
            defer {
                warnings.forEach(warn)
                try? store.log(warnings: warnings)
            }
            let photo: RGBImage
            do {
                photo = try decode(id)
            } catch {
                warnings.append("\(id): skipped: \(error)")
                try store.skip(image: id, reason: "\(error)", kind: .unreadable)
                continue
            }
            let pixels = geometry.input(for: photo)
            // Under correctOnly the selection already classified the image; the class explained is the prediction.
            let predicted = model.probabilities(pixels).argmax(alongAxis: 1)[0]
            let (annotations, notes) = data.annotations(of: id, imageWidth: photo.width, imageHeight: photo.height,
                                                        inputSize: size, needs: needs)
            warnings += notes.map { "\(id): \($0)" }
            var rows: [ResultRow] = []
            for explainer in explainers where !store.hasRow(image: id, method: explainer.name) {
                let start = Date()
                let e = try explainer.explain(pixels, model: model, classes: [predicted])[0]
                let seconds = Date().timeIntervalSince(start)
                let scanpath = e.attachment(Scanpath.self)?.fixations.map { f in
                    let p = f.inputPixel(size: size)
                    return HumanFixation(x: p.x, y: p.y)
                }
                let sample = MetricSample(model: model, pixels: pixels, map: e.map, classIndex: e.classIndex,
                                          annotations: annotations, predictedScanpath: scanpath)
                var row = ResultRow(image: id, method: explainer.name, classIndex: e.classIndex, probability: e.probability,
                                    metrics: [:], seconds: seconds)
                for metric in metrics {
                    let result = metric.measure(sample)
                    warnings += result.warnings.map { "\(id) \(explainer.name): \($0)" }
                    if result.isMissing {
                        row.missing[metric.name] = result.missingReason ?? "the value is not a finite number"
                    } else {
                        row.metrics[metric.name] = result.value
                        if let c = result.curve { row.curves[metric.name] = c }
                    }
                }
                rows.append(row)
                if done < galleryImages { try keepMap(e.map, image: id, method: explainer.name, in: store) }
            }
            try store.append(rows)
        }
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
