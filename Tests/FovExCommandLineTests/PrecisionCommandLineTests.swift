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
        for precision in ["bf16", "bf16-backward"] {
            let r = try FovexProcess.run(["classify", "x.jpg", "--model", "resnet18", "--random-weights", "1",
                                          "--precision", precision],
                                         in: tmp, environment: ["DNNL_MAX_CPU_ISA": "AVX512_CORE", "FOVEX_BF16_EMULATION": "0"])
            XCTAssertNotEqual(r.status, 0, precision)
            XCTAssertLessThan(r.status, 128, "an error exit, not a crash")
            XCTAssertTrue(r.stderr.contains("AVX-512 BF16"), r.stderr)
        }
    }

    /// `FOVEX_BF16_EMULATION=1` runs bf16 through oneDNN's emulation on an AVX-512 CPU without the BF16
    /// instructions (simulated, as above, by capping oneDNN's ISA): `explain` and `classify` (an ONNX graph) run,
    /// and the benchmarks refuse it, since emulated times are not bf16's.
    func testEmulatedBF16RunsButIsNotBenchmarked() throws {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        try XCTSkipUnless(cpu.contains("avx512f"), "oneDNN emulates bf16 on AVX-512 CPUs only")
        try writeOneImageDataset()
        let emulated = ["DNNL_MAX_CPU_ISA": "AVX512_CORE", "FOVEX_BF16_EMULATION": "1"]
        let explain = try FovexProcess.run(["explain", "data/images/gray.jpg", "--model", "resnet18", "--random-weights", "1",
                                            "--method", "gradcam", "--precision", "bf16", "--out", "out"],
                                           in: tmp, environment: emulated)
        XCTAssertEqual(explain.status, 0, explain.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("out").path))
        // ONNX graphs take --precision too.
        let onnx = FovexProcess.packageRoot.appendingPathComponent("Tests/FovExONNXTests/Fixtures/vit-opset17.onnx").path
        let classify = try FovexProcess.run(["classify", "data/images/gray.jpg", "--model", onnx, "--precision", "bf16"],
                                            in: tmp, environment: emulated)
        XCTAssertEqual(classify.status, 0, classify.stderr)
        let bench = try FovexProcess.run(["bench", "models", "--models", "resnet18", "--batches", "1", "--precision", "fp32,bf16",
                                          "--no-torch", "--no-floor"], in: tmp, environment: emulated)
        XCTAssertNotEqual(bench.status, 0)
        XCTAssertLessThan(bench.status, 128, "an error exit, not a crash")
        XCTAssertTrue(bench.stderr.contains("emulated"), bench.stderr)
    }

    func testUnknownPrecisionIsRefused() throws {
        let bad = try FovexProcess.run(["classify", "x.jpg", "--model", "resnet18", "--precision", "fp16"], in: tmp)
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("fp32, bf16 or bf16-backward"), bad.stderr)
    }

    /// A run directory holds one precision: `evaluate --precision bf16` into an fp32 run's directory is refused
    /// (exit 1), rather than mixing fp32 and bf16 rows on resume.
    func testEvaluateRefusesToMixPrecisionsInOneRunDirectory() throws {
        try writeOneImageDataset()
        let base = ["evaluate", "--model", "resnet18", "--random-weights", "1", "--methods", "gradcam",
                    "--metrics", "pointing_game", "--data", "imagenet:data", "--out", "run"]
        try checkPrecisionsDoNotMix(base, refusal: "different configuration")
    }

    /// The same for `sanity`: its run directory holds one precision.
    func testSanityRefusesToMixPrecisionsInOneRunDirectory() throws {
        try writeOneImageDataset()
        let base = ["sanity", "--model", "resnet18", "--random-weights", "1", "--methods", "gradcam", "--depths", "1",
                    "--data", "imagenet:data", "--out", "run"]
        try checkPrecisionsDoNotMix(base, refusal: "other settings")
    }

    /// Runs `base` in fp32, again with an explicit `--precision fp32` (which must resume), then in bf16 (which must
    /// be refused, naming `refusal`, or refused at parse time on a CPU without bf16).
    private func checkPrecisionsDoNotMix(_ base: [String], refusal: String) throws {
        let fp32 = try FovexProcess.run(base, in: tmp)
        XCTAssertEqual(fp32.status, 0, fp32.stderr)
        let again = try FovexProcess.run(base + ["--precision", "fp32"], in: tmp)
        XCTAssertEqual(again.status, 0, "an explicit fp32 resumes the fp32 run: \(again.stderr)")
        let bf16 = try FovexProcess.run(base + ["--precision", "bf16"], in: tmp)
        if bf16.stderr.contains("AVX-512 BF16") {
            XCTAssertEqual(bf16.status, 64, "a CPU without bf16 refuses at parse time: \(bf16.stderr)")
        } else {
            XCTAssertEqual(bf16.status, 1, bf16.stderr)
            XCTAssertTrue(bf16.stderr.contains(refusal), bf16.stderr)
        }
    }

    /// data/: one labelled image with a box, in the ImageNet layout.
    private func writeOneImageDataset() throws {
        let images = tmp.appendingPathComponent("data/images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        let fixtures = FovexProcess.packageRoot.appendingPathComponent("Tests/FovExImagingTests/Fixtures")
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("gray.jpg"), to: images.appendingPathComponent("gray.jpg"))
        try "file,class_index,synset\ngray.jpg,3,n01491361\n"
            .write(to: tmp.appendingPathComponent("data/labels.csv"), atomically: true, encoding: .utf8)
        try "file,synset,x0,y0,x1,y1\ngray.jpg,n01491361,0,0,5,5\n"
            .write(to: tmp.appendingPathComponent("data/boxes.csv"), atomically: true, encoding: .utf8)
    }
}
