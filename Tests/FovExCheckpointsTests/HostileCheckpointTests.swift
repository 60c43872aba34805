import Foundation
import XCTest
@testable import FovExCheckpoints

/// Issue 14's hostile checkpoints: each reproduced by a committed fixture (tools/make_hostile_checkpoint_fixtures.py)
/// or a few hand-written bytes, refused with an error that names the file and the problem, never a trap.
final class HostileCheckpointTests: XCTestCase {
    // MARK: Nesting

    func testFiftyThousandNestedTuplesAreRefusedWithoutOverflowingTheStack() {
        assertCheckpointError(try Checkpoint.load(Fixtures.url("nested_tuples.pt")),
                              mentions: ["nested_tuples.pt", "nested more than 100 levels"])
    }

    func testTuplesNestedToTheLimitAreAccepted() throws {
        let depth = PickleReader.maximumDepth
        let bytes: [UInt8] = [0x80, 2, 0x29] + [UInt8](repeating: 0x85, count: depth - 1) + [0x2e]
        var reader = PickleReader(data: Data(bytes), fileName: "deep.pkl")
        XCTAssertEqual(try reader.readValue().depth, depth)
        var deeper = PickleReader(data: Data(bytes.dropLast() + [0x85, 0x2e]), fileName: "deeper.pkl")
        assertCheckpointError(try deeper.readValue(), mentions: ["deeper.pkl", "nested more than"])
    }

    /// A list chain built top-down through the memo: each new list is appended to the previous one, fetched
    /// with BINGET, so no append ever sees the chain's true depth. The arena frees it without recursion.
    func testListChainBuiltThroughTheMemoIsFreedWithoutRecursion() throws {
        let links = 100_000
        var bytes: [UInt8] = [0x80, 2, 0x5d, 0x72, 0, 0, 0, 0, 0x30] // EMPTY_LIST, LONG_BINPUT 0, POP
        for i in 1...links {
            let previous = UInt32(i - 1), current = UInt32(i)
            bytes += [0x6a] + withUnsafeBytes(of: previous.littleEndian, Array.init) // LONG_BINGET previous
            bytes += [0x5d, 0x72] + withUnsafeBytes(of: current.littleEndian, Array.init) // EMPTY_LIST, LONG_BINPUT
            bytes += [0x61, 0x30] // APPEND (into the previous list), POP
        }
        bytes += [0x6a, 0, 0, 0, 0, 0x2e] // LONG_BINGET 0 (the head of the chain), STOP
        let arena = PickleArena()
        var reader = PickleReader(data: Data(bytes), fileName: "chain.pkl", arena: arena)
        guard case let .list(head) = try reader.readValue() else { return XCTFail("expected a list") }
        XCTAssertEqual(head.items.count, 1)
        arena.dismantle()
        XCTAssertTrue(head.items.isEmpty, "dismantling empties every list")
    }

    func testStateDictThatWrapsItselfIsRefused() throws {
        // EMPTY_DICT, BINPUT 0, SHORT_BINUNICODE 'state_dict', BINGET 0, SETITEM, STOP: {"state_dict": <itself>}
        let bytes: [UInt8] = [0x80, 2, 0x7d, 0x71, 0, 0x8c, 10] + Array("state_dict".utf8) + [0x68, 0, 0x73, 0x2e]
        let arena = PickleArena()
        defer { arena.dismantle() }
        var reader = PickleReader(data: Data(bytes), fileName: "loop.pkl", arena: arena)
        let root = try reader.readValue()
        assertCheckpointError(try TorchCheckpointReader.stateDict(from: root, fileName: "loop.pkl"),
                              mentions: ["loop.pkl", "wrapped more than 8 levels"])
    }

    // MARK: Format detection and safetensors offsets

    func testSafetensorsWhoseHeaderLengthStartsLikeAPickleIsReadAsSafetensors() throws {
        let data = try Fixtures.data("header_0x80.safetensors")
        XCTAssertEqual(Array(data.prefix(2)), [0x80, 0x02], "the fixture must start like a protocol-2 pickle")
        XCTAssertEqual(CheckpointFormat(detecting: data), .safetensors)
        let checkpoint = try Checkpoint.load(Fixtures.url("header_0x80.safetensors"))
        XCTAssertEqual(checkpoint.names, ["fc.weight", "fc.bias"])
        XCTAssertEqual(checkpoint["fc.weight"]?.shape, [2, 3])
        XCTAssertEqual(checkpoint["fc.weight"]?.values, [0.5, -1.25, 2.0, 3.5, -0.125, 7.0])
        XCTAssertEqual(checkpoint["fc.bias"]?.values, [1.0, -2.0])
    }

    func testEveryHeaderLengthLowByteIsDetectedAsSafetensors() throws {
        // Every first byte, including 0x80 followed by each pickle protocol number, with a '{' at byte 8.
        for length in 0..<1024 {
            var bytes = withUnsafeBytes(of: UInt64(length).littleEndian, Array.init)
            bytes += [UInt8(ascii: "{")] + [UInt8](repeating: 0x20, count: 15)
            XCTAssertEqual(CheckpointFormat(detecting: Data(bytes)), .safetensors, "header length \(length)")
        }
    }

    func testDetectionOfTorchFormats() throws {
        XCTAssertEqual(CheckpointFormat(detecting: try Fixtures.data("state_zip.pt")), .torchZip)
        XCTAssertEqual(CheckpointFormat(detecting: try Fixtures.data("state_legacy.pt")), .torchPickle)
        XCTAssertEqual(CheckpointFormat(detecting: try Fixtures.data("forbidden.pkl")), .torchPickle)
        XCTAssertNil(CheckpointFormat(detecting: Data([0x80, 0x07, 1, 2, 3, 4, 5, 6, 7, 8])))
        XCTAssertNil(CheckpointFormat(detecting: Data("hello, world".utf8)))
    }

    func testOverlappingOffsetsGetASafetensorsError() {
        assertCheckpointError(try Checkpoint.load(Fixtures.url("overlapping.safetensors")),
                              mentions: ["overlapping.safetensors", "'a' data_offsets [0, 16]", "'b' data_offsets [8, 24]",
                                         "overlap"])
    }

    func testOutOfRangeOffsetsGetASafetensorsErrorEvenWhenTheFileStartsLikeAPickle() throws {
        var data = try Fixtures.data("header_0x80.safetensors")
        data.removeLast(4) // the last tensor's data_offsets now reach past the end
        let url = try Fixtures.temporaryDirectory(for: self).appendingPathComponent("short.safetensors")
        try data.write(to: url)
        assertCheckpointError(try Checkpoint.load(url), mentions: ["short.safetensors", "'fc.bias' data_offsets [24, 32]",
                                                                  "outside the 28 data bytes"])
    }

    // MARK: Non-finite weights

    func testNaNAndInfiniteWeightsAreRefusedWithTheTensorName() {
        assertCheckpointError(try Checkpoint.load(Fixtures.url("nan_weight.safetensors")),
                              mentions: ["nan_weight.safetensors", "tensor 'fc.weight'", "2 non-finite values",
                                         "first at element 1"])
    }

    // MARK: Special files

    func testDevicesFIFOsAndDirectoriesAreRefusedBeforeOpening() throws {
        assertCheckpointError(try Checkpoint.load(URL(fileURLWithPath: "/dev/zero")),
                              mentions: ["/dev/zero", "a character device, not a regular file"])
        let dir = try Fixtures.temporaryDirectory(for: self)
        assertCheckpointError(try Checkpoint.load(dir), mentions: ["a directory, not a regular file"])
        let fifo = dir.appendingPathComponent("weights.safetensors")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        // Opening a FIFO for reading blocks until a writer comes; the check comes first, so this returns.
        assertCheckpointError(try Checkpoint.load(fifo), mentions: ["weights.safetensors", "a FIFO (named pipe)"])
        assertCheckpointError(try SafetensorsReader(url: fifo), mentions: ["a FIFO (named pipe)"])
    }
}
