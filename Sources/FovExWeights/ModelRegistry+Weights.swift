import Foundation
import FovExCheckpoints
import FovExModels

// Loading a model with its weights needs the file's SHA-256 for the model's identity, so these live with the
// weights, not with the architectures.

extension ModelRegistry {
    /// The model `name` (an architecture or a weights id) with its weights from the cache, after
    /// checking the file against the SHA-256 recorded when it was fetched.
    public static func cachedModel(_ name: String, cache: WeightsCache = .fromEnvironment()) throws -> any ImageClassifier {
        try cachedModel(KnownWeights.named(name), cache: cache)
    }

    /// The model `weights` are for, with them loaded from the cache after checking their recorded SHA-256.
    public static func cachedModel(_ weights: KnownWeights, cache: WeightsCache) throws -> any ImageClassifier {
        let (checkpoint, digest) = try cache.verifiedFile(for: weights) { try Checkpoint.load($0) }
        return try model(weights.architecture, checkpoint: checkpoint, source: weights.fileName, sha256: digest)
    }

    /// The model `name` with weights from a safetensors, PyTorch ZIP or PyTorch legacy checkpoint file;
    /// its SHA-256 is recorded in the model's identity.
    public static func model(_ name: String, weightsFile url: URL) throws -> any ImageClassifier {
        _ = try architecture(name)
        let hashing = SHA256.startHashing(fileAt: url)
        let checkpoint = try Checkpoint.load(url)
        let digest = try hashing.wait().hexString
        return try model(name, checkpoint: checkpoint, source: url.lastPathComponent, sha256: digest)
    }
}
