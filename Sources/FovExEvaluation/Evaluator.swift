import Foundation
import FovExExplainers
import FovExImaging
import FovExMetrics
import FovExModels
import FovExTensor

/// The data an evaluation runs on.
public enum EvaluationData {
    /// ImageNet-style images with labels and boxes: the paper's faithfulness and localisation protocol.
    case imagenet(ImageNetDataset)
    /// Images with human fixations: the gaze protocol.
    case gaze(GazeDataset)

    public var kind: String {
        switch self {
        case .imagenet: return "imagenet"
        case .gaze: return "gaze"
        }
    }

    var ids: [String] {
        switch self {
        case .imagenet(let d): return d.items.map(\.id)
        case .gaze(let d): return d.items.map(\.id)
        }
    }
}

/// Runs explainers and metrics over a data set into a ``RunStore``, resuming where it stopped.
///
/// Each image is resized straight to the model's input size (the paper's protocol). Under the gaze
/// protocol the maps are resized back to the image's own size (bilinear) before they meet the
/// fixations; shuffled AUC takes the other images' fixations as negatives.
public struct Evaluator {
    public var model: ImageClassifier
    public var explainers: [Explainer]
    public var metrics: [String]
    public var data: EvaluationData
    public var selection: Selection
    public var correctOnly: Bool
    /// Deletion/insertion pixels per step and images per forward pass.
    public var deletionStep = 224
    public var metricBatchSize = 8
    /// Overlays kept for the report's gallery: the first this many images of the run.
    public var galleryImages = 6

    public init(model: ImageClassifier, explainers: [Explainer], metrics: [String], data: EvaluationData,
                selection: Selection, correctOnly: Bool) {
        self.model = model
        self.explainers = explainers
        self.metrics = metrics
        self.data = data
        self.selection = selection
        self.correctOnly = correctOnly
    }

    /// The images this run covers, in order.
    public var imageIDs: [String] { selection.apply(to: data.ids) }

    /// Evaluates every selected image not yet in `store`. `progress(done, total)` is called after each
    /// image; `warn` receives metric warnings.
    public func run(into store: RunStore, progress: (Int, Int) -> Void = { _, _ in },
                    warn: (String) -> Void = { _ in }) throws {
        let ids = imageIDs
        let methodNames = explainers.map(\.name)
        let size = model.preprocessing.inputSize
        var geometry = model.preprocessing
        geometry.geometry = .direct(size: size)
        let galleryDir = store.directory.appendingPathComponent("gallery")
        var negatives: [String: [(x: Float, y: Float, w: Int, h: Int)]] = [:]
        if case .gaze(let d) = data, metrics.contains("sauc") {
            for item in d.items { negatives[item.id] = item.fixatedPixels.map { (Float($0.x), Float($0.y), item.width, item.height) } }
        }
        for (done, id) in ids.enumerated() {
            defer { progress(done + 1, ids.count) }
            if store.isFinished(image: id, methods: methodNames) { continue }
            let file: URL
            var label: Int?
            var boxes: [Box] = []
            switch data {
            case .imagenet(let d):
                let item = d.items.first { $0.id == id }!
                (file, label, boxes) = (item.file, item.classIndex, item.boxes)
            case .gaze(let d):
                file = d.items.first { $0.id == id }!.file
            }
            let photo = try RGBImage(contentsOf: file)
            let pixels = geometry.input(for: photo)
            let probs = model.probabilities(pixels)
            let predicted = probs.argmax(alongAxis: 1)[0]
            if correctOnly, let label, predicted != label {
                try store.skip(image: id, reason: "predicted \(predicted), label \(label)")
                continue
            }
            var rows: [ResultRow] = []
            for explainer in explainers where !store.hasRow(image: id, method: explainer.name) {
                let start = Date()
                let e = try explainer.explain(pixels, model: model, classes: [predicted])[0]
                let seconds = Date().timeIntervalSince(start)
                var values: [String: Double] = [:]
                var curves: [String: [Double]] = [:]
                let maps = e.map.reshaped([1, size, size])
                for name in metrics {
                    var result: MetricResult?
                    if let m = MetricRegistry.modelMetric(name, deletionStep: deletionStep, batchSize: metricBatchSize) {
                        result = m.evaluate(model: model, pixels: pixels, maps: maps, classes: [predicted])[0]
                    } else if let m = MetricRegistry.boxMetric(name) {
                        let (sx, sy) = (Float(size) / Float(photo.width), Float(size) / Float(photo.height))
                        result = m.evaluate(map: e.map, boxes: boxes.map { BoxRegion(x0: $0.x0, y0: $0.y0, x1: $0.x1, y1: $0.y1).scaled(x: sx, y: sy) })
                    } else if let m = MetricRegistry.gazeMetric(name), case .gaze(let d) = data {
                        let item = d.items.first { $0.id == id }!
                        let full = withoutGradients {
                            e.map.reshaped([1, 1, size, size]).resized(height: item.height, width: item.width, method: .bilinear)
                        }.reshaped([item.height, item.width])
                        let fix = item.fixatedPixels.map { PixelPoint(x: $0.x, y: $0.y) }
                        var others: [PixelPoint] = []
                        if name == "sauc" {
                            for (other, pts) in negatives where other != id {
                                for p in pts {
                                    let x = Swift.min(item.width - 1, Int((p.x * Float(item.width) / Float(p.w)).rounded(.down)))
                                    let y = Swift.min(item.height - 1, Int((p.y * Float(item.height) / Float(p.h)).rounded(.down)))
                                    others.append(PixelPoint(x: x, y: y))
                                }
                            }
                        }
                        result = m.evaluate(map: full, fixations: fix, otherFixations: others)
                    }
                    guard let result else { continue }
                    for w in result.warnings { warn("\(id) \(explainer.name): \(w)") }
                    values[name] = result.value
                    if let c = result.curve { curves[name] = c }
                }
                rows.append(ResultRow(image: id, method: explainer.name, classIndex: e.classIndex, probability: e.probability,
                                      metrics: values, curves: curves, seconds: seconds))
                if done < galleryImages {
                    try FileManager.default.createDirectory(at: galleryDir, withIntermediateDirectories: true)
                    let map = FloatMap(width: size, height: size, values: e.map.scalars.map { $0.isFinite ? $0 : 0 })
                    let picture = overlay(heatmap: map.resized(width: photo.width, height: photo.height), on: photo)
                    try picture.writePNG(to: galleryDir.appendingPathComponent(Evaluator.galleryName(image: id, method: explainer.name)))
                }
            }
            try store.append(rows)
        }
    }

    /// The gallery picture's file name for an image and a method.
    public static func galleryName(image: String, method: String) -> String {
        "\((image as NSString).deletingPathExtension).\(method.replacingOccurrences(of: "+", with: "p")).png"
    }
}
