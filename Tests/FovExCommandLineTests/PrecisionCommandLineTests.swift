import Foundation
import XCTest

/// `--precision` on the commands that run a model, checked by running the built `fovex`.
final class PrecisionCommandLineTests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("fovex-precision-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    /// On a CPU without AVX-512 BF16 (simulated by capping oneDNN's ISA, which is what the check asks),
    /// bf16 is refused when the command line is parsed, naming the missing instructions.
    func testBF16IsRefusedWithoutTheInstructions() throws {
        let r = try FovexProcess.run(["classify", "x.jpg", "--model", "resnet18", "--random-weights", "1", "--precision", "bf16"],
                                     in: tmp, environment: ["DNNL_MAX_CPU_ISA": "AVX512_CORE"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertLessThan(r.status, 128, "an error exit, not a crash")
        XCTAssertTrue(r.stderr.contains("AVX-512 BF16"), r.stderr)
    }

    func testUnknownPrecisionAndONNXAreRefused() throws {
        let bad = try FovexProcess.run(["classify", "x.jpg", "--model", "resnet18", "--precision", "fp16"], in: tmp)
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("fp32 or bf16"), bad.stderr)
        let onnx = try FovexProcess.run(["classify", "x.jpg", "--model", "m.onnx", "--precision", "bf16"], in: tmp)
        XCTAssertNotEqual(onnx.status, 0)
        // (On a CPU without bf16 the refusal names the instructions instead.)
        XCTAssertTrue(onnx.stderr.contains("ONNX models run in fp32") || onnx.stderr.contains("AVX-512 BF16"), onnx.stderr)
    }
}
