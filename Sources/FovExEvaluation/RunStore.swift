import Foundation

/// One result row: one image explained by one method, with every metric value and curve.
public struct ResultRow: Sendable, Codable, Equatable {
    /// The image's identifier: its path below the data set's root.
    public var image: String
    /// The method that explained it.
    public var method: String
    /// The class explained.
    public var classIndex: Int
    /// That class's softmax probability on the clean image.
    public var probability: Float
    /// Metric name → value.
    public var metrics: [String: Double]
    /// Metric name → per-step curve (deletion, insertion).
    public var curves: [String: [Double]]
    /// Metric name → why it has no value for this image (no fixations, no usable box, …); such a
    /// metric is absent from `metrics`, never stored as 0.
    public var missing: [String: String]
    /// Seconds the explanation took.
    public var seconds: Double

    /// A row; the evaluator builds these.
    public init(image: String, method: String, classIndex: Int, probability: Float, metrics: [String: Double],
                curves: [String: [Double]] = [:], missing: [String: String] = [:], seconds: Double) {
        self.image = image
        self.method = method
        self.classIndex = classIndex
        self.probability = probability
        self.metrics = metrics
        self.curves = curves
        self.missing = missing
        self.seconds = seconds
    }

    enum CodingKeys: String, CodingKey { case image, method, classIndex, probability, metrics, curves, missing, seconds }

    // `missing` is written only when there is something missing, so rows without it read as before.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        image = try c.decode(String.self, forKey: .image)
        method = try c.decode(String.self, forKey: .method)
        classIndex = try c.decode(Int.self, forKey: .classIndex)
        probability = try c.decode(Float.self, forKey: .probability)
        metrics = try c.decode([String: Double].self, forKey: .metrics)
        curves = try c.decode([String: [Double]].self, forKey: .curves)
        missing = try c.decodeIfPresent([String: String].self, forKey: .missing) ?? [:]
        seconds = try c.decode(Double.self, forKey: .seconds)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(image, forKey: .image)
        try c.encode(method, forKey: .method)
        try c.encode(classIndex, forKey: .classIndex)
        try c.encode(probability, forKey: .probability)
        try c.encode(metrics, forKey: .metrics)
        try c.encode(curves, forKey: .curves)
        if !missing.isEmpty { try c.encode(missing, forKey: .missing) }
        try c.encode(seconds, forKey: .seconds)
    }

    var key: String { image + "\u{1F}" + method }
}

/// What a run is: everything that must match for two runs' rows to be merged.
public struct RunConfiguration: Sendable, Codable, Equatable {
    /// The architecture's name.
    public var model: String
    /// Where the weights came from.
    public var weights: String
    /// Their SHA-256, when loaded from a file.
    public var weightsSHA256: String?
    /// `imagenet` or `gaze`.
    public var dataKind: String
    /// The methods, in order.
    public var methods: [String]
    /// The metrics, in order.
    public var metrics: [String]
    /// The selection's limit, if any.
    public var limit: Int?
    /// The selection's (and the seeded methods') seed.
    public var seed: UInt64
    /// Whether misclassified images were skipped.
    public var correctOnly: Bool
    /// Method and metric options as name → value.
    public var options: [String: String]
    /// The code's version and the checkout's commit.
    public var codeVersion: String
    /// The data set's kind, path and digest; nil only in runs written before it was recorded.
    public var dataset: DatasetIdentity?

    /// A configuration; the evaluate command builds it from its options.
    public init(model: String, weights: String, weightsSHA256: String?, dataKind: String, methods: [String],
                metrics: [String], limit: Int?, seed: UInt64, correctOnly: Bool, options: [String: String], codeVersion: String,
                dataset: DatasetIdentity? = nil) {
        self.dataset = dataset
        self.model = model
        self.weights = weights
        self.weightsSHA256 = weightsSHA256
        self.dataKind = dataKind
        self.methods = methods
        self.metrics = metrics
        self.limit = limit
        self.seed = seed
        self.correctOnly = correctOnly
        self.options = options
        self.codeVersion = codeVersion
    }

    /// The fields two runs must share to be merged (the code version, the shard and the data set's
    /// path may differ; the data set's digest may not).
    func mergeable(with other: RunConfiguration) -> Bool {
        var a = self, b = other
        a.codeVersion = ""; b.codeVersion = ""
        a.dataset?.path = ""; b.dataset?.path = ""
        return a == b
    }
}

/// A run directory that cannot be used as asked; each message names the file and what to do.
public enum RunStoreError: Error, CustomStringConvertible {
    /// The directory holds a run with a different configuration (the message names the difference); use a new directory.
    case configurationMismatch(URL, String)
    /// A file of the run cannot be parsed beyond repair.
    case corrupt(URL, String)
    /// A file of the run cannot be read or written; the system's reason.
    case io(URL, String)
    /// Another process holds the run directory's lock; `holder` is its process id.
    case locked(URL, holder: String)

    public var description: String {
        switch self {
        case let .locked(u, holder): return "\(u.path): this run directory is in use by \(holder); wait for it to finish or use another --out directory"
        case let .configurationMismatch(u, why): return "\(u.path): this run directory holds a different configuration (\(why)); use a new --out directory"
        case let .corrupt(u, why): return "\(u.path): \(why)"
        case let .io(u, why): return "\(u.path): \(why)"
        }
    }
}

/// Why an image of a run has no rows.
public enum SkipKind: String, Sendable, Codable {
    /// Left out by `--correct-only`: the model's prediction is not the label.
    case misclassified
    /// The image could not be read or decoded.
    case unreadable
    /// The scanpath protocol: fewer than two observer scanpaths, so no leave-one-out ceiling.
    case fewObservers
}

/// An image of a run that has no rows, and why.
public struct SkippedImage: Sendable, Codable, Equatable {
    /// The image's identifier.
    public var image: String
    /// Why, in words.
    public var reason: String
    /// Why, as a category (nil in runs written before it was recorded).
    public var kind: SkipKind?
}

/// A run directory: `config.json`, `shard.json`, `results.jsonl` (one JSON object per line),
/// `skipped.jsonl` (images left out, with the reason), `warnings.log` (every metric and data
/// warning, tagged with the image and method), `maps/` (the first images' maps, for the report's
/// gallery) and `lock`.
///
/// Rows of one image are appended with a single `write` on a file opened with `O_APPEND`, then
/// synced, so a killed run leaves at most one partial line at the end; opening the store drops
/// that line, and rows already present are never written again. The store holds an exclusive
/// lock on the directory (``RunDirectoryLock``) while it is open: a second process is refused.
public final class RunStore {
    /// The run directory.
    public let directory: URL
    /// The configuration the directory holds.
    public let configuration: RunConfiguration
    /// Every row written so far, this session's and earlier ones'.
    public private(set) var rows: [ResultRow] = []
    /// Images left out (e.g. misclassified under `--correct-only`), with the reason.
    public private(set) var skipped: [String: String] = [:]
    private var done = Set<String>()
    private let lock: RunDirectoryLock

    var resultsURL: URL { directory.appendingPathComponent("results.jsonl") }
    var skippedURL: URL { directory.appendingPathComponent("skipped.jsonl") }
    var configURL: URL { directory.appendingPathComponent("config.json") }
    /// Where warnings are kept, one per line.
    public var warningsURL: URL { directory.appendingPathComponent("warnings.log") }

    /// Opens (creating if needed) a run directory for `configuration`; refuses a directory that
    /// holds a different configuration.
    public init(directory: URL, configuration: RunConfiguration, shard: (index: Int, count: Int) = (0, 1)) throws {
        self.directory = directory
        self.configuration = configuration
        let fm = FileManager.default
        do { try fm.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw RunStoreError.io(directory, "cannot create the run directory: \(error.localizedDescription)")
        }
        lock = try RunDirectoryLock(directory: directory)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        if fm.fileExists(atPath: configURL.path) {
            let existing = try RunStore.readConfiguration(configURL)
            guard existing.mergeable(with: configuration) else {
                throw RunStoreError.configurationMismatch(directory, RunStore.difference(existing, configuration))
            }
        } else {
            try RunStore.atomicWrite(try encoder.encode(configuration), to: configURL)
        }
        let shardURL = directory.appendingPathComponent("shard.json")
        let shardData = try encoder.encode(["index": shard.index, "count": shard.count])
        if let existing = try? Data(contentsOf: shardURL), existing != shardData {
            throw RunStoreError.configurationMismatch(directory, "it was written by a different --shard")
        }
        try RunStore.atomicWrite(shardData, to: shardURL)
        rows = try RunStore.readRows(resultsURL, repair: true)
        for r in rows { done.insert(r.key) }
        for s in try RunStore.readSkipped(skippedURL, repair: true) { skipped[s.image] = s.reason }
    }

    /// Whether `image` was already handled by every method (or skipped).
    public func isFinished(image: String, methods: [String]) -> Bool {
        skipped[image] != nil || methods.allSatisfy { done.contains(image + "\u{1F}" + $0) }
    }

    /// Whether `image` already has a row for `method`.
    public func hasRow(image: String, method: String) -> Bool { done.contains(image + "\u{1F}" + method) }

    /// Appends the rows of one image in one write; rows already stored are left out.
    public func append(_ newRows: [ResultRow]) throws {
        let fresh = newRows.filter { !done.contains($0.key) }
        guard !fresh.isEmpty else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var blob = Data()
        for r in fresh {
            blob.append(try encoder.encode(r))
            blob.append(0x0A)
        }
        try RunStore.appendAtomically(blob, to: resultsURL)
        for r in fresh { done.insert(r.key); rows.append(r) }
    }

    /// Records that an image was left out (e.g. misclassified under --correct-only), so a resumed
    /// run does not look at it again.
    public func skip(image: String, reason: String, kind: SkipKind) throws {
        guard skipped[image] == nil else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var blob = try encoder.encode(SkippedImage(image: image, reason: reason, kind: kind))
        blob.append(0x0A)
        try RunStore.appendAtomically(blob, to: skippedURL)
        skipped[image] = reason
    }

    /// Appends warnings to `warnings.log`, one per line.
    public func log(warnings: [String]) throws {
        guard !warnings.isEmpty else { return }
        let text = warnings.map { $0.replacingOccurrences(of: "\n", with: " ") + "\n" }.joined()
        try RunStore.appendAtomically(Data(text.utf8), to: warningsURL)
    }

    /// Where the map of `image` explained by `method` is kept: `maps/<image path>.<method>.png`,
    /// mirroring the image's path so that no two images share a file.
    public static func mapURL(in directory: URL, image: String, method: String) -> URL {
        directory.appendingPathComponent("maps").appendingPathComponent("\(image).\(method).png")
    }

    // MARK: - Files

    /// The skipped images of a run directory's `skipped.jsonl`.
    public static func readSkipped(_ url: URL, repair: Bool = false) throws -> [SkippedImage] {
        try readLines(url, repair: repair).enumerated().map { i, line in
            do { return try JSONDecoder().decode(SkippedImage.self, from: line) } catch {
                throw RunStoreError.corrupt(url, "line \(i + 1) is not a skipped-image record: \(error)")
            }
        }
    }

    /// The configuration stored in `url` (a run's `config.json`); throws ``RunStoreError`` naming the file.
    public static func readConfiguration(_ url: URL) throws -> RunConfiguration {
        guard let data = try? Data(contentsOf: url) else { throw RunStoreError.io(url, "cannot read the run configuration") }
        do { return try JSONDecoder().decode(RunConfiguration.self, from: data) } catch {
            throw RunStoreError.corrupt(url, "not a run configuration: \(error)")
        }
    }

    /// Rows of a results file; with `repair`, a partial last line (a killed write) is cut off.
    public static func readRows(_ url: URL, repair: Bool = false) throws -> [ResultRow] {
        let decoder = JSONDecoder()
        var seen = Set<String>()
        var out: [ResultRow] = []
        for (i, line) in try readLines(url, repair: repair).enumerated() {
            let row: ResultRow
            do { row = try decoder.decode(ResultRow.self, from: line) } catch {
                throw RunStoreError.corrupt(url, "line \(i + 1) is not a result row: \(error)")
            }
            if seen.insert(row.key).inserted { out.append(row) }
        }
        return out
    }

    static func readLines(_ url: URL, repair: Bool) throws -> [Data] {
        guard FileManager.default.fileExists(atPath: url.path) else { return [] }
        guard var data = try? Data(contentsOf: url) else { throw RunStoreError.io(url, "cannot read") }
        if let last = data.last, last != 0x0A {
            // A write interrupted by a kill: drop the partial line.
            let cut = data.lastIndex(of: 0x0A).map { $0 + 1 } ?? data.startIndex
            data = data[data.startIndex..<cut]
            if repair {
                guard let h = FileHandle(forWritingAtPath: url.path) else { throw RunStoreError.io(url, "cannot repair") }
                try h.truncate(atOffset: UInt64(data.count))
                try h.close()
            }
        }
        return data.split(separator: 0x0A).map { Data($0) }
    }

    static func appendAtomically(_ blob: Data, to url: URL) throws {
        let fd = open(url.path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        guard fd >= 0 else { throw RunStoreError.io(url, "cannot open for appending: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let written = blob.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == blob.count else { throw RunStoreError.io(url, "short write (\(written) of \(blob.count) bytes)") }
        fsync(fd)
    }

    /// Writes `data` to a temporary file beside `url` and renames it into place.
    public static func atomicWrite(_ data: Data, to url: URL) throws {
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
        do {
            try data.write(to: tmp)
            guard rename(tmp.path, url.path) == 0 else { throw RunStoreError.io(url, String(cString: strerror(errno))) }
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw RunStoreError.io(url, "cannot write: \(error.localizedDescription)")
        }
    }

    static func difference(_ a: RunConfiguration, _ b: RunConfiguration) -> String {
        var diffs: [String] = []
        if a.model != b.model { diffs.append("model \(a.model) vs \(b.model)") }
        if a.weights != b.weights || a.weightsSHA256 != b.weightsSHA256 { diffs.append("weights \(a.weights) vs \(b.weights)") }
        if a.dataKind != b.dataKind { diffs.append("data \(a.dataKind) vs \(b.dataKind)") }
        if a.dataset?.kind != b.dataset?.kind || a.dataset?.digest != b.dataset?.digest {
            func describe(_ d: DatasetIdentity?) -> String {
                d.map { "\($0.kind):\($0.path) (digest \($0.digest.prefix(12)))" } ?? "not recorded (an older run)"
            }
            diffs.append("data set \(describe(a.dataset)) vs \(describe(b.dataset))")
        }
        if a.methods != b.methods { diffs.append("methods \(a.methods) vs \(b.methods)") }
        if a.metrics != b.metrics { diffs.append("metrics \(a.metrics) vs \(b.metrics)") }
        if a.limit != b.limit || a.seed != b.seed { diffs.append("subset limit/seed") }
        if a.correctOnly != b.correctOnly { diffs.append("--correct-only") }
        if a.options != b.options { diffs.append("options") }
        return diffs.isEmpty ? "settings differ" : diffs.joined(separator: "; ")
    }
}
