import Foundation
import FovExModels
import FovExTensor
@testable import FovExONNX
import XCTest

/// `--precision` on ONNX graphs: the graph's convolutions and matrix products compute in the model's precision, as
/// the built-in models' do (docs/design/precision.md). On every exported family: bf16 moves the logits by bf16's
/// rounding and no more; bf16-backward keeps the forward pass fp32's bit for bit and the input gradient within
/// bf16's error of fp32's; setting fp32 again gives fp32's values exactly.
final class ONNXPrecisionTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(Precision.isBF16Supported, "this CPU has no AVX-512 BF16 (nor AVX-512 for FOVEX_BF16_EMULATION)")
    }

    private static let families: [(name: String, size: Int)] = [
        ("resnet18", 64), ("mobilenet_v2", 64), ("vit", 32), ("resnet50", 32), ("resnext50_32x4d", 32),
        ("mobilenet_v3_small", 32), ("efficientnet_b0", 32), ("efficientnet_v2_s", 32), ("regnet_y_400mf", 32),
        ("densenet121", 32), ("squeezenet1_1", 34), ("shufflenet_v2_x1_0", 32), ("mnasnet1_0", 32),
        ("googlenet", 34), ("inception_v3", 75), ("convnext_tiny", 32), ("swin_t", 40),
    ]

    func testEveryFamilyComputesInTheModelsPrecision() throws {
        for (family, size) in Self.families {
            let reference = try ONNXFixtures.reference(family)
            let model = try ONNXClassifier(contentsOf: ONNXFixtures.url("\(family)-opset17.onnx"),
                                           preprocessing: ONNXFixtures.raw(size: size))
            let input = reference["input"]!, seed = reference["seed"]!
            func pass(_ precision: Precision) throws -> (logits: Tensor, gradient: Tensor) {
                try ModelRegistry.setPrecision(precision, of: model)
                let x = input.requiringGradient()
                let logits = model.logits(x)
                return (logits, try gradients(of: (logits * seed).sum(), withRespectTo: [x])[0])
            }
            let fp32 = try pass(.fp32), bf16 = try pass(.bf16), backward = try pass(.bf16Backward), again = try pass(.fp32)

            let bf16Error = relativeError(bf16.logits, fp32.logits)
            XCTAssertGreaterThan(bf16Error, 1e-5, "\(family): bf16 logits equal fp32's, so the products did not run in bf16")
            XCTAssertLessThan(bf16Error, 0.05, "\(family): bf16 logits")
            XCTAssertEqual(backward.logits.scalars, fp32.logits.scalars, "\(family): bf16-backward's forward pass is fp32's")
            if fp32.gradient.scalars.allSatisfy({ $0 == 0 }) {
                // The narrowed Inception v3's random weights leave no path from this seed to the input.
                XCTAssertTrue(backward.gradient.scalars.allSatisfy { $0 == 0 }, "\(family): bf16-backward input gradient")
            } else {
                let backwardError = relativeError(backward.gradient, fp32.gradient)
                XCTAssertGreaterThan(backwardError, 1e-6, "\(family): bf16-backward's gradient equals fp32's")
                XCTAssertLessThan(backwardError, 0.05, "\(family): bf16-backward input gradient")
            }
            XCTAssertEqual(again.logits.scalars, fp32.logits.scalars, "\(family): fp32 again")
            XCTAssertEqual(again.gradient.scalars, fp32.gradient.scalars, "\(family): fp32 again, gradient")
        }
    }
}
