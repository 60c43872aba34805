import Foundation
import FovExExplainers
import FovExModels
import FovExTensor
@testable import FovExONNX
import XCTest

/// Logits and input gradients of the exported small torchvision models against PyTorch's
/// (tools/make_onnx_fixtures.py): ≤ 1e−4 and ≤ 1e−3 relative, for a batch of two at opsets 13 and 17.
final class ONNXParityTests: XCTestCase {
    /// `exporter` names the file's variant: "" for PyTorch 1.13's TorchScript exporter, "dynamo-" for PyTorch 2's.
    @discardableResult
    func check(_ family: String, opset: Int, size: Int, gradient: Bool = true, exporter: String = "",
               file: StaticString = #filePath, line: UInt = #line) throws -> ONNXClassifier {
        let reference = try ONNXFixtures.reference(family)
        let model = try ONNXClassifier(contentsOf: ONNXFixtures.url("\(family)-\(exporter)opset\(opset).onnx"),
                                       preprocessing: ONNXFixtures.raw(size: size))
        XCTAssertEqual(model.model.opset, opset, file: file, line: line)
        let input = reference["input"]!.requiringGradient()
        XCTAssertEqual(input.shape[0], 2, "the fixtures hold a batch of two; the graph was probed with one", file: file, line: line)
        let logits = model.logits(input)
        XCTAssertLessThanOrEqual(relativeError(logits, reference["logits"]!), 1e-4, "\(family) opset \(opset) logits",
                                 file: file, line: line)
        guard gradient else { return model }
        // A reference gradient of zero (a dead layer in the random network) would let any zero gradient pass.
        XCTAssertGreaterThan(reference["input_gradient"]!.scalars.map(abs).max()!, 0, "\(family): live reference",
                             file: file, line: line)
        let objective = (logits * reference["seed"]!).sum()
        let gradient = try gradients(of: objective, withRespectTo: [input])[0]
        XCTAssertLessThanOrEqual(relativeError(gradient, reference["input_gradient"]!), 1e-3,
                                 "\(family) opset \(opset) input gradient", file: file, line: line)
        return model
    }

    func testResNet18Opset13() throws { try check("resnet18", opset: 13, size: 64) }
    func testResNet18Opset17() throws { try check("resnet18", opset: 17, size: 64) }
    func testMobileNetV2Opset13() throws { try check("mobilenet_v2", opset: 13, size: 64) }
    func testMobileNetV2Opset17() throws { try check("mobilenet_v2", opset: 17, size: 64) }
    func testViTOpset13() throws { try check("vit", opset: 13, size: 32) }

    /// The same networks exported with every module as a model-local function (tools/make_onnx_function_fixtures.py):
    /// the calls are inlined at load, attributes resolved through `ref_attr_name`.
    func testModuleFunctionExportsAreInlined() throws {
        for (family, size) in [("resnet18", 64), ("vit", 32)] {
            let url = ONNXFixtures.url("\(family)-functions-opset15.onnx")
            let model = try ONNXClassifier(contentsOf: url, preprocessing: ONNXFixtures.raw(size: size))
            XCTAssertFalse(model.model.operatorCounts.keys.contains { $0.contains("torch") }, "\(family): every call inlined")
            let reference = try ONNXFixtures.reference(family)
            let input = reference["input"]!.requiringGradient()
            let logits = model.logits(input)
            XCTAssertLessThanOrEqual(relativeError(logits, reference["logits"]!), 1e-4, "\(family) logits")
            let gradient = try gradients(of: (logits * reference["seed"]!).sum(), withRespectTo: [input])[0]
            XCTAssertLessThanOrEqual(relativeError(gradient, reference["input_gradient"]!), 1e-3, "\(family) input gradient")
        }
        // The ViT's attention is found in the inlined graph: GAE gives PyTorch's maps.
        let vit = try ONNXClassifier(contentsOf: ONNXFixtures.url("vit-functions-opset15.onnx"), preprocessing: ONNXFixtures.raw(size: 32))
        XCTAssertNil(vit.tokenSurfaceProblem)
        let explained = try ONNXFixtures.load(ONNXFixtures.url("vit-explainers.safetensors"))
        let maps = try GenericAttention().explain(explained["input"]!, model: vit, classes: nil).map(\.map)
        let got = Tensor.concatenate(maps.map { $0.reshaped([1] + $0.shape) }, axis: 0)
        XCTAssertLessThanOrEqual(zip(got.scalars, explained["gae_maps"]!.scalars).map { abs($0 - $1) }.max()!, 1e-4)
    }
    func testViTOpset17() throws { try check("vit", opset: 17, size: 32) }

    // The other torchvision families (tools/make_onnx_fixtures.py says what each small version keeps), and a
    // module with the ops none of them exports together: a batch norm left in the graph, Split, Einsum,
    // Softmax over a non-last axis, reflect and edge Pad, pooling with asymmetric pads and ceil mode.
    func testResNet50Opset13() throws { try check("resnet50", opset: 13, size: 32) }
    func testResNet50Opset17() throws { try check("resnet50", opset: 17, size: 32) }
    func testResNeXt50Opset13() throws { try check("resnext50_32x4d", opset: 13, size: 32) }
    func testResNeXt50Opset17() throws { try check("resnext50_32x4d", opset: 17, size: 32) }
    func testWideResNet50Opset13() throws { try check("wide_resnet50_2", opset: 13, size: 32) }
    func testWideResNet50Opset17() throws { try check("wide_resnet50_2", opset: 17, size: 32) }
    func testMobileNetV3SmallOpset13() throws { try check("mobilenet_v3_small", opset: 13, size: 32) }
    func testMobileNetV3SmallOpset17() throws { try check("mobilenet_v3_small", opset: 17, size: 32) }
    func testMobileNetV3LargeOpset13() throws { try check("mobilenet_v3_large", opset: 13, size: 32) }
    func testMobileNetV3LargeOpset17() throws { try check("mobilenet_v3_large", opset: 17, size: 32) }
    func testEfficientNetB0Opset13() throws { try check("efficientnet_b0", opset: 13, size: 32) }
    func testEfficientNetB0Opset17() throws { try check("efficientnet_b0", opset: 17, size: 32) }
    func testEfficientNetV2SOpset13() throws { try check("efficientnet_v2_s", opset: 13, size: 32) }
    func testEfficientNetV2SOpset17() throws { try check("efficientnet_v2_s", opset: 17, size: 32) }
    func testRegNetYOpset13() throws { try check("regnet_y_400mf", opset: 13, size: 32) }
    func testRegNetYOpset17() throws { try check("regnet_y_400mf", opset: 17, size: 32) }
    func testDenseNet121Opset13() throws { try check("densenet121", opset: 13, size: 32) }
    func testDenseNet121Opset17() throws { try check("densenet121", opset: 17, size: 32) }
    func testSqueezeNet11Opset13() throws { try check("squeezenet1_1", opset: 13, size: 34) }
    func testSqueezeNet11Opset17() throws { try check("squeezenet1_1", opset: 17, size: 34) }
    func testShuffleNetV2Opset13() throws { try check("shufflenet_v2_x1_0", opset: 13, size: 32) }
    func testShuffleNetV2Opset17() throws { try check("shufflenet_v2_x1_0", opset: 17, size: 32) }
    func testMNASNetOpset13() throws { try check("mnasnet1_0", opset: 13, size: 32) }
    func testMNASNetOpset17() throws { try check("mnasnet1_0", opset: 17, size: 32) }
    func testGoogLeNetOpset13() throws { try check("googlenet", opset: 13, size: 34) }
    func testGoogLeNetOpset17() throws { try check("googlenet", opset: 17, size: 34) }
    func testInceptionV3Opset13() throws { try check("inception_v3", opset: 13, size: 75) }
    func testInceptionV3Opset17() throws { try check("inception_v3", opset: 17, size: 75) }
    func testConvNeXtTinyOpset13() throws { try check("convnext_tiny", opset: 13, size: 32) }
    func testConvNeXtTinyOpset17() throws { try check("convnext_tiny", opset: 17, size: 32) }
    func testSwinTOpset13() throws { try check("swin_t", opset: 13, size: 40) }
    func testSwinTOpset17() throws { try check("swin_t", opset: 17, size: 40) }

    // PyTorch 2.15's default exporter (torch.export + onnxscript; tools/make_onnx_dynamo_fixtures.py): a batch fixed
    // at one, which the classifier runs image by image, LayerNormalization and Gelu as ops, resnet18's weights as
    // external data beside the file, and at opset 23 one Attention node per block.
    func testResNet18DynamoOpset18() throws {
        let model = try check("resnet18", opset: 18, size: 64, exporter: "dynamo-")
        XCTAssertFalse(model.acceptsBatches, "the export fixes its batch at one")
    }
    func testMobileNetV3SmallDynamoOpset20() throws { try check("mobilenet_v3_small", opset: 20, size: 32, exporter: "dynamo-") }
    func testEfficientNetB0DynamoOpset20() throws { try check("efficientnet_b0", opset: 20, size: 32, exporter: "dynamo-") }
    func testConvNeXtTinyDynamoOpset20() throws { try check("convnext_tiny", opset: 20, size: 32, exporter: "dynamo-") }
    func testSwinTDynamoOpset20() throws { try check("swin_t", opset: 20, size: 40, exporter: "dynamo-") }
    func testViTDynamoOpset20() throws { try check("vit", opset: 20, size: 32, exporter: "dynamo-") }
    func testViTDynamoOpset23() throws {
        let model = try check("vit", opset: 23, size: 32, exporter: "dynamo-").model
        XCTAssertEqual(model.nodes.filter { $0.opType == "Attention" }.count, 2, "one Attention node per block")
    }
    // Opsets 7 to 10 (tools/make_onnx_legacy_fixtures.py): attributes where later opsets take inputs (Clip's
    // bounds in MobileNetV2, Pad's pads in DenseNet, Slice's starts and ends in the ViT, Squeeze's axes), Dropout-7,
    // HardSigmoid, and GoogLeNet's ceil-mode pooling at opset 10.
    func testSqueezeNet11Opset7() throws { try check("squeezenet1_1", opset: 7, size: 34) }
    func testMobileNetV2Opset7() throws { try check("mobilenet_v2", opset: 7, size: 64) }
    func testMobileNetV3SmallOpset8() throws { try check("mobilenet_v3_small", opset: 8, size: 32) }
    func testDenseNet121Opset9() throws { try check("densenet121", opset: 9, size: 32) }
    func testViTOpset9() throws { try check("vit", opset: 9, size: 32) }
    func testGoogLeNetOpset10() throws { try check("googlenet", opset: 10, size: 34) }

    /// An AlexNet as the ONNX Model Zoo's Caffe conversions write it (opset 9: LRN after the first two convolutions,
    /// Reshape, Gemm, Dropout, and a Softmax "prob" output that the classifier leaves out), against the PyTorch model
    /// it was built from.
    func testCaffeStyleAlexNetWithLRNOpset9() throws {
        let model = try check("caffe_alexnet", opset: 9, size: 35)
        XCTAssertEqual(model.model.nodes.filter { $0.opType == "LRN" }.count, 2)
        XCTAssertNotNil(model.outputSoftmax, "the probabilities' Softmax is left out: the logits are its input")
    }
    /// A CNN quantized in the QDQ format (tools/make_onnx_qdq_fixtures.py: uint8 input and activations, int8
    /// per-channel and per-tensor weights, an int32 bias, one QuantizeLinear read by two DequantizeLinears) against
    /// PyTorch's fake quantization: the logits (onnxruntime's too), and the straight-through input gradient, which is
    /// zero where the input's rounding saturates.
    func testQDQQuantizedCNNOpset13() throws {
        let model = try check("qdq_cnn", opset: 13, size: 32)
        let program = try ONNXProgram(try ONNXModel(contentsOf: ONNXFixtures.url("qdq_cnn-opset13.onnx")))
        XCTAssertEqual(program.steps.filter { $0.node.opType == "QuantizeLinear" }.count, 4)
        XCTAssertEqual(program.steps.filter { $0.node.opType == "DequantizeLinear" }.count, 5,
                       "the activations' five; the weights' and the bias's fold at load")
        let reference = try ONNXFixtures.reference("qdq_cnn")
        let input = reference["input"]!.requiringGradient()
        let g = try gradients(of: (model.logits(input) * reference["seed"]!).sum(), withRespectTo: [input])[0]
        // uint8 at scale 2⁻⁷ saturates above 255 / 128: no gradient reaches those pixels.
        let saturated = reference["input"]!.scalars.indices.filter { reference["input"]!.scalars[$0] > 255.5 / 128 }
        XCTAssertGreaterThan(saturated.count, 100)
        XCTAssertTrue(saturated.allSatisfy { g.scalars[$0] == 0 })
    }
    /// The same kind of CNN in the operator-oriented format (tools/make_onnx_qoperator_fixtures.py: QLinearConv,
    /// MaxPool on the quantized values, QLinearAdd and QLinearGlobalAveragePool of com.microsoft, QLinearMatMul)
    /// against onnxruntime's integer kernels, which equal PyTorch's fake quantization there, and PyTorch's
    /// straight-through input gradient.
    func testOperatorOrientedQuantizedCNNOpset13() throws {
        let model = try check("qop_cnn", opset: 13, size: 32)
        XCTAssertEqual(model.model.nodes.filter { $0.opType.hasPrefix("QLinear") }.count, 6)
        let program = try ONNXProgram(try ONNXModel(contentsOf: ONNXFixtures.url("qop_cnn-opset13.onnx")))
        XCTAssertEqual(program.steps.filter { $0.node.opType == "QuantizeLinear" }.count, 7, "the input and each QLinear op's output")
        let report = try ONNXInspection(contentsOf: ONNXFixtures.url("qop_cnn-opset13.onnx"))
        XCTAssertEqual(report.quantization?.hasPrefix("operator-oriented"), true)
        XCTAssertTrue(report.unsupported.isEmpty && report.text.contains("quantized: operator-oriented"), report.text)
        XCTAssertEqual(try ONNXInspection(contentsOf: ONNXFixtures.url("qdq_cnn-opset13.onnx")).quantization?.hasPrefix("QDQ"), true)
        XCTAssertEqual(try ONNXInspection(contentsOf: ONNXFixtures.url("vit_dynamic-opset13.onnx")).quantization?.hasPrefix("dynamic"), true)
        XCTAssertNil(try ONNXInspection(contentsOf: ONNXFixtures.url("vit-opset13.onnx")).quantization)
    }
    /// The small ViT dynamically quantized by onnxruntime's quantize_dynamic (tools/make_onnx_dynamic_quantization_fixtures.py:
    /// DynamicQuantizeLinear, MatMulInteger, ConvInteger, uint8 weights with zero points): onnxruntime's logits of each
    /// image run alone. The graph runs image by image; its input gradient (straight through each rounding) stays
    /// close to the float model's.
    func testDynamicallyQuantizedViTOpset13() throws {
        let reference = try ONNXFixtures.load(ONNXFixtures.url("vit_dynamic.safetensors"))
        let model = try ONNXClassifier(contentsOf: ONNXFixtures.url("vit_dynamic-opset13.onnx"), preprocessing: ONNXFixtures.raw(size: 32))
        XCTAssertFalse(model.acceptsBatches, "a DynamicQuantizeLinear's range would span the batch")
        XCTAssertEqual(Set(model.model.nodes.map(\.opType)).intersection(["DynamicQuantizeLinear", "MatMulInteger", "ConvInteger"]).count, 3)
        let input = reference["input"]!.requiringGradient()
        let logits = model.logits(input)
        XCTAssertLessThanOrEqual(relativeError(logits, reference["logits"]!), 1e-3)
        let float = try ONNXFixtures.reference("vit")
        let g = try gradients(of: (logits * float["seed"]!).sum(), withRespectTo: [input])[0]
        let expected = float["input_gradient"]!
        let cosine = zip(g.scalars, expected.scalars).reduce(0) { $0 + $1.0 * $1.1 }
            / (sqrt(g.scalars.reduce(0) { $0 + $1 * $1 }) * sqrt(expected.scalars.reduce(0) { $0 + $1 * $1 }))
        XCTAssertGreaterThan(cosine, 0.9, "the straight-through gradient follows the float model's")
    }
    func testOpMixOpset13() throws { try check("opmix", opset: 13, size: 19) }
    func testOpMixOpset17() throws { try check("opmix", opset: 17, size: 19) }

    /// A batch of one gives the same logits as that image's row of a batch of two (the batch size is free).
    func testBatchSizeIsDynamic() throws {
        let reference = try ONNXFixtures.reference("vit")
        let model = try ONNXClassifier(contentsOf: ONNXFixtures.url("vit-opset13.onnx"), preprocessing: ONNXFixtures.raw(size: 32))
        let single = model.logits(reference["input"]!.sliced(axis: 0, 1..<2))
        XCTAssertLessThanOrEqual(relativeError(single, reference["logits"]!.sliced(axis: 0, 1..<2).contiguous()), 1e-4)
    }

    /// The ResNet's convolutions and their residual sums and ReLUs run fused; a gradient with respect to an
    /// inner point (the CAM point) is the gradient of the logits through the rest of the graph.
    func testResNetStructureAndCAMPoint() throws {
        let model = try ONNXClassifier(contentsOf: ONNXFixtures.url("resnet18-opset13.onnx"), preprocessing: ONNXFixtures.raw(size: 64))
        XCTAssertEqual(model.classNames.count, 10)
        XCTAssertEqual(model.valueShapes[model.defaultCAMPoint], [1, 32, 2, 2], "the last 4-D activation before pooling")
        // The classifier keeps the parsed model without its weights; compile the file again to look inside.
        let program = try ONNXProgram(try ONNXModel(contentsOf: ONNXFixtures.url("resnet18-opset13.onnx")))
        XCTAssertEqual(program.steps.filter { $0.node.opType == "Conv" }.count, 20)
        XCTAssertEqual(program.steps.filter { $0.node.opType == "Relu" || $0.node.opType == "Add" }.count, 0,
                       "every ReLU and residual sum of a ResNet-18 follows a convolution and is fused into it")

        let reference = try ONNXFixtures.reference("resnet18")
        let out = model.forward(reference["input"]!.requiringGradient(), capturing: [model.defaultCAMPoint])
        let feature = out.captured[model.defaultCAMPoint]!
        XCTAssertEqual(feature.shape, [2, 32, 2, 2])
        // The head is global pooling and a linear layer: d logit_c / d feature = W[c] / 4 at every position.
        let g = try gradients(of: out.logits.sliced(axis: 1, 3..<4).sum(), withRespectTo: [feature])[0]
        let fcWeight = program.constants.values.compactMap { v -> Tensor? in
            if case .float(let t) = v, t.shape == [10, 32] { return t } else { return nil }
        }.first!
        let expected = fcWeight.sliced(axis: 0, 3..<4).reshaped([1, 32, 1, 1]).broadcast(to: [2, 32, 2, 2]) * 0.25
        XCTAssertLessThanOrEqual(relativeError(g.contiguous(), expected.contiguous()), 1e-6)
    }

    /// A ViT's CAM point is the token tensor before the final norm, turned into a map over the 4×4 patch grid.
    func testViTCAMPointIsTheTokenGrid() throws {
        for opset in [13, 17] {
            let model = try ONNXClassifier(contentsOf: ONNXFixtures.url("vit-opset\(opset).onnx"),
                                           preprocessing: ONNXFixtures.raw(size: 32))
            XCTAssertEqual(model.valueShapes[model.defaultCAMPoint], [1, 17, 32], "opset \(opset)")
            let reference = try ONNXFixtures.reference("vit")
            let tokens = model.forward(reference["input"]!, capturing: [model.defaultCAMPoint]).captured[model.defaultCAMPoint]!
            let map = model.spatialMap(of: tokens, at: model.defaultCAMPoint)
            XCTAssertEqual(map.shape, [2, 32, 4, 4])
            // Patch (row 1, column 2) is token 1 + 1·4 + 2.
            XCTAssertEqual(map[1, 5, 1, 2], tokens[1, 7, 5])
        }
    }
}
