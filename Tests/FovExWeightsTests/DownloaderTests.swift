import Foundation
import XCTest
import FovExModels
@testable import FovExWeights

/// The downloader against a loopback server: resuming, verification and atomic placement.
final class DownloaderTests: XCTestCase {
    private var server: LoopbackHTTPServer!
    private var directory: URL!
    private var body: [UInt8] = []

    override func setUpWithError() throws {
        var generator = SystemRandomNumberGenerator()
        body = (0..<300_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        server = try LoopbackHTTPServer(body: body)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fovex-download-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        server.stop()
        try? FileManager.default.removeItem(at: directory)
    }

    private var destination: URL { directory.appendingPathComponent("weights.bin") }
    private var part: URL { Downloader.partialFile(for: destination) }
    private var quickRetries: Downloader { Downloader(maxAttempts: 4, retryDelay: 0.01, idleTimeout: 10) }
    private func contents(_ url: URL) -> [UInt8]? { (try? Data(contentsOf: url)).map { [UInt8]($0) } }

    func testDownloadsWholeFileVerifiedAgainstFullChecksum() throws {
        let digest = try quickRetries.download(server.url, to: destination, expecting: .full(SHA256.hash(body).hexString))
        XCTAssertEqual(contents(destination), body)
        XCTAssertEqual(digest, SHA256.hash(body))
        XCTAssertFalse(FileManager.default.fileExists(atPath: part.path), "the .part file must be gone")
        XCTAssertEqual(server.requests, [.init(path: "/file", range: nil)])
    }

    func testPublishedPrefixIsChecked() throws {
        let prefix = String(SHA256.hash(body).hexString.prefix(8))
        XCTAssertNoThrow(try quickRetries.download(server.url, to: destination, expecting: .prefix(prefix)))
        XCTAssertEqual(contents(destination), body)
    }

    func testResumesWithRangeRequestAfterDroppedConnection() throws {
        server.drops = [100_000, 50_000]
        try quickRetries.download(server.url, to: destination)
        XCTAssertEqual(contents(destination), body)
        XCTAssertEqual(server.requests.map(\.range), [nil, "bytes=100000-", "bytes=150000-"])
    }

    func testResumesPartialFileLeftByAnEarlierRun() throws {
        try Data(body[0..<1234]).write(to: part)
        try quickRetries.download(server.url, to: destination, expecting: .full(SHA256.hash(body).hexString))
        XCTAssertEqual(contents(destination), body)
        XCTAssertEqual(server.requests.map(\.range), ["bytes=1234-"])
    }

    func testCompletePartialFileIsAcceptedWhenServerSaysNothingIsLeft() throws {
        try Data(body).write(to: part)
        try quickRetries.download(server.url, to: destination, expecting: .full(SHA256.hash(body).hexString))
        XCTAssertEqual(contents(destination), body)
        XCTAssertEqual(server.requests.map(\.range), ["bytes=\(body.count)-"])
    }

    func testServerIgnoringRangeMakesItStartOver() throws {
        server.honoursRange = false
        // Stale bytes that do not belong to the file: a full response must replace them, not follow them.
        try Data(repeating: 0xAB, count: 5000).write(to: part)
        try quickRetries.download(server.url, to: destination, expecting: .full(SHA256.hash(body).hexString))
        XCTAssertEqual(contents(destination), body)
    }

    func testFollowsRedirects() throws {
        try quickRetries.download(URL(string: "http://127.0.0.1:\(server.port)/redirect")!, to: destination)
        XCTAssertEqual(contents(destination), body)
        XCTAssertEqual(server.requests.map(\.path), ["/redirect", "/file"])
    }

    func testCorruptFileIsRejectedAndNeverEntersTheCache() throws {
        let expected = SHA256.hash(body).hexString
        var corrupt = body
        corrupt[150_000] ^= 0x01
        server.body = corrupt
        XCTAssertThrowsError(try quickRetries.download(server.url, to: destination, expecting: .full(expected))) { error in
            guard case WeightsError.checksumMismatch(_, let wanted, let found) = error else {
                return XCTFail("expected a checksum mismatch, got \(error)")
            }
            XCTAssertEqual(wanted, expected)
            XCTAssertEqual(found, SHA256.hash(corrupt).hexString)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: destination.path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: part.path), "a corrupt download must not be kept for resuming")
    }

    func testFailedDownloadLeavesEarlierFileUntouched() throws {
        let earlier: [UInt8] = Array("earlier, verified weights".utf8)
        try Data(earlier).write(to: destination)
        struct NotACheckpoint: Error {}
        XCTAssertThrowsError(try quickRetries.download(server.url, to: destination) { _ in throw NotACheckpoint() }) { error in
            guard case WeightsError.invalidFile = error else { return XCTFail("expected invalidFile, got \(error)") }
        }
        XCTAssertEqual(contents(destination), earlier)
        XCTAssertFalse(FileManager.default.fileExists(atPath: part.path))
    }

    func testDestinationNeverHoldsPartialBytes() throws {
        server.drops = [120_000]
        let destinationPath = destination.path
        let observations = Observations()
        var downloader = quickRetries
        downloader.progress = { bytes, total in
            observations.add(bytes: bytes, total: total, destinationExists: FileManager.default.fileExists(atPath: destinationPath))
        }
        try downloader.download(server.url, to: destination)
        XCTAssertFalse(observations.values.isEmpty)
        XCTAssertFalse(observations.values.contains { $0.destinationExists }, "the destination appeared before the download was verified")
        XCTAssertTrue(observations.values.allSatisfy { $0.total == body.count })
        XCTAssertEqual(observations.values.last?.bytes, body.count)
        XCTAssertEqual(contents(destination), body)
    }

    func testGivesUpAfterMaxAttemptsButKeepsPartialBytesForLater() throws {
        server.drops = [10_000, 10_000, 10_000, 10_000, 10_000]
        var downloader = quickRetries
        downloader.maxAttempts = 3
        XCTAssertThrowsError(try downloader.download(server.url, to: destination)) { error in
            guard case WeightsError.network(_, _, let attempts) = error else { return XCTFail("expected a network error, got \(error)") }
            XCTAssertEqual(attempts, 3)
        }
        XCTAssertEqual(server.requests.count, 3)
        XCTAssertFalse(FileManager.default.fileExists(atPath: destination.path))
        XCTAssertEqual(contents(part), Array(body[0..<30_000]))
    }

    func testHTTPErrorIsReportedWithoutRetrying() throws {
        XCTAssertThrowsError(try quickRetries.download(URL(string: "http://127.0.0.1:\(server.port)/missing")!, to: destination)) { error in
            guard case WeightsError.http(_, let status) = error else { return XCTFail("expected an HTTP error, got \(error)") }
            XCTAssertEqual(status, 404)
        }
        XCTAssertEqual(server.requests.count, 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: destination.path))
    }
}

/// Progress callbacks arrive on URLSession's queue.
private final class Observations: @unchecked Sendable {
    struct Value { var bytes: Int; var total: Int?; var destinationExists: Bool }
    private let lock = NSLock()
    private var _values: [Value] = []
    var values: [Value] { lock.lock(); defer { lock.unlock() }; return _values }
    func add(bytes: Int, total: Int?, destinationExists: Bool) {
        lock.lock(); defer { lock.unlock() }
        _values.append(Value(bytes: bytes, total: total, destinationExists: destinationExists))
    }
}
