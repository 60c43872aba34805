import Foundation
import XCTest
@testable import FovExCheckpoints

final class CheckpointTests: XCTestCase {
    func testLoadRecognisesEachFormatByContent() throws {
        let dir = try Fixtures.temporaryDirectory(for: self)
        for name in ["state_zip.pt", "state_legacy.pt", "state.safetensors"] {
            // A misleading extension must not matter.
            let copy = dir.appendingPathComponent(name + ".bin")
            try FileManager.default.copyItem(at: Fixtures.url(name), to: copy)
            try assertMatchesExpected(Checkpoint.load(copy))
        }
    }

    func testLoadStripsModulePrefixAndUnwraps() throws {
        try assertMatchesExpected(Checkpoint.load(Fixtures.url("wrapped_zip.pt")))
    }

    func testLoadRejectsUnknownAndEmptyFiles() throws {
        let dir = try Fixtures.temporaryDirectory(for: self)
        let empty = dir.appendingPathComponent("empty.pt"), text = dir.appendingPathComponent("notes.txt")
        try Data().write(to: empty)
        try Data("hello world".utf8).write(to: text)
        assertCheckpointError(try Checkpoint.load(empty), mentions: ["empty.pt", "empty"])
        assertCheckpointError(try Checkpoint.load(text), mentions: ["notes.txt", "not a safetensors"])
        assertCheckpointError(try Checkpoint.load(dir.appendingPathComponent("absent.pt")), mentions: ["absent.pt"])
    }

    func testStrippingPrefixOnlyWhenEveryNameHasIt() {
        let t = CheckpointTensor(shape: [1], values: [1])
        let all = Checkpoint([("module.a", t), ("module.b", t)])
        XCTAssertEqual(all.strippingPrefix("module.").names, ["a", "b"])
        let mixed = Checkpoint([("module.a", t), ("b", t)])
        XCTAssertEqual(mixed.strippingPrefix("module.").names, ["module.a", "b"])
    }

    func testSubscriptKeepsNamesInOrder() {
        var c = Checkpoint()
        c["b"] = CheckpointTensor(shape: [1], values: [1])
        c["a"] = CheckpointTensor(shape: [1], values: [2])
        c["b"] = CheckpointTensor(shape: [1], values: [3])
        XCTAssertEqual(c.names, ["b", "a"])
        XCTAssertEqual(c["b"]?.values, [3])
        c["b"] = nil
        XCTAssertEqual(c.names, ["a"])
        XCTAssertEqual(c.count, 1)
    }

    func testVerifyReportsMissingUnexpectedAndMisShapedByName() throws {
        let checkpoint = try Checkpoint.load(Fixtures.url("state.safetensors"))
        var expected = Dictionary(uniqueKeysWithValues: checkpoint.names.map { ($0, checkpoint[$0]!.shape) })
        XCTAssertNil(checkpoint.verify(expected: expected))

        expected["head.weight"] = [10, 4]
        expected["conv.weight"] = [4, 3, 5, 5]
        expected["param.weight"] = nil
        let mismatch = try XCTUnwrap(checkpoint.verify(expected: expected))
        XCTAssertEqual(mismatch.missing, ["head.weight"])
        XCTAssertEqual(mismatch.unexpected, ["param.weight"])
        XCTAssertEqual(mismatch.misShaped, [.init(name: "conv.weight", expected: [4, 3, 5, 5], found: [4, 3, 3, 3])])
        for fragment in ["missing 1: head.weight", "unexpected 1: param.weight", "conv.weight expected [4, 3, 5, 5] found [4, 3, 3, 3]"] {
            XCTAssertTrue(mismatch.description.contains(fragment), mismatch.description)
        }
        XCTAssertEqual(checkpoint.verify(expected: expected, allowingUnexpected: true)?.unexpected, [])
    }

    func testConvertingTorchToSafetensorsPreservesTensors() throws {
        let dir = try Fixtures.temporaryDirectory(for: self)
        let url = dir.appendingPathComponent("converted.safetensors")
        let source = try Checkpoint.load(Fixtures.url("state_legacy.pt"))
        try source.writeSafetensors(to: url)
        let converted = try Checkpoint.load(url)
        XCTAssertEqual(converted.names, source.names)
        for name in source.names {
            XCTAssertEqual(converted[name]?.values, source[name]?.values, name)
            XCTAssertEqual(converted[name]?.shape, source[name]?.shape, name)
        }
    }

    /// Corrupted bytes anywhere must give a result or a thrown error, never a crash or a runaway allocation.
    func testRandomlyCorruptedFilesNeverCrash() throws {
        var state: UInt64 = 0x9e37_79b9_7f4a_7c15
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        for name in ["state_zip.pt", "state_legacy.pt", "state.safetensors", "wrapped_legacy.pt"] {
            let original = try Fixtures.data(name)
            var failures = 0
            for _ in 0..<150 {
                var data = original
                for _ in 0..<3 { data[next(data.count)] = UInt8(next(256)) }
                do {
                    _ = try TorchOrSafetensors.read(data, name: name)
                } catch is CheckpointError {
                    failures += 1
                }
            }
            XCTAssertGreaterThan(failures, 0, "\(name): corruption was never detected")
        }
    }
}

/// Reads bytes the way ``Checkpoint/load(_:)`` dispatches on a file.
private enum TorchOrSafetensors {
    static func read(_ data: Data, name: String) throws -> Checkpoint {
        name.hasSuffix(".safetensors")
            ? try SafetensorsReader(data: data, fileName: name).checkpoint()
            : try TorchCheckpointReader.read(data: data, fileName: name)
    }
}
