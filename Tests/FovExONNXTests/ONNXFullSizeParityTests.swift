import Foundation
import FovExModels
import FovExTensor
@testable import FovExONNX
import XCTest

/// FovEx's side of tools/onnx_parity_full.py: full-size exports (far too large to commit) against
/// onnxruntime's and PyTorch's logits. Runs only when FOVEX_ONNX_PARITY_DIR names a directory that the
/// script filled with NAME.onnx files and, beside each, NAME.safetensors holding `input`, `ort_logits` and
/// `torch_logits` (and optionally `seed` and `torch_input_gradient`, checked within 1e−3); it writes one JSON line per model to fovex-results.jsonl there.
final class ONNXFullSizeParityTests: XCTestCase {
    func testFullSizeExportsMatchOnnxRuntime() throws {
        guard let path = ProcessInfo.processInfo.environment["FOVEX_ONNX_PARITY_DIR"], !path.isEmpty else {
            throw XCTSkip("skipped: FOVEX_ONNX_PARITY_DIR is not set (tools/onnx_parity_full.py sets it)")
        }
        let directory = URL(fileURLWithPath: path)
        let files = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".onnx") }.sorted()
        XCTAssertFalse(files.isEmpty, "no .onnx files in \(path)")
        var lines: [String] = []
        for file in files {
            let name = String(file.dropLast(".onnx".count))
            let reference = try ONNXFixtures.load(directory.appendingPathComponent("\(name).safetensors"))
            let input = reference["input"]!
            let start = Date()
            let model = try ONNXClassifier(contentsOf: directory.appendingPathComponent(file),
                                           preprocessing: ONNXFixtures.raw(size: input.shape[3]))
            let loaded = Date()
            let logits = withoutGradients { model.logits(input) }
            let ran = Date()
            let ort = relativeError(logits, reference["ort_logits"]!), torch = relativeError(logits, reference["torch_logits"]!)
            let between = relativeError(reference["ort_logits"]!, reference["torch_logits"]!)
            // With a `seed` and PyTorch's `torch_input_gradient` of sum(logits · seed), the input gradient too.
            var gradient = -1 as Float
            if let seed = reference["seed"], let expected = reference["torch_input_gradient"] {
                let x = input.requiringGradient()
                gradient = relativeError(try gradients(of: (model.logits(x) * seed).sum(), withRespectTo: [x])[0], expected)
                XCTAssertLessThanOrEqual(gradient, 1e-3, "\(name): input gradient against PyTorch")
            }
            lines.append(String(format: #"{"model": "%@", "fovex_vs_ort": %.3g, "fovex_vs_torch": %.3g, "ort_vs_torch": %.3g, "gradient_vs_torch": %.3g, "load_s": %.2f, "forward_s": %.2f}"#,
                                name, ort, torch, between, gradient, loaded.timeIntervalSince(start), ran.timeIntervalSince(loaded)))
            // Float32 sums in another order over up to ~100 layers: a looser bound than the small fixtures'. Quantized
            // files (tools/onnx_parity_quantized.py) set their own, for roundings that flip at a boundary.
            let tolerance = ProcessInfo.processInfo.environment["FOVEX_ONNX_PARITY_TOLERANCE"].flatMap(Float.init) ?? 1e-3
            XCTAssertLessThanOrEqual(ort, tolerance, "\(name): FovEx against onnxruntime")
        }
        try (lines.joined(separator: "\n") + "\n").write(to: directory.appendingPathComponent("fovex-results.jsonl"),
                                                           atomically: true, encoding: .utf8)
    }
}
