import Foundation
import XCTest
@testable import FovExCheckpoints

/// Access to the committed fixtures written by tools/make_checkpoint_fixtures.py.
enum Fixtures {
    static var directory: URL {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
    }

    static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    static func data(_ name: String) throws -> Data { try Data(contentsOf: url(name)) }

    /// The reference tensors as PyTorch reported them (values already converted to float32).
    struct ExpectedTensor {
        var shape: [Int]
        var dtype: TensorDType
        var values: [Float]
    }

    static func expected() throws -> [(String, ExpectedTensor)] {
        let data = try Self.data("expected.json")
        let object = try JSONSerialization.jsonObject(with: data) as! [String: [String: Any]]
        // JSONSerialization loses key order; the fixture writes names in state-dict order, so recover it from the text.
        let text = String(decoding: data, as: UTF8.self)
        let names = object.keys.sorted { text.range(of: "\"\($0)\": {")!.lowerBound < text.range(of: "\"\($1)\": {")!.lowerBound }
        return names.map { name in
            let fields = object[name]!
            let shape = (fields["shape"] as! [NSNumber]).map(\.intValue)
            let values = (fields["values"] as! [NSNumber]).map { Float($0.doubleValue) }
            return (name, ExpectedTensor(shape: shape, dtype: TensorDType(safetensorsName: fields["dtype"] as! String)!,
                                         values: values))
        }
    }

    /// A fresh directory for files a test writes; removed when the test ends.
    static func temporaryDirectory(for test: XCTestCase) throws -> URL {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("fovex-ckpt-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }
}

/// Asserts that `body` throws a `CheckpointError` whose description contains every fragment.
func assertCheckpointError<T>(_ body: @autoclosure () throws -> T, mentions fragments: [String],
                              file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try body()
        XCTFail("expected an error mentioning \(fragments)", file: file, line: line)
    } catch let error as CheckpointError {
        let text = error.description
        for fragment in fragments {
            XCTAssertTrue(text.contains(fragment), "'\(text)' does not mention '\(fragment)'", file: file, line: line)
        }
    } catch {
        XCTFail("expected a CheckpointError, got \(error)", file: file, line: line)
    }
}

/// Asserts that `checkpoint` holds exactly the reference tensors, in order, with matching shapes, dtypes and values.
func assertMatchesExpected(_ checkpoint: Checkpoint, file: StaticString = #filePath, line: UInt = #line) throws {
    let expected = try Fixtures.expected()
    XCTAssertEqual(checkpoint.names, expected.map(\.0), file: file, line: line)
    for (name, want) in expected {
        guard let got = checkpoint[name] else {
            XCTFail("missing \(name)", file: file, line: line)
            continue
        }
        XCTAssertEqual(got.shape, want.shape, name, file: file, line: line)
        XCTAssertEqual(got.dtype, want.dtype, name, file: file, line: line)
        XCTAssertEqual(got.values, want.values, name, file: file, line: line)
    }
}
