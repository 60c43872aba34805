import Foundation
import FovExExplainers
import FovExModels
import FovExTensor
@testable import FovExONNX
import XCTest

/// A Keras CNN converted by tf2onnx (tools/make_onnx_keras_fixtures.py): its input is channels-last, [N, H, W, 3],
/// and it ends in a softmax. The classifier takes [N, 3, H, W] pixels as for any model, lays them out for the
/// graph, and reads the logits before the softmax; logits, probabilities and input gradients against TensorFlow's.
final class ONNXKerasExportTests: XCTestCase {
    func testChannelsLastSoftmaxGraphGivesTheLogitsAndGradientsOfTensorFlow() throws {
        let reference = try ONNXFixtures.reference("keras_cnn")
        for opset in [13, 17] {
            let model = try ONNXClassifier(contentsOf: ONNXFixtures.url("keras_cnn-opset\(opset).onnx"),
                                           preprocessing: ONNXFixtures.raw(size: 32))
            XCTAssertTrue(model.takesChannelsLast, "opset \(opset)")
            let softmax = try XCTUnwrap(model.outputSoftmax, "opset \(opset)")
            XCTAssertTrue(softmax.hasPrefix("Softmax node"), softmax)
            XCTAssertTrue(model.acceptsBatches, "opset \(opset): tf2onnx's batch axis is free")

            let input = reference["input"]!.requiringGradient()
            let logits = model.logits(input)
            XCTAssertLessThanOrEqual(relativeError(logits, reference["logits"]!), 1e-4, "opset \(opset) logits")
            XCTAssertLessThanOrEqual(relativeError(model.probabilities(reference["input"]!), reference["probabilities"]!), 1e-4,
                                     "opset \(opset): the probabilities are the graph's own output")
            let classes = reference["classes"]!.scalars.map { Int($0) }
            let onehot = Tensor(shape: logits.shape, scalars: (0..<logits.count).map { classes[$0 / 10] == $0 % 10 ? 1 : 0 })
            let gradient = try gradients(of: (logits * onehot).sum(), withRespectTo: [input])[0]
            XCTAssertEqual(gradient.shape, [2, 3, 32, 32])
            XCTAssertLessThanOrEqual(relativeError(gradient, reference["input_grad"]!), 1e-3, "opset \(opset) input gradient")

            // The inner points are the graph's (channels-first after tf2onnx's transpose); Grad-CAM reads the last map.
            XCTAssertEqual(model.valueShapes[model.defaultCAMPoint], [1, 16, 8, 8], "opset \(opset)")
            let explanation = try GradCAM().explain(reference["input"]!, model: model, classes: nil)
            XCTAssertEqual(explanation.map(\.classIndex), classes)
        }
    }

    /// A channels-first graph is fed as it is, and a graph without a final softmax keeps its output.
    func testOnlyAChannelsLastDeclarationIsLaidOut() throws {
        let resnet = try ONNXClassifier(contentsOf: ONNXFixtures.url("resnet18-opset13.onnx"), preprocessing: ONNXFixtures.raw(size: 64))
        XCTAssertFalse(resnet.takesChannelsLast)
        XCTAssertNil(resnet.outputSoftmax, "torchvision's exports end in their classifier")
        let inspection = try ONNXInspection(contentsOf: ONNXFixtures.url("keras_cnn-opset13.onnx"))
        XCTAssertEqual(inspection.outputSoftmax, "Softmax node 'model/probabilities/Softmax'")
        XCTAssertTrue(inspection.text.contains("left out: the logits are its input"), inspection.text)
    }
}
