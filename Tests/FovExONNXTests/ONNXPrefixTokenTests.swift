import Foundation
import FovExExplainers
import FovExModels
import FovExTensor
@testable import FovExONNX
import XCTest

/// Vision Transformers whose patch tokens follow more than a class token (tools/make_onnx_prefix_token_fixtures.py,
/// small timm models exported at opset 17): a distilled DeiT (class and distillation tokens, a head on each), a ViT
/// with 4 registers after its class token, and one with 4 registers and a pooled head. Logits, input gradients and
/// the explainers' maps against PyTorch's; the prefix found from the graph; the refusals naming what is missing.
final class ONNXPrefixTokenTests: XCTestCase {
    private func load(_ name: String) throws -> (ONNXClassifier, [String: Tensor]) {
        let model = try ONNXClassifier(contentsOf: ONNXFixtures.url("\(name)-opset17.onnx"), preprocessing: ONNXFixtures.raw(size: 32))
        return (model, try ONNXFixtures.reference(name))
    }

    private func maps(_ explanations: [Explanation]) -> Tensor {
        Tensor.concatenate(explanations.map { $0.map.reshaped([1] + $0.map.shape) }, axis: 0)
    }

    private func assertMaps(_ explainer: Explainer, _ model: ONNXClassifier, _ reference: [String: Tensor], key: String,
                            file: StaticString = #filePath, line: UInt = #line) throws {
        let explanations = try explainer.explain(reference["input"]!, model: model, classes: nil)
        XCTAssertEqual(explanations.map(\.classIndex), reference["classes"]!.scalars.map { Int($0) }, key, file: file, line: line)
        let expected = reference[key]!
        let got = maps(explanations)
        XCTAssertEqual(got.shape, expected.shape, key, file: file, line: line)
        // Maps are min-max normalised to [0, 1]: an absolute bound.
        XCTAssertLessThanOrEqual(zip(got.scalars, expected.scalars).map { abs($0 - $1) }.max()!, 1e-4, key, file: file, line: line)
        XCTAssertGreaterThan(expected.scalars.filter { $0 > 0.01 && $0 < 0.99 }.count, 100, "\(key): a map with structure",
                             file: file, line: line)
    }

    func testLogitsAndInputGradientsMatchPyTorch() throws {
        for name in ["deit_distilled", "vit_reg4", "vit_reg4_gap"] {
            let (model, reference) = try load(name)
            let input = reference["input"]!.requiringGradient()
            let logits = model.logits(input)
            XCTAssertLessThanOrEqual(relativeError(logits, reference["logits"]!), 1e-4, "\(name) logits")
            let classes = reference["classes"]!.scalars.map { Int($0) }
            let onehot = Tensor(shape: logits.shape, scalars: (0..<logits.count).map { classes[$0 / logits.shape[1]] == $0 % logits.shape[1] ? 1 : 0 })
            let gradient = try gradients(of: (logits * onehot).sum(), withRespectTo: [input])[0]
            XCTAssertLessThanOrEqual(relativeError(gradient, reference["input_grad"]!), 1e-3, "\(name) input gradient")
        }
    }

    /// The prefix is read from the token count, and the tokens the head reads by changing each alone.
    func testPrefixAndReadOutTokensAreFoundFromTheGraph() throws {
        let (deit, _) = try load("deit_distilled")
        XCTAssertNil(deit.tokenSurfaceProblem)
        XCTAssertEqual(deit.prefixTokenCount, 2)
        XCTAssertEqual(deit.readOutTokens, [0, 1])
        XCTAssertEqual(deit.valueShapes[deit.defaultCAMPoint], [1, 18, 32])

        let (registers, _) = try load("vit_reg4")
        XCTAssertNil(registers.tokenSurfaceProblem)
        XCTAssertNil(registers.tokenProjectionProblem)
        XCTAssertEqual(registers.prefixTokenCount, 5)
        XCTAssertEqual(registers.readOutTokens, [0])
        XCTAssertEqual(ExplainerRegistry.names(validFor: registers).filter { ["gae", "clsemb"].contains($0) }, ["gae", "clsemb"])

        // A grid of side 8 or more leaves one choice of prefix up to 16 tokens; a plain grid has none.
        XCTAssertTrue(ONNXClassifier.tokenGrid([1, 197, 768])! == (14, 1))
        XCTAssertTrue(ONNXClassifier.tokenGrid([1, 198, 768])! == (14, 2))
        XCTAssertTrue(ONNXClassifier.tokenGrid([1, 261, 384])! == (16, 5))
        XCTAssertTrue(ONNXClassifier.tokenGrid([1, 49, 768])! == (7, 0))
        XCTAssertTrue(ONNXClassifier.tokenGrid([1, 577, 768])! == (24, 1))
        XCTAssertNil(ONNXClassifier.tokenGrid([1, 3, 768]))
        XCTAssertNil(ONNXClassifier.tokenGrid([1, 64, 56, 56]))
    }

    /// Grad-CAM on the tokens entering the final norm (the last residual sum for the pooled head), the prefix
    /// tokens dropped.
    func testGradCAMDropsEveryPrefixToken() throws {
        for name in ["deit_distilled", "vit_reg4", "vit_reg4_gap"] {
            let (model, reference) = try load(name)
            try assertMaps(GradCAM(), model, reference, key: "gradcam_maps")
        }
    }

    /// GAE reads the rows of the tokens the head reads: the class token's after registers, the mean of the class
    /// and distillation tokens' for the distilled DeiT.
    func testGenericAttentionReadsTheHeadsTokens() throws {
        for name in ["deit_distilled", "vit_reg4"] {
            let (model, reference) = try load(name)
            try assertMaps(GenericAttention(), model, reference, key: "gae_maps")
        }
        let (model, reference) = try load("vit_reg4")
        try assertMaps(ClassEmbeddingProjection(), model, reference, key: "clsemb_maps")
    }

    /// Class-embedding projection needs one token's read-out: the distilled DeiT's head averages two, so it is
    /// refused there, saying so, while GAE runs; the pooled head is refused by both.
    func testRefusalsNameWhatIsMissing() throws {
        let (deit, reference) = try load("deit_distilled")
        let problem = try XCTUnwrap(deit.tokenProjectionProblem)
        XCTAssertTrue(problem.contains("deit_distilled-opset17.onnx") && problem.contains("reads 2 tokens"), problem)
        let valid = ExplainerRegistry.names(validFor: deit)
        XCTAssertTrue(valid.contains("gae") && !valid.contains("clsemb"), "\(valid)")
        XCTAssertThrowsError(try ExplainerRegistry.explainer(named: "clsemb", for: deit)) { error in
            XCTAssertTrue("\(error)".contains("reads 2 tokens"), "\(error)")
        }
        XCTAssertThrowsError(try ClassEmbeddingProjection().explain(reference["input"]!, model: deit, classes: nil)) { error in
            XCTAssertTrue("\(error)".contains("reads 2 tokens"), "\(error)")
        }

        let (pooled, input) = try load("vit_reg4_gap")
        XCTAssertEqual(pooled.valueShapes[pooled.defaultCAMPoint], [1, 20, 32], "the last residual sum, before the pooling")
        let surfaceProblem = try XCTUnwrap(pooled.tokenSurfaceProblem)
        XCTAssertTrue(surfaceProblem.contains("reads the patch tokens"), surfaceProblem)
        XCTAssertFalse(ExplainerRegistry.names(validFor: pooled).contains("gae"))
        XCTAssertThrowsError(try GenericAttention().explain(input["input"]!, model: pooled, classes: nil)) { error in
            XCTAssertTrue("\(error)".contains("reads the patch tokens"), "\(error)")
        }

        var settings = ONNXInputSettings()
        settings.inputSize = 32
        let inspection = try ONNXInspection(contentsOf: ONNXFixtures.url("deit_distilled-opset17.onnx"), settings: settings)
        XCTAssertEqual(inspection.prefixTokens, 2)
        XCTAssertEqual(inspection.readOutTokens, [0, 1])
        XCTAssertTrue(inspection.text.contains("attention (gae), 2 blocks, 2 token(s) before the patch grid, the head reads tokens 0 and 1"),
                      inspection.text)
    }
}
