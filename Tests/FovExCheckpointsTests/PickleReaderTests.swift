import Foundation
import XCTest
@testable import FovExCheckpoints

final class PickleReaderTests: XCTestCase {
    private func read(_ bytes: [UInt8], persistentLoad: @escaping (PickleValue) throws -> PickleValue = { _ in .none }) throws -> PickleValue {
        var reader = PickleReader(data: Data(bytes), fileName: "test.pkl", persistentLoad: persistentLoad)
        return try reader.readValue()
    }

    func testForbiddenGlobalIsNamedAndNeverCalled() {
        assertCheckpointError(try Checkpoint.load(Fixtures.url("forbidden.pkl")),
                              mentions: ["forbidden pickle global os.system", "forbidden.pkl"])
    }

    func testForbiddenStackGlobal() {
        // PROTO 4, SHORT_BINUNICODE 'builtins', SHORT_BINUNICODE 'eval', STACK_GLOBAL, STOP
        let bytes: [UInt8] = [0x80, 4, 0x8c, 8] + Array("builtins".utf8) + [0x8c, 4] + Array("eval".utf8) + [0x93, 0x2e]
        assertCheckpointError(try read(bytes), mentions: ["builtins.eval", "test.pkl"])
    }

    func testIntegersOfEveryWidth() throws {
        // MARK, BININT1 200, BININT2 40000, BININT -5, LONG1 (2 bytes) -2, LONG1 (10 bytes), TUPLE, STOP
        let bytes: [UInt8] = [0x80, 2, 0x28, 0x4b, 200, 0x4d, 0x40, 0x9c, 0x4a, 0xfb, 0xff, 0xff, 0xff,
                              0x8a, 2, 0xfe, 0xff, 0x8a, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0x74, 0x2e]
        guard case let .tuple(items, _) = try read(bytes) else { return XCTFail("expected a tuple") }
        XCTAssertEqual(items.compactMap(\.int), [200, 40000, -5, -2])
        guard case let .bigInt(wide) = items[4] else { return XCTFail("expected a wide integer") }
        XCTAssertEqual(wide, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    }

    func testFloatsStringsAndMemo() throws {
        // EMPTY_DICT, BINPUT 0, SHORT_BINUNICODE 'x', BINFLOAT 1.5, BINPUT 1, SETITEM,
        // BINUNICODE 'y', LONG_BINGET 1, SETITEM, STOP: the memoised float is stored under a second key.
        var bytes: [UInt8] = [0x80, 2, 0x7d, 0x71, 0, 0x8c, 1, UInt8(ascii: "x"), 0x47]
        bytes += withUnsafeBytes(of: (1.5 as Double).bitPattern.bigEndian, Array.init)
        bytes += [0x71, 1, 0x73, 0x58, 1, 0, 0, 0, UInt8(ascii: "y"), 0x6a, 1, 0, 0, 0, 0x73, 0x2e]
        guard case let .dict(dict) = try read(bytes) else { return XCTFail("expected a dict") }
        guard case .float(1.5) = dict["x"]!, case .float(1.5) = dict["y"]! else { return XCTFail("\(dict.entries)") }
    }

    func testMalformedPicklesThrow() {
        let cases: [([UInt8], String)] = [
            ([], "ends early"),
            ([0x80, 2, 0x2e], "stack underflow"),
            ([0x80, 2, 0x68, 7, 0x2e], "memo key 7"),
            ([0x80, 2, 0x4e, 0x73, 0x2e], "stack underflow"),
            ([0x80, 2, 0x4b, 1, 0x4b, 2, 0x73, 0x2e], "stack underflow"),
            ([0x80, 2, 0x5d, 0x4b, 1, 0x4b, 2, 0x73, 0x2e], "SETITEM on a list"),
            ([0x80, 2, 0x58, 0xff, 0xff, 0xff, 0x7f, 0x2e], "ends early"),
            ([0x80, 2, 0x74, 0x2e], "no MARK"),
            ([0x80, 2, 0x4e, 0x4e, 0x2e], "left on the stack"),
            ([0x80, 2, 0x69, 0x2e], "opcode 0x69"),
            ([0x80, 2, 0x4e, 0x29, 0x52, 0x2e], "call of a None"),
        ]
        for (bytes, fragment) in cases {
            assertCheckpointError(try read(bytes), mentions: ["test.pkl", fragment])
        }
    }

    func testRebuildTensorBuildsARecordWithoutStorageData() throws {
        // GLOBAL torch._utils _rebuild_tensor_v2; MARK; MARK; 'storage'; GLOBAL torch HalfStorage; '0'; 'cpu'; 6; TUPLE;
        // BINPERSID; 1; (2, 2) as TUPLE2; (2, 1) as TUPLE2; False; EMPTY_TUPLE; TUPLE; REDUCE; STOP
        func text(_ s: String) -> [UInt8] { [0x8c, UInt8(s.utf8.count)] + Array(s.utf8) }
        var bytes: [UInt8] = [0x80, 2, 0x63] + Array("torch._utils\n_rebuild_tensor_v2\n".utf8) + [0x28, 0x28]
        bytes += text("storage") + [0x63] + Array("torch\nHalfStorage\n".utf8) + text("0") + text("cpu") + [0x4b, 6, 0x74, 0x51]
        bytes += [0x4b, 1, 0x4b, 2, 0x4b, 2, 0x86, 0x4b, 2, 0x4b, 1, 0x86, 0x89, 0x29, 0x74, 0x52, 0x2e]
        var seen: PickleValue?
        let value = try read(bytes) { id in
            seen = id
            return .storage(TorchStorage(buffer: StorageBuffer(key: "0", dtype: .float16, count: 6), elementOffset: 0, count: 6))
        }
        guard case let .tensor(record) = value else { return XCTFail("expected a tensor") }
        XCTAssertEqual(record.offset, 1)
        XCTAssertEqual(record.shape, [2, 2])
        XCTAssertEqual(record.strides, [2, 1])
        guard case let .global(.storageType(dtype))? = seen?.tuple?[1] else { return XCTFail("storage type not passed on") }
        XCTAssertEqual(dtype, .float16)
        assertCheckpointError(try record.materialize(fileName: "t.pt"), mentions: ["t.pt", "missing"])
    }

    func testStridedViewOutsideItsStorageIsRejected() {
        let buffer = StorageBuffer(key: "k", dtype: .float32, count: 4, bytes: Data(count: 16))
        let record = TorchTensorRecord(storage: TorchStorage(buffer: buffer, elementOffset: 0, count: 4),
                                       offset: 1, shape: [2, 2], strides: [2, 1])
        assertCheckpointError(try record.materialize(fileName: "v.pt"), mentions: ["v.pt", "reaches element 4"])
    }
}
