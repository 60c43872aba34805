import Foundation
import XCTest

/// `--model FILE.onnx` and `fovex models inspect` on the ONNX fixtures of FovExONNXTests, run through the built tool.
final class ONNXCommandLineTests: XCTestCase {
    private let root = FovexProcess.packageRoot

    private func fixture(_ name: String) -> String {
        root.appendingPathComponent("Tests/FovExONNXTests/Fixtures/\(name)").path
    }

    private func run(_ arguments: [String]) throws -> FovexProcess.Result {
        try FovexProcess.run(arguments)
    }

    func testInspectListsInterfaceOpsAndCAMLayers() throws {
        let r = try run(["models", "inspect", fixture("resnet18-opset17.onnx")])
        XCTAssertEqual(r.status, 0, r.stderr)
        for expected in ["opset:    17", "input  float  [batch, 3, 64, 64]", "logits  float  [batch, 10]", "Conv 20",
                         "GlobalAveragePool 1", "unsupported ops: none", "classes:  10", "[1, 32, 2, 2]  (default)"] {
            XCTAssertTrue(r.stdout.contains(expected), "missing '\(expected)' in:\n\(r.stdout)")
        }
    }

    func testClassifyRunsAnONNXFileWithItsPreprocessingOptions() throws {
        let image = root.appendingPathComponent("docs/samples/chelsea.png").path
        let labels = FileManager.default.temporaryDirectory.appendingPathComponent("fovex-labels-\(UUID().uuidString).txt")
        try (0..<10).map { "label\($0)" }.joined(separator: "\n").write(to: labels, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: labels) }
        let r = try run(["classify", image, "--model", fixture("mobilenet_v2-opset13.onnx"), "--input-size", "64",
                         "--preprocess", "raw", "--labels", labels.path, "--top", "3", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout.components(separatedBy: "\"name\" : \"label").count - 1, 3, r.stdout)

        // Options that do not fit the model are refused before anything runs.
        let withWeights = try run(["classify", image, "--model", fixture("vit-opset13.onnx"), "--random-weights", "1"])
        XCTAssertEqual(withWeights.status, 64, withWeights.stderr)
        XCTAssertTrue(withWeights.stderr.contains("carries its weights"), withWeights.stderr)
        let builtIn = try run(["classify", image, "--model", "resnet18", "--random-weights", "1", "--preprocess", "raw"])
        XCTAssertEqual(builtIn.status, 64, builtIn.stderr)
        XCTAssertTrue(builtIn.stderr.contains("apply to ONNX models"), builtIn.stderr)
        try "cat\ndog\nbird\n".write(to: labels, atomically: true, encoding: .utf8)
        let wrongLabels = try run(["classify", image, "--model", fixture("vit-opset13.onnx"), "--labels", labels.path])
        XCTAssertNotEqual(wrongLabels.status, 0)
        XCTAssertTrue(wrongLabels.stderr.contains("10 outputs, but 3 class names"), wrongLabels.stderr)
    }
}
