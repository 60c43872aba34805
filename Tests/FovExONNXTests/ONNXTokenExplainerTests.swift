import Foundation
import FovExExplainers
import FovExModels
import FovExTensor
@testable import FovExONNX
import XCTest

/// Generic attention (GAE) and class-embedding projection on an exported torchvision ViT (nn.MultiheadAttention:
/// attention probabilities [N·heads, T, T]) against PyTorch's maps for the same network
/// (tools/make_onnx_vit_explainer_fixtures.py), and the refusal of graphs that lack what the methods read.
final class ONNXTokenExplainerTests: XCTestCase {
    private func vit(opset: Int, exporter: String = "") throws -> ONNXClassifier {
        try ONNXClassifier(contentsOf: ONNXFixtures.url("vit-\(exporter)opset\(opset).onnx"), preprocessing: ONNXFixtures.raw(size: 32))
    }

    /// The TorchScript exports at opsets 13 and 17, and PyTorch 2's exports (tools/make_onnx_dynamo_fixtures.py) at
    /// opset 20, with the attention written out, and 23, with one Attention node per block.
    func testGAEAndClassEmbeddingProjectionMatchPyTorch() throws {
        let reference = try ONNXFixtures.load(ONNXFixtures.url("vit-explainers.safetensors"))
        let classes = reference["classes"]!.scalars.map { Int($0) }
        for (exporter, opset) in [("", 13), ("", 17), ("dynamo-", 20), ("dynamo-", 23)] {
            let model = try vit(opset: opset, exporter: exporter)
            let opset = "\(exporter)opset \(opset)"
            XCTAssertNil(model.tokenSurfaceProblem, opset)
            XCTAssertEqual(model.blockCount, 2, "\(opset): one block per attention Softmax")
            XCTAssertEqual(ExplainerRegistry.names(validFor: model).filter { ["gae", "clsemb"].contains($0) }, ["gae", "clsemb"])
            // Grad-CAM at the default point, the last block's first norm: the tokens entering the final norm get no
            // gradient on the patch tokens (the head reads the class token), so a map there would be zero. (PyTorch
            // 2's exporter names values after the ops, not the modules; the maps below check its point.)
            if exporter.isEmpty { XCTAssertTrue(model.defaultCAMPoint.contains("ln_1"), model.defaultCAMPoint) }
            for (explainer, key) in [(GenericAttention() as Explainer, "gae"), (ClassEmbeddingProjection(), "clsemb"), (GradCAM(), "gradcam")] {
                // nil classes: each image's top class, which PyTorch's run chose too.
                let explanations = try explainer.explain(reference["input"]!, model: model, classes: nil)
                XCTAssertEqual(explanations.map(\.classIndex), classes, "opset \(opset) \(key)")
                let maps = Tensor.concatenate(explanations.map { $0.map.reshaped([1] + $0.map.shape) }, axis: 0)
                let expected = reference["\(key)_maps"]!
                XCTAssertEqual(maps.shape, expected.shape)
                // The maps are min-max normalised to [0, 1]: an absolute bound.
                XCTAssertLessThanOrEqual(zip(maps.scalars, expected.scalars).map { abs($0 - $1) }.max()!, 1e-4, "opset \(opset) \(key)")
                XCTAssertGreaterThan(expected.scalars.filter { $0 > 0 && $0 < 1 }.count, 1000, "a map with structure")
            }
        }
    }

    /// The captured probabilities have the protocol's [N, heads, T, T] layout and stay on the gradient's path;
    /// the attention output is [N, T, C]; projecting the tokens before the final norm reproduces the logits.
    func testCapturedPointsHaveTheProtocolShapesAndGradients() throws {
        let model = try vit(opset: 17)
        let input = try ONNXFixtures.reference("vit")["input"]!
        let probabilities = model.attentionProbabilitiesPoint(block: 1), output = model.attentionOutputPoint(block: 1)
        let tokens = try model.tokenSurface.get().tokens
        let out = model.forward(input.requiringGradient(), capturing: [probabilities, output, tokens])
        let a = out.captured[probabilities]!, o = out.captured[output]!
        XCTAssertEqual(a.shape, [2, 2, 17, 17])
        XCTAssertEqual(o.shape, [2, 17, 32])
        let rowSums = a.sum(alongAxes: [3]).scalars
        XCTAssertEqual(rowSums.count, 2 * 2 * 17)
        XCTAssertLessThanOrEqual(rowSums.map { abs($0 - 1) }.max()!, 1e-5, "softmax rows")
        let g = try gradients(of: out.logits.sliced(axis: 1, 0..<1).sum(), withRespectTo: [a], retainGraph: true)[0]
        XCTAssertGreaterThan(g.scalars.map(abs).max()!, 1e-6, "the captured probabilities are on the logits' path")
        // Image 1's logits do not depend on image 0's attention: the [N·heads] axis was split image-major.
        let g1 = try gradients(of: out.logits.sliced(axis: 0, 1..<2).sum(), withRespectTo: [a])[0]
        XCTAssertEqual(g1.sliced(axis: 0, 0..<1).contiguous().scalars.map(abs).max(), 0)
        XCTAssertGreaterThan(g1.sliced(axis: 0, 1..<2).contiguous().scalars.map(abs).max()!, 1e-6)

        let projected = model.projectTokensToClasses(out.captured[tokens]!)
        XCTAssertEqual(projected.shape, [2, 17, 10])
        XCTAssertLessThanOrEqual(relativeError(projected.sliced(axis: 1, 0..<1).reshaped([2, 10]).contiguous(), out.logits), 1e-5)
    }

    func testConvolutionalGraphIsRefusedNamingTheFile() throws {
        let model = try ONNXClassifier(contentsOf: ONNXFixtures.url("resnet18-opset13.onnx"), preprocessing: ONNXFixtures.raw(size: 64))
        XCTAssertEqual(model.blockCount, 0)
        XCTAssertFalse(ExplainerRegistry.names(validFor: model).contains("gae"))
        let input = Tensor(zeros: [1, 3, 64, 64])
        for explainer in [GenericAttention() as Explainer, ClassEmbeddingProjection()] {
            XCTAssertThrowsError(try explainer.explain(input, model: model, classes: nil)) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains("resnet18-opset13.onnx") && message.contains("no attention Softmax"), message)
            }
        }
        XCTAssertThrowsError(try ExplainerRegistry.explainer(named: "gae", for: model)) { error in
            XCTAssertTrue("\(error)".contains("no attention Softmax"), "\(error)")
        }
    }

    /// Swin has attention Softmax nodes, but over windows and without a class token: refused, saying so.
    func testWindowedAttentionWithoutClassTokenIsRefused() throws {
        let model = try ONNXClassifier(contentsOf: ONNXFixtures.url("swin_t-opset17.onnx"), preprocessing: ONNXFixtures.raw(size: 40))
        let problem = try XCTUnwrap(model.tokenSurfaceProblem)
        XCTAssertTrue(problem.contains("swin_t-opset17.onnx") && problem.contains("no class token"), problem)
        XCTAssertThrowsError(try GenericAttention().explain(Tensor(zeros: [1, 3, 40, 40]), model: model, classes: nil))
    }
}
