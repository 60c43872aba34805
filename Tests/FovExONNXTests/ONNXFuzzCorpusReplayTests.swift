import Foundation
import XCTest
import FovExONNX

/// Replays every seed of fuzz/Corpus/onnx through the entry point the `fuzz-onnx` target calls
/// (`FuzzEntries.onnx` in fuzz/Sources/FuzzSupport): each must parse or throw ``ONNXError``.
final class ONNXFuzzCorpusReplayTests: XCTestCase {
    private static let corpus = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fuzz/Corpus/onnx")

    func testONNXSeeds() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.corpus.path).sorted()
        XCTAssertFalse(names.isEmpty, "no seeds in \(Self.corpus.path)")
        var parsed: [String: Bool] = [:]
        for name in names {
            let data = try Data(contentsOf: Self.corpus.appendingPathComponent(name))
            do {
                let model = try ONNXModel(serializedBytes: data, file: name)
                parsed[name] = true
                XCTAssertFalse(model.operatorCounts.isEmpty, name)
            } catch let error as ONNXError {
                parsed[name] = false
                XCTAssertEqual(error.file, name)
            } catch {
                XCTFail("\(name): untyped error \(type(of: error)): \(error)")
            }
        }
        // The exported seeds parse; the cut one is refused with the parser's own error.
        XCTAssertEqual(parsed["cnn-opset13.onnx"], true)
        XCTAssertEqual(parsed["tokens-opset17.onnx"], true)
        XCTAssertEqual(parsed["truncated.onnx"], false)
        // What the seeds are made of, so a parser that silently drops nodes is caught too.
        let cnn = try ONNXModel(serializedBytes: Data(contentsOf: Self.corpus.appendingPathComponent("cnn-opset13.onnx")))
        XCTAssertEqual(cnn.operatorCounts["Conv"], 1)
        XCTAssertEqual(cnn.operatorCounts["Gemm"], 1)
        XCTAssertEqual(cnn.opset, 13)
        // The seed of module functions parses with its calls inlined: the same ops, none of torch's domains.
        XCTAssertEqual(parsed["cnn-functions-opset15.onnx"], true)
        let functions = try ONNXModel(serializedBytes: Data(contentsOf: Self.corpus.appendingPathComponent("cnn-functions-opset15.onnx")))
        XCTAssertEqual(functions.operatorCounts["Conv"], 1)
        XCTAssertEqual(functions.operatorCounts["Gemm"], 1)
        XCTAssertFalse(functions.operatorCounts.keys.contains { $0.contains("torch") }, "\(functions.operatorCounts)")
    }
}
