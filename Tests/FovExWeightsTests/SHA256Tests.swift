import Foundation
import XCTest
import FovExModels
@testable import FovExWeights

/// The FIPS 180-4 / NIST CSRC example vectors for SHA-256.
final class SHA256Tests: XCTestCase {
    private func hex(_ s: String) -> String { SHA256.hash(Array(s.utf8)).hexString }

    func testEmptyMessage() {
        XCTAssertEqual(hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    func testOneBlockMessage() {
        XCTAssertEqual(hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    func testTwoBlockMessage() {
        XCTAssertEqual(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    func testLongMessage() {
        XCTAssertEqual(hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
                       "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
    }

    func testOneMillionA() {
        var h = SHA256()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { h.update(chunk) }
        XCTAssertEqual(h.finalize().hexString, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Splitting the input at every offset around the 55/56/64-byte padding boundaries must not change the digest.
    func testIncrementalUpdatesAgreeWithOneShot() {
        for length in [55, 56, 57, 63, 64, 65, 119, 120, 128, 200] {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let whole = SHA256.hash(bytes)
            for split in [0, 1, 3, 55, 56, 63, 64, length] where split <= length {
                var h = SHA256()
                h.update(bytes[..<split])
                h.update(bytes[split...])
                XCTAssertEqual(h.finalize(), whole, "length \(length) split at \(split)")
            }
        }
    }

    func testFileHashMatchesInMemoryHash() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fovex-sha-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        let bytes = (0..<(5 << 20) + 17).map { UInt8(truncatingIfNeeded: $0 >> 3) }
        try Data(bytes).write(to: url)
        XCTAssertEqual(try SHA256.hash(fileAt: url), SHA256.hash(bytes))
    }

    /// Hashing on another thread gives the same digest, can be waited for twice, and passes on a read error.
    func testBackgroundHashMatchesAndReportsErrors() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fovex-sha-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        let bytes = (0..<(9 << 20) + 5).map { UInt8(truncatingIfNeeded: $0 &* 7 >> 2) }
        try Data(bytes).write(to: url)
        let pending = SHA256.startHashing(fileAt: url)
        XCTAssertEqual(try pending.wait(), SHA256.hash(bytes))
        XCTAssertEqual(try pending.wait(), SHA256.hash(bytes))
        XCTAssertThrowsError(try SHA256.startHashing(fileAt: URL(fileURLWithPath: "/nonexistent/fovex-model.onnx")).wait()) { error in
            XCTAssertTrue("\(error)".contains("fovex-model.onnx"), "\(error)")
        }
    }

    func testMissingFileIsAClearError() {
        XCTAssertThrowsError(try SHA256.hash(fileAt: URL(fileURLWithPath: "/nonexistent/fovex-weights.pth"))) { error in
            XCTAssertTrue("\(error)".contains("fovex-weights.pth"), "\(error)")
        }
    }
}
