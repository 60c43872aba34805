import Foundation
import FovExExplainers
import FovExModels
import FovExTensor
@testable import FovExONNX
import XCTest

/// The default CAM point found from each exported torchvision family's graph: a CNN's is a square feature map with
/// a spatial extent (not a pooled vector laid out channels-last, as ConvNeXt's classifier norm is), a ViT's is the
/// last block's first norm, whose patch tokens carry the class token's gradient.
final class ONNXCAMPointTests: XCTestCase {
    private let sizes = ["convnext_tiny": 32, "densenet121": 32, "efficientnet_b0": 32, "efficientnet_v2_s": 32,
                         "googlenet": 34, "inception_v3": 75, "mnasnet1_0": 32, "mobilenet_v2": 64,
                         "mobilenet_v3_large": 32, "mobilenet_v3_small": 32, "regnet_y_400mf": 32, "resnet18": 64,
                         "resnet50": 32, "resnext50_32x4d": 32, "shufflenet_v2_x1_0": 32, "squeezenet1_1": 34,
                         "swin_t": 40, "wide_resnet50_2": 32]

    func testConvolutionalDefaultsAreSquareFeatureMaps() throws {
        for (family, size) in sizes {
            let model = try ONNXClassifier(contentsOf: ONNXFixtures.url("\(family)-opset17.onnx"), preprocessing: ONNXFixtures.raw(size: size))
            let shape = try XCTUnwrap(model.valueShapes[model.defaultCAMPoint], family)
            XCTAssertEqual(shape.count, 4, "\(family): \(model.defaultCAMPoint) \(shape)")
            guard shape.count == 4 else { continue }
            XCTAssertTrue(shape[2] == shape[3] && shape[2] > 1, "\(family): \(model.defaultCAMPoint) \(shape)")
        }
    }

    /// ConvNeXt's classifier normalises the pooled [1, C, 1, 1] vector as [1, 1, 1, C]: that is no feature map.
    func testConvNeXtDefaultIsBeforeThePooling() throws {
        let model = try ONNXClassifier(contentsOf: ONNXFixtures.url("convnext_tiny-opset17.onnx"), preprocessing: ONNXFixtures.raw(size: 32))
        XCTAssertFalse(model.defaultCAMPoint.contains("classifier"), model.defaultCAMPoint)
        let explanation = try GradCAM().explain(Tensor(shape: [1, 3, 32, 32], scalars: (0..<3072).map { Float($0 % 97) / 97 }),
                                                model: model, classes: nil)[0]
        let map = explanation.map.scalars
        XCTAssertGreaterThan(Set(map.map { ($0 * 100).rounded() }).count, 10, "a map with structure, not a constant")
    }
}
