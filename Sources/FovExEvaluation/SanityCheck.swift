import Foundation
import FovExExplainers
import FovExImaging
import FovExMetrics
import FovExModels
import FovExTensor

/// What a sanity-check run was asked to do, recorded in `RUN_DIR/config.json`; a resumed run must ask
/// for the same.
public struct SanityConfiguration: Sendable, Codable, Equatable {
    /// The architecture.
    public var model: String
    /// Where its trained weights came from.
    public var weights: String
    /// Their SHA-256, when loaded from a file.
    public var weightsSHA256: String?
    /// The methods, in order.
    public var methods: [String]
    /// The model's layers, top first: the cascade re-initialises them in this order.
    public var layers: [String]
    /// The cascade steps computed: step k has the first k layers re-initialised.
    public var depths: [Int]
    /// Seed of the image subset, of the re-initialised weights and of every seeded method.
    public var seed: UInt64
    /// How many images (a seeded subset), or nil for all.
    public var limit: Int?
    /// Whether the images were drawn among those the trained model classifies correctly.
    public var correctOnly: Bool
    /// Every method's options, `method.option` → value.
    public var options: [String: String]
    /// The program's version.
    public var codeVersion: String
    /// The data set's identity.
    public var dataset: DatasetIdentity?

    /// A record of these choices.
    public init(model: String, weights: String, weightsSHA256: String?, methods: [String], layers: [String], depths: [Int],
                seed: UInt64, limit: Int?, correctOnly: Bool, options: [String: String], codeVersion: String,
                dataset: DatasetIdentity?) {
        self.model = model
        self.weights = weights
        self.weightsSHA256 = weightsSHA256
        self.methods = methods
        self.layers = layers
        self.depths = depths
        self.seed = seed
        self.limit = limit
        self.correctOnly = correctOnly
        self.options = options
        self.codeVersion = codeVersion
        self.dataset = dataset
    }

    /// Whether a run of `other` may continue this one (everything but the program's version agrees).
    func resumable(by other: SanityConfiguration) -> Bool {
        var a = self, b = other
        a.codeVersion = ""
        b.codeVersion = ""
        return a == b
    }
}

/// One similarity record: an image, a method and a cascade step.
public struct SanityRow: Sendable, Codable, Equatable {
    /// The image's id in the data set.
    public var image: String
    /// The method.
    public var method: String
    /// How many layers were re-initialised (1…layers).
    public var depth: Int
    /// The lowest layer re-initialised at this step.
    public var layer: String
    /// The class explained: the trained model's top-1 prediction, at every step.
    public var classIndex: Int
    /// The similarities of the trained model's map and this step's.
    public var similarities: SanitySimilarities

    var key: String { "\(image)\u{1F}\(method)\u{1F}\(depth)" }
}

/// A sanity-check run directory: `config.json`, `results.jsonl` (one row per image, method and step,
/// appended as each finishes, so an interrupted run resumes where it stopped), `maps/` for the gallery,
/// and the outputs of ``SanityReport``. The directory is locked (``RunDirectoryLock``) while open.
public final class SanityStore {
    /// The run directory.
    public let directory: URL
    /// The rows written so far.
    public private(set) var rows: [SanityRow] = []
    private var done: Set<String> = []
    private let lock: RunDirectoryLock

    /// Opens (or creates) the run directory for `configuration`, refusing one written for another
    /// configuration or held by another live process.
    public init(directory: URL, configuration: SanityConfiguration) throws {
        self.directory = directory
        do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw RunStoreError.io(directory, "cannot create the run directory: \(error.localizedDescription)")
        }
        lock = try RunDirectoryLock(directory: directory)
        let configURL = directory.appendingPathComponent("config.json")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        if FileManager.default.fileExists(atPath: configURL.path) {
            let existing: SanityConfiguration
            do { existing = try JSONDecoder().decode(SanityConfiguration.self, from: Data(contentsOf: configURL)) } catch {
                throw RunStoreError.io(configURL, "not a sanity-check configuration: \(error.localizedDescription)")
            }
            guard existing.resumable(by: configuration) else {
                throw RunStoreError.configurationMismatch(directory, "it holds a sanity check of other settings; use another --out")
            }
        } else {
            try RunStore.atomicWrite(try encoder.encode(configuration), to: configURL)
        }
        rows = try SanityStore.readRows(resultsURL, repair: true)
        done = Set(rows.map(\.key))
    }

    /// `RUN_DIR/results.jsonl`.
    public var resultsURL: URL { directory.appendingPathComponent("results.jsonl") }

    /// Whether the row of `image`, `method` and `depth` is written.
    public func hasRow(image: String, method: String, depth: Int) -> Bool { done.contains("\(image)\u{1F}\(method)\u{1F}\(depth)") }

    /// Appends rows in one write (``RunStore``'s append, so a kill leaves at most a partial last line).
    public func append(_ new: [SanityRow]) throws {
        guard !new.isEmpty else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var data = Data()
        for r in new { data += try encoder.encode(r) + Data("\n".utf8) }
        try RunStore.appendAtomically(data, to: resultsURL)
        rows += new
        for r in new { done.insert(r.key) }
    }

    /// The rows of a `results.jsonl`; a last line cut short by an interrupted run is dropped, and with
    /// `repair` the file is truncated to the whole lines so that appending continues cleanly (only the run
    /// that holds the directory repairs; a report reading a live run must not).
    public static func readRows(_ url: URL, repair: Bool = false) throws -> [SanityRow] {
        let decoder = JSONDecoder()
        return try RunStore.readLines(url, repair: repair).enumerated().map { i, line in
            do { return try decoder.decode(SanityRow.self, from: line) } catch {
                throw RunStoreError.corrupt(url, "line \(i + 1) is not a sanity-check row: \(error)")
            }
        }
    }

    /// Where the gallery's copy of a map is kept: `maps/IMAGE.METHOD.DEPTH.png` (depth 0: the trained model).
    public static func mapURL(in directory: URL, image: String, method: String, depth: Int) -> URL {
        directory.appendingPathComponent("maps/\(image).\(method).\(depth).png")
    }
}

/// The model-randomisation test of Adebayo et al. (2018): the model's layers are re-initialised
/// cumulatively from the top (``LayerRandomizable``), and after each step the same images are
/// explained for the same class (the trained model's prediction) and compared with the trained model's
/// maps (``SanitySimilarities``).
///
/// Steps are computed one after another, every image at a step before the next step, so an interrupted
/// run already holds the upper layers for every image; the trained model's maps are recomputed when a
/// run resumes (every method is deterministic given the seed).
public struct SanityCheck {
    /// The trained model.
    public var model: any LayerRandomizable
    /// The methods.
    public var explainers: [Explainer]
    /// The data set.
    public var data: EvaluationDataset
    /// The images, in order.
    public var imageIDs: [String]
    /// The cascade steps to compute (numbers of layers re-initialised, each in 1…layers).
    public var depths: [Int]
    /// Seed of the re-initialised weights.
    public var seed: UInt64
    /// Maps kept for the gallery: those of the first this many images.
    public var galleryImages = 2

    /// A check of `model`'s `explainers` on `imageIDs` of `data` at `depths`.
    public init(model: any LayerRandomizable, explainers: [Explainer], data: EvaluationDataset, imageIDs: [String],
                depths: [Int], seed: UInt64) {
        self.model = model
        self.explainers = explainers
        self.data = data
        self.imageIDs = imageIDs
        self.depths = depths
        self.seed = seed
    }

    /// The paper's geometry: the whole image resized straight to the model's input size.
    var inputGeometry: Preprocessing {
        var geometry = model.preprocessing
        geometry.geometry = .direct(size: geometry.inputSize)
        return geometry
    }

    func pixels(of id: String) throws -> Tensor {
        guard let file = data.file(of: id) else { throw DatasetError.malformed(data.root, "it does not list \(id)") }
        return inputGeometry.input(for: try RGBImage(contentsOf: file))
    }

    /// The images among the seeded order of `selection` that the trained model classifies correctly,
    /// as many as the selection's limit.
    public static func correctlyClassified(_ model: ImageClassifier, data: EvaluationDataset, selection: Selection) -> [String] {
        var geometry = model.preprocessing
        geometry.geometry = .direct(size: geometry.inputSize)
        return selection.apply(to: data.imageIDs) { id in
            guard let file = data.file(of: id), let label = data.label(of: id),
                  let photo = try? RGBImage(contentsOf: file) else { return false }
            return model.probabilities(geometry.input(for: photo)).argmax(alongAxis: 1)[0] == label
        }.ids
    }

    /// Computes every (step, image, method) not yet in `store`; `progress(done, total)` counts
    /// (step, image) pairs.
    public func run(into store: SanityStore, progress: (Int, Int) -> Void = { _, _ in }) throws {
        let layers = model.layersTopDown
        let total = depths.count * imageIDs.count
        var trained: [String: (classIndex: Int, maps: [String: Tensor])] = [:]
        func trainedMaps(_ id: String, _ pixels: Tensor) throws -> (classIndex: Int, maps: [String: Tensor]) {
            if let t = trained[id] { return t }
            let predicted = model.probabilities(pixels).argmax(alongAxis: 1)[0]
            var maps: [String: Tensor] = [:]
            for e in explainers { maps[e.name] = try e.explain(pixels, model: model, classes: [predicted])[0].map }
            if imageIDs.prefix(galleryImages).contains(id) {
                for (method, map) in maps { try keep(map, image: id, method: method, depth: 0, in: store) }
            }
            trained[id] = (predicted, maps)
            return (predicted, maps)
        }
        progress(0, total)
        var finished = 0
        for depth in depths {
            let pending = imageIDs.filter { id in explainers.contains { !store.hasRow(image: id, method: $0.name, depth: depth) } }
            finished += imageIDs.count - pending.count
            progress(finished, total)
            guard !pending.isEmpty else { continue }
            let randomised = model.randomizingLayers(depth, seed: seed)
            for id in pending {
                let input = try pixels(of: id)
                let (classIndex, maps) = try trainedMaps(id, input)
                var rows: [SanityRow] = []
                for e in explainers where !store.hasRow(image: id, method: e.name, depth: depth) {
                    let map = try e.explain(input, model: randomised, classes: [classIndex])[0].map
                    let reference = maps[e.name]!
                    let (h, w) = (map.shape[0], map.shape[1])
                    let similarities = SanitySimilarities(trained: reference.contiguous().scalars.map(Double.init),
                                                          randomised: map.contiguous().scalars.map(Double.init),
                                                          width: w, height: h)
                    rows.append(SanityRow(image: id, method: e.name, depth: depth, layer: layers[depth - 1].name,
                                          classIndex: classIndex, similarities: similarities))
                    if imageIDs.prefix(galleryImages).contains(id) {
                        try keep(map, image: id, method: e.name, depth: depth, in: store)
                    }
                }
                try store.append(rows)
                finished += 1
                progress(finished, total)
            }
        }
    }

    /// Keeps a map as a 16-bit PNG, normalised by its largest absolute value as the similarities see it.
    func keep(_ map: Tensor, image: String, method: String, depth: Int, in store: SanityStore) throws {
        let url = SanityStore.mapURL(in: store.directory, image: image, method: method, depth: depth)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw RunStoreError.io(url.deletingLastPathComponent(), "cannot create: \(error.localizedDescription)")
        }
        let values = MapSimilarity.normalisedByMax(map.contiguous().scalars.map { $0.isFinite ? Double(abs($0)) : 0 })
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp.png")
        try FloatMap(width: map.shape[1], height: map.shape[0], values: values.map(Float.init)).writePNG(to: tmp, bitDepth: .sixteen)
        guard rename(tmp.path, url.path) == 0 else { throw RunStoreError.io(url, String(cString: strerror(errno))) }
    }
}
