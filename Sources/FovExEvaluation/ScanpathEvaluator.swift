import Foundation
import FovExExplainers
import FovExImaging
import FovExMetrics
import FovExModels
import FovExTensor

/// How long the generated scanpaths are when they meet an observer's.
public enum ScanpathLength: String, Sendable, CaseIterable, Codable {
    /// FovEx's N fixations (and as many for every baseline), against the observer's whole scanpath.
    case fovex
    /// As many fixations as the observer made: generated paths are computed to the longest observer's
    /// length on the image and cut to each observer's length (FovEx's fixations are sequential, so the
    /// first k of a longer search are the search with k fixations).
    case observer
}

/// Everything kept about one image's scanpath comparisons, one JSON line in `RUN_DIR/scanpaths.jsonl`:
/// the observers' and generated scanpaths (for the report's animations) and every per-observer value.
public struct ScanpathRecord: Sendable, Codable, Equatable {
    /// The image's identifier in the data set.
    public var image: String
    /// The photo's path as the run read it (the report's animations embed it).
    public var file: String
    /// The photo's width in pixels.
    public var width: Int
    /// The photo's height in pixels.
    public var height: Int
    /// The observers, in the data set's order.
    public var observers: [String]
    /// Each observer's scanpath, in `observers` order.
    public var observerPaths: [[ScanpathPoint]]
    /// Method → its generated scanpath (before cutting to an observer's length).
    public var paths: [String: [ScanpathPoint]]
    /// Method → metric → value against each observer, in `observers` order (nil where undefined).
    /// For the ceiling, the held-out observer's mean against the others.
    public var perObserver: [String: [String: [Double?]]]
    /// Method → the observer it matches best on `primaryMetric`.
    public var bestObserver: [String: String]
    /// The metric that chose `bestObserver`.
    public var primaryMetric: String
}

/// The scanpath protocol of `fovex evaluate --metrics scanpath`: model and baseline scanpaths against
/// every observer's scanpath on each image of a gaze data set.
///
/// Rows (one per image and method, in the ``RunStore``) hold each metric's mean over observers:
/// - `fovex` and `fovex-refined`: FovEx's scanpath (paper and refined variants);
/// - `saliency-M`: the greedy peaks of method M's map with inhibition of return (`ScanpathBaseline.saliencyPeaks(map:count:width:height:inhibitionRadius:)` in FovExMetrics);
/// - `centre-random`, `uniform-random`: seeded random fixations (the centre-biased one with the data
///   set's own per-axis spread of fixations);
/// - `human-loo`: the ceiling, each observer against every other observer (leave-one-out), averaged.
/// Images with fewer than two observers are skipped (no ceiling).
public struct ScanpathEvaluator {
    /// The random baselines' method names.
    public static let baselineNames = ["centre-random", "uniform-random"]
    /// The leave-one-out human ceiling's method name.
    public static let ceilingName = "human-loo"

    /// The classifier FovEx and the saliency baselines explain.
    public var model: ImageClassifier
    /// The gaze data set with observers' scanpaths.
    public var data: GazeDataset
    /// Whether each observer's first recorded fixation is kept (see ``FirstFixation``).
    public var firstFixation: FirstFixation = .keep
    /// Method names in row order (see the type's documentation).
    public var methods: [String]
    /// The scanpath metrics, each averaged over observers.
    public var metrics: [ScanpathMetric]
    /// FovEx's settings.
    public var fovexOptions: FovEx.Options
    /// The settings of the methods behind `saliency-M` baselines.
    public var explainerOptions: ExplainerRegistry.Options
    /// Which images the run covers.
    public var selection: Selection
    /// How long generated scanpaths are.
    public var length: ScanpathLength = .fovex
    /// Seed of the random baselines.
    public var seed: UInt64
    /// Inhibition-of-return radius of the saliency baselines, as a fraction of the map's shorter side.
    public var inhibitionRadius = 0.1
    /// The metric that picks each method's best-matching observer.
    public var primaryMetric: String

    /// An evaluator; throws for an unknown method or metric name.
    public init(model: ImageClassifier, data: GazeDataset, methods: [String],
                metrics: [ScanpathMetric], fovexOptions: FovEx.Options, explainerOptions: ExplainerRegistry.Options,
                selection: Selection, seed: UInt64) throws {
        for m in methods where !(["fovex", "fovex-refined", Self.ceilingName] + Self.baselineNames).contains(m) {
            guard m.hasPrefix("saliency-"), ExplainerRegistry.names.contains(String(m.dropFirst(9))) else {
                throw ExplainerError.badInput("unknown scanpath method '\(m)'; known: fovex, fovex-refined, saliency-METHOD "
                                              + "(METHOD one of \(ExplainerRegistry.names.joined(separator: ", "))), "
                                              + (Self.baselineNames + [Self.ceilingName]).joined(separator: ", "))
            }
        }
        self.model = model
        self.data = data
        self.methods = methods
        self.metrics = metrics
        self.fovexOptions = fovexOptions
        self.explainerOptions = explainerOptions
        self.selection = selection
        self.seed = seed
        primaryMetric = metrics.contains { $0.name == "scanmatch" } ? "scanmatch" : metrics.first?.name ?? ""
    }

    /// The methods of the protocol's default table.
    public static let defaultMethods = ["fovex", "fovex-refined", "saliency-gradcam"] + baselineNames + [ceilingName]

    /// The images this run covers, in order.
    public var imageIDs: [String] { selection.apply(to: data.items.map(\.id)) }

    /// Evaluates every selected image not yet in `store`, appending its ``ScanpathRecord`` to
    /// `RUN_DIR/scanpaths.jsonl` and its rows to the store.
    public func run(into store: RunStore, progress: (Int, Int) -> Void = { _, _ in }, warn: (String) -> Void = { _ in }) throws {
        let ids = imageIDs
        let size = model.preprocessing.inputSize
        var geometry = model.preprocessing
        geometry.geometry = .direct(size: size)
        let spread = Self.spread(data, firstFixation: firstFixation)
        let detailsURL = store.directory.appendingPathComponent("scanpaths.jsonl")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        for (done, id) in ids.enumerated() {
            defer { progress(done + 1, ids.count) }
            if store.isFinished(image: id, methods: methods) { continue }
            let item = data.items.first { $0.id == id }!
            let humans = Self.observers(item, firstFixation: firstFixation)
            guard humans.count >= 2 else {
                try store.skip(image: id, reason: "\(humans.count) observer scanpath(s); the ceiling needs two", kind: .fewObservers)
                continue
            }
            let photo = try RGBImage(contentsOf: item.file)
            let pixels = geometry.input(for: photo)
            let probabilities = model.probabilities(pixels)
            let predicted = probabilities.argmax(alongAxis: 1)[0]
            // Every row records the model's class and its probability on the clean image (the baselines and
            // the ceiling do not use the model, but the rows of one image share them).
            let probability = probabilities[0, predicted]
            let count = length == .fovex ? fovexOptions.fixations : humans.map(\.fixations.count).max()!
            var generator = SeededGenerator(seed: seed ^ Self.stableHash(id))
            var record = ScanpathRecord(image: id, file: item.file.path, width: item.width, height: item.height, observers: humans.map(\.observer),
                                        observerPaths: humans.map(\.fixations), paths: [:], perObserver: [:], bestObserver: [:],
                                        primaryMetric: primaryMetric)
            var rows: [ResultRow] = []
            for method in methods {
                let start = Date()
                var values: [String: [Double?]] = [:]
                if method == Self.ceilingName {
                    for metric in metrics {
                        values[metric.name] = humans.indices.map { o in
                            let scores = humans.indices.filter { $0 != o }.map {
                                metric.compare(humans[o].fixations, with: humans[$0].fixations, width: item.width, height: item.height).value
                            }
                            return Self.mean(scores)
                        }
                    }
                } else {
                    let path: [ScanpathPoint]
                    path = try generate(method, count: count, pixels: pixels, predicted: predicted, photo: photo,
                                                       spread: spread, generator: &generator)
                    record.paths[method] = path
                    for metric in metrics {
                        values[metric.name] = humans.map { h in
                            let own = length == .observer ? Array(path.prefix(h.fixations.count)) : path
                            let r = metric.compare(own, with: h.fixations, width: item.width, height: item.height)
                            for w in r.warnings { warn("\(id) \(method): \(w)") }
                            return r.value.isFinite ? r.value : nil
                        }
                    }
                    if let primary = values[primaryMetric], let best = Self.bestIndex(primary, higherIsBetter: metrics.first { $0.name == primaryMetric }!.direction == .higherIsBetter) {
                        record.bestObserver[method] = humans[best].observer
                    }
                }
                record.perObserver[method] = values
                var means: [String: Double] = [:]
                for (name, v) in values { if let m = Self.mean(v.map { $0 ?? .nan }) { means[name] = m } }
                rows.append(ResultRow(image: id, method: method, classIndex: predicted, probability: probability,
                                      metrics: means, seconds: Date().timeIntervalSince(start)))
            }
            try RunStore.appendAtomically(try encoder.encode(record) + Data("\n".utf8), to: detailsURL)
            try store.append(rows)
        }
    }

    /// A method's scanpath of `count` fixations in pixels of the photo.
    func generate(_ method: String, count: Int, pixels: Tensor, predicted: Int, photo: RGBImage,
                  spread: (x: Double, y: Double), generator: inout SeededGenerator) throws -> [ScanpathPoint] {
        let (w, h) = (photo.width, photo.height)
        switch method {
        case "uniform-random":
            return ScanpathBaseline.uniform(count: count, width: w, height: h, generator: &generator)
        case "centre-random":
            return ScanpathBaseline.centreBiased(count: count, width: w, height: h, sigmaX: spread.x, sigmaY: spread.y,
                                                 generator: &generator)
        case "fovex", "fovex-refined":
            var o = fovexOptions
            o.fixations = count
            o.variant = method == "fovex" ? .paper : .refined
            let e = try FovEx(options: o).explain(pixels, model: model, classes: [predicted])[0]
            let size = pixels.shape[2]
            return (e.attachment(Scanpath.self)?.fixations ?? []).map { f in
                let p = f.pixel(width: w, height: h, inputSize: size)
                return ScanpathPoint(x: Double(p.x), y: Double(p.y))
            }
        default:
            let source = try ExplainerRegistry.explainer(named: String(method.dropFirst(9)), for: model, options: explainerOptions)
            let e = try source.explain(pixels, model: model, classes: [predicted])[0]
            return ScanpathBaseline.saliencyPeaks(map: e.map, count: count, width: w, height: h,
                                                  inhibitionRadius: inhibitionRadius)
        }
    }

    /// Whether the observers' first recorded fixation is kept.
    ///
    /// Kept by default: OSIE's release and its own code (the fixation maps and `showEyeData`) use every
    /// fixation it stores, and in the stored data the first one is not pinned to the centre (a median
    /// 114 px from it on the 800×600 images, 20 % within 50 px), i.e. the fixation on the central start
    /// marker is not a separate record; FixaTons likewise compares scanpaths as stored. `drop` removes
    /// each scanpath's first fixation, for data sets that do record the start marker's fixation.
    public enum FirstFixation: String, Sendable, CaseIterable {
        /// Scanpaths as recorded.
        case keep
        /// Each scanpath without its first fixation.
        case drop
    }

    /// One observer's scanpath as the metrics take it.
    public struct Observer: Sendable, Equatable {
        /// The observer's identifier.
        public var observer: String
        /// Their fixations, in order.
        public var fixations: [ScanpathPoint]
    }

    /// The observers of an image with at least one fixation left, in the data set's order.
    public static func observers(_ item: GazeImage, firstFixation: FirstFixation) -> [Observer] {
        (item.scanpaths ?? []).compactMap { o in
            var points = o.fixations.map(ScanpathPoint.init)
            if firstFixation == .drop, !points.isEmpty { points.removeFirst() }
            return points.isEmpty ? nil : Observer(observer: o.observer, fixations: points)
        }
    }

    /// Per-axis standard deviations of every observer fixation as fractions of the image size: the
    /// spread of the data set's centre bias, which the centre-biased baseline draws with.
    public static func spread(_ data: GazeDataset, firstFixation: FirstFixation) -> (x: Double, y: Double) {
        var xs: [Double] = [], ys: [Double] = []
        for item in data.items {
            for o in observers(item, firstFixation: firstFixation) {
                for f in o.fixations { xs.append(f.x / Double(item.width)); ys.append(f.y / Double(item.height)) }
            }
        }
        func sd(_ v: [Double]) -> Double {
            guard v.count > 1 else { return 0.25 }
            let m = v.reduce(0, +) / Double(v.count)
            return (v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(v.count - 1)).squareRoot()
        }
        return (sd(xs), sd(ys))
    }

    /// The mean of the finite values, or nil when there are none.
    static func mean(_ v: [Double]) -> Double? {
        let f = v.filter(\.isFinite)
        return f.isEmpty ? nil : f.reduce(0, +) / Double(f.count)
    }

    static func bestIndex(_ v: [Double?], higherIsBetter: Bool) -> Int? {
        var best: Int?
        for (i, x) in v.enumerated() {
            guard let x else { continue }
            if let b = best, let bx = v[b], higherIsBetter ? x <= bx : x >= bx { continue }
            best = i
        }
        return best
    }

    /// FNV-1a of the image id: each image's random baselines depend only on the seed and the image.
    static func stableHash(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    /// Reads `scanpaths.jsonl`, the last record per image winning (a resumed image may appear twice).
    public static func readRecords(_ directory: URL) throws -> [ScanpathRecord] {
        let url = directory.appendingPathComponent("scanpaths.jsonl")
        guard FileManager.default.fileExists(atPath: url.path) else { return [] }
        var byImage: [String: ScanpathRecord] = [:]
        for (i, line) in try RunStore.readLines(url, repair: true).enumerated() {
            do { let r = try JSONDecoder().decode(ScanpathRecord.self, from: line); byImage[r.image] = r } catch {
                throw RunStoreError.corrupt(url, "line \(i + 1) is not a scanpath record: \(error)")
            }
        }
        return byImage.values.sorted { $0.image < $1.image }
    }
}
