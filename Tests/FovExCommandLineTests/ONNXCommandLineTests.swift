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

    /// --resize, --crop and --interpolation reach the classifier (a crop and a plain resize of a non-square
    /// photo score differently); contradictory or impossible values are refused before anything runs, and
    /// `models inspect` shows the preprocessing it would use.
    func testResizeCropAndInterpolationOptions() throws {
        let image = root.appendingPathComponent("docs/samples/chelsea.png").path
        // The ViT fixture: its scores move with the input (the small random CNNs' barely do).
        let model = fixture("vit-opset13.onnx")
        func classify(_ extra: [String]) throws -> FovexProcess.Result {
            try run(["classify", image, "--model", model, "--preprocess", "raw", "--top", "3", "--json"] + extra)
        }
        let cropped = try classify(["--resize", "40", "--crop", "32"])
        XCTAssertEqual(cropped.status, 0, cropped.stderr)
        let direct = try classify(["--resize", "direct", "--input-size", "32"])
        XCTAssertEqual(direct.status, 0, direct.stderr)
        let nearest = try classify(["--resize", "direct", "--input-size", "32", "--interpolation", "nearest"])
        XCTAssertEqual(nearest.status, 0, nearest.stderr)
        XCTAssertNotEqual(cropped.stdout, direct.stdout)
        XCTAssertNotEqual(direct.stdout, nearest.stdout)

        for (extra, message) in [(["--crop", "32", "--input-size", "64"], "contradict each other"),
                                 (["--resize", "30", "--crop", "32"], "--resize 30 is smaller than the crop 32"),
                                 (["--interpolation", "lanczos"], "lanczos"),
                                 (["--resize", "wide"], "wide")] {
            let r = try classify(extra)
            XCTAssertEqual(r.status, 64, "\(extra): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(message), "\(extra): \(r.stderr)")
        }
        let builtIn = try run(["classify", image, "--model", "resnet18", "--random-weights", "1", "--crop", "200"])
        XCTAssertEqual(builtIn.status, 64, builtIn.stderr)

        let inspected = try run(["models", "inspect", fixture("resnet18-opset17.onnx")])
        XCTAssertEqual(inspected.status, 0, inspected.stderr)
        XCTAssertTrue(inspected.stdout.contains("preprocessing: short side to 73, centre crop 64×64, bilinear, mean 0.485,0.456,0.406"),
                      inspected.stdout)
        let raw = try run(["models", "inspect", fixture("resnet18-opset17.onnx"), "--resize", "direct", "--preprocess", "raw",
                           "--interpolation", "bicubic"])
        XCTAssertTrue(raw.stdout.contains("preprocessing: resize to 64×64, bicubic, mean 0.0,0.0,0.0, std 1.0,1.0,1.0"), raw.stdout)
        // Keras's caffe mode reverses the channels; --channel-order overrides the preset's.
        let caffe = try run(["models", "inspect", fixture("resnet18-opset17.onnx"), "--preprocess", "caffe"])
        XCTAssertTrue(caffe.stdout.contains("std 0.003921569,0.003921569,0.003921569, channels reversed to BGR after normalising"),
                      caffe.stdout)
        let rgb = try run(["models", "inspect", fixture("resnet18-opset17.onnx"), "--preprocess", "caffe", "--channel-order", "rgb"])
        XCTAssertFalse(rgb.stdout.contains("BGR"), rgb.stdout)
        let bad = try run(["models", "inspect", fixture("resnet18-opset17.onnx"), "--channel-order", "grb"])
        XCTAssertEqual(bad.status, 64, bad.stderr)
    }
}
