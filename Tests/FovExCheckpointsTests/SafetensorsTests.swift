import Foundation
import XCTest
@testable import FovExCheckpoints

final class SafetensorsTests: XCTestCase {
    func testReadsPythonWrittenFileInEveryDtype() throws {
        let reader = try SafetensorsReader(url: Fixtures.url("state.safetensors"))
        XCTAssertEqual(reader.metadata, ["format": "pt"])
        try assertMatchesExpected(reader.checkpoint())
    }

    func testWriterRoundTripsValuesShapesOrderAndMetadata() throws {
        let dir = try Fixtures.temporaryDirectory(for: self)
        let source = try SafetensorsReader(url: Fixtures.url("state.safetensors")).checkpoint()
        let url = dir.appendingPathComponent("copy.safetensors")
        try SafetensorsWriter.write(source, to: url, metadata: ["note": "line\n\"quoted\"", "format": "pt"])

        let reader = try SafetensorsReader(url: url)
        XCTAssertEqual(reader.names, source.names)
        XCTAssertEqual(reader.metadata, ["note": "line\n\"quoted\"", "format": "pt"])
        for name in source.names {
            let got = try reader.tensor(named: name)
            XCTAssertEqual(got.dtype, .float32, "the writer stores F32")
            XCTAssertEqual(got.shape, source[name]!.shape, name)
            XCTAssertEqual(got.values, source[name]!.values, name)
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        XCTAssertEqual(leftovers, ["copy.safetensors"], "the temporary file is renamed into place")
    }

    func testDictionaryWriterIsDeterministicAndSorted() throws {
        let dir = try Fixtures.temporaryDirectory(for: self)
        let tensors = ["b": CheckpointTensor(shape: [2], values: [1, 2]),
                       "a": CheckpointTensor(shape: [1, 3], values: [3, 4, 5]),
                       "scalar": CheckpointTensor(shape: [], values: [-0.5])]
        let first = dir.appendingPathComponent("1.safetensors"), second = dir.appendingPathComponent("2.safetensors")
        try SafetensorsWriter.write(tensors, to: first)
        try SafetensorsWriter.write(tensors, to: second)
        XCTAssertEqual(try Data(contentsOf: first), try Data(contentsOf: second))
        let reader = try SafetensorsReader(url: first)
        XCTAssertEqual(reader.names, ["a", "b", "scalar"])
        XCTAssertEqual(try reader.tensor(named: "scalar").values, [-0.5])
        XCTAssertEqual(try Data(contentsOf: first).prefix(8).first.map { Int($0) }! % 8, 0, "header padded to 8 bytes")
    }

    func testWriterOverwritesAnExistingFile() throws {
        let dir = try Fixtures.temporaryDirectory(for: self)
        let url = dir.appendingPathComponent("w.safetensors")
        try SafetensorsWriter.write(["x": CheckpointTensor(shape: [1], values: [1])], to: url)
        try SafetensorsWriter.write(["y": CheckpointTensor(shape: [2], values: [2, 3])], to: url)
        XCTAssertEqual(try SafetensorsReader(url: url).names, ["y"])
    }

    func testWriterRejectsInconsistentTensor() throws {
        let dir = try Fixtures.temporaryDirectory(for: self)
        let url = dir.appendingPathComponent("bad.safetensors")
        assertCheckpointError(try SafetensorsWriter.write(["w": CheckpointTensor(shape: [2, 2], values: [1])], to: url),
                              mentions: ["'w'", "[2, 2]"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: url.path))
    }

    func testMissingTensorIsNamed() throws {
        let reader = try SafetensorsReader(url: Fixtures.url("state.safetensors"))
        assertCheckpointError(try reader.tensor(named: "nope"), mentions: ["nope", "state.safetensors"])
    }

    // MARK: - Malformed files

    /// A file with the given header JSON followed by `payload` bytes.
    private func file(header: String, payload: Int) -> Data {
        var data = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: Array(header.utf8))
        data.append(Data(count: payload))
        return data
    }

    func testEmptyFile() {
        assertCheckpointError(try SafetensorsReader(data: Data(), fileName: "empty.safetensors"),
                              mentions: ["empty.safetensors", "too short"])
    }

    func testTruncatedFile() throws {
        let whole = try Fixtures.data("state.safetensors")
        assertCheckpointError(try SafetensorsReader(data: whole.prefix(whole.count - 1), fileName: "cut.safetensors"),
                              mentions: ["cut.safetensors", "outside"])
        assertCheckpointError(try SafetensorsReader(data: whole.prefix(40), fileName: "cut.safetensors"),
                              mentions: ["header length"])
    }

    func testBadHeaderLength() {
        var data = file(header: "{}", payload: 0)
        data.replaceSubrange(0..<8, with: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
        assertCheckpointError(try SafetensorsReader(data: data), mentions: ["header length"])
    }

    func testHeaderThatIsNotJSON() {
        assertCheckpointError(try SafetensorsReader(data: file(header: "{\"a\": [", payload: 0)), mentions: ["JSON"])
    }

    func testWrongDtypeString() {
        let header = #"{"w":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}"#
        assertCheckpointError(try SafetensorsReader(data: file(header: header, payload: 4)), mentions: ["'w'", "F33"])
    }

    func testOffsetsOutOfRange() {
        let header = #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#
        assertCheckpointError(try SafetensorsReader(data: file(header: header, payload: 8)), mentions: ["'w'", "outside"])
    }

    func testOffsetsThatDisagreeWithShape() {
        let header = #"{"w":{"dtype":"F16","shape":[3],"data_offsets":[0,8]}}"#
        assertCheckpointError(try SafetensorsReader(data: file(header: header, payload: 8)), mentions: ["'w'", "needs 6"])
    }

    func testNegativeOrFractionalShape() {
        for shape in ["[-1]", "[1.5]", "\"x\""] {
            let header = #"{"w":{"dtype":"F32","shape":"# + shape + #","data_offsets":[0,4]}}"#
            assertCheckpointError(try SafetensorsReader(data: file(header: header, payload: 4)), mentions: ["'w'", "shape"])
        }
    }

    func testHalfPrecisionConversionIsExact() {
        XCTAssertEqual(ElementDecoding.halfToFloat(0x3c00), 1)
        XCTAssertEqual(ElementDecoding.halfToFloat(0xc000), -2)
        XCTAssertEqual(ElementDecoding.halfToFloat(0x7bff), 65504)
        XCTAssertEqual(ElementDecoding.halfToFloat(0x0001), 0x1p-24, "smallest subnormal")
        XCTAssertEqual(ElementDecoding.halfToFloat(0x7c00), .infinity)
        XCTAssertTrue(ElementDecoding.halfToFloat(0x7e00).isNaN)
        XCTAssertEqual(ElementDecoding.halfToFloat(0x8000).sign, .minus)
    }
}
