import Foundation
import FovExTensor
@testable import FovExONNX
import XCTest

/// Runs of convolutions and poolings stand in for their steps in passes that record nothing: each chain gives its
/// steps' values, the logits stay PyTorch's, and passes that record (or capture a value inside a chain) run the
/// steps themselves.
final class ONNXBlockedChainTests: XCTestCase {
    /// The convolutional families, whose graphs hold every kind of run: ResNets, ResNeXt and MobileNetV2 from the stem to
    /// the global pooling; squeeze-and-excitation products, SiLU, hard-swish and hard-sigmoid (EfficientNet, RegNet,
    /// MobileNetV3); concatenations (DenseNet with its stand-alone batch norms, GoogLeNet, Inception, SqueezeNet);
    /// runs broken by channel shuffles (ShuffleNet) and LayerNorms (ConvNeXt); grouped convolutions (ResNeXt), ceil-mode
    /// max pools (GoogLeNet, SqueezeNet) and average pools (Inception).
    private let families = ["resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2", "mobilenet_v2", "mobilenet_v3_large",
                            "mobilenet_v3_small", "mnasnet1_0", "efficientnet_b0", "efficientnet_v2_s", "regnet_y_400mf",
                            "densenet121", "squeezenet1_1", "shufflenet_v2_x1_0", "googlenet", "inception_v3", "convnext_tiny"]

    func testEachChainGivesItsStepsValues() throws {
        for family in families {
            let reference = try ONNXFixtures.reference(family)
            let program = try ONNXProgram(try ONNXModel(contentsOf: ONNXFixtures.url("\(family)-opset17.onnx")))
            let starts = program.steps.indices.filter { program.steps[$0].chain != nil }
            XCTAssertFalse(starts.isEmpty, "\(family): no chain")
            let x = reference["input"]!
            try withoutGradients {
                for start in starts {
                    let chain = program.steps[start].chain!
                    var values: [String: ONNXValue] = [program.inputName: .float(x)]
                    var sink: [String: Tensor] = [:]
                    try program.execute(Array(program.steps[..<start]), values: &values, captured: &sink)
                    let blocked = try XCTUnwrap(chain.run(program.steps[start...], values: values, capturing: []),
                                                "\(family): the chain at step \(start) declined")
                    // The same steps one by one.
                    let steps = program.steps[chain.positions].map { step -> ONNXStep in
                        var plain = step
                        plain.chain = nil
                        return plain
                    }
                    try program.execute(steps, values: &values, captured: &sink)
                    XCTAssertEqual(blocked.map(\.0), chain.outputs)
                    for (name, t) in blocked {
                        guard case .float(let expected)? = values[name] else { return XCTFail("\(family): \(name) not computed") }
                        XCTAssertLessThanOrEqual(relativeError(t, expected), 1e-5, "\(family): \(name)")
                    }
                }
            }
            let logits = try withoutGradients { try program.run(x).output }
            XCTAssertLessThanOrEqual(relativeError(logits, reference["logits"]!), 1e-4, family)
            if family.hasPrefix("efficientnet") {
                // SiLU, exported as Sigmoid and Mul, runs as one function.
                let layers = starts.flatMap { program.steps[$0].chain!.chain.layers }
                XCTAssertTrue(layers.contains { if case .elementwise(_, [.swish]) = $0 { return true } else { return false } }, family)
            }
        }
    }

    /// A pass that records, or one that captures a value a chain computes, runs the steps: the recorded gradient
    /// exists and the captured value is the steps' own.
    func testRecordingAndCapturingPassesRunTheSteps() throws {
        let reference = try ONNXFixtures.reference("resnet18")
        let model = try ONNXModel(contentsOf: ONNXFixtures.url("resnet18-opset17.onnx"))
        let program = try ONNXProgram(model), stepwise = try ONNXProgram(model, blocking: false)
        let start = try XCTUnwrap(program.steps.indices.first { program.steps[$0].chain != nil })
        let chain = program.steps[start].chain!
        XCTAssertNil(stepwise.steps.first { $0.chain != nil }, "blocking: false attaches no chain")

        let x = reference["input"]!
        let tracked = x.requiringGradient()
        XCTAssertNil(chain.run(program.steps[start...], values: [program.inputName: .float(tracked)], capturing: []))
        let logits = try program.run(tracked).output
        let gradient = try gradients(of: (logits * reference["seed"]!).sum(), withRespectTo: [tracked])[0]
        XCTAssertLessThanOrEqual(relativeError(gradient, reference["input_gradient"]!), 1e-3)

        let inner = try XCTUnwrap(chain.computed.first { !chain.outputs.contains($0) })
        XCTAssertNil(chain.run(program.steps[start...], values: [program.inputName: .float(x)], capturing: [inner]))
        let captured = try withoutGradients { try program.run(x, capturing: [inner]) }.captured[inner]
        let capturedStepwise = try withoutGradients { try stepwise.run(x, capturing: [inner]) }.captured[inner]
        XCTAssertEqual(try XCTUnwrap(captured).scalars, try XCTUnwrap(capturedStepwise).scalars)
        // A run of part of the chain's steps does not use it.
        XCTAssertNil(chain.run(program.steps[(start + 1)...], values: [program.inputName: .float(x)], capturing: []))
    }

    /// A graph whose batch is fixed at one (PyTorch 2's exports) runs a batch image by image; with nothing captured
    /// and nothing recorded, each image goes through the chains.
    func testFixedBatchGraphsRunTheirChainsImageByImage() throws {
        let reference = try ONNXFixtures.reference("resnet18")
        let model = try ONNXClassifier(contentsOf: ONNXFixtures.url("resnet18-dynamo-opset18.onnx"),
                                       preprocessing: ONNXFixtures.raw(size: 64))
        XCTAssertFalse(model.acceptsBatches)
        let chains = model.program.steps.compactMap(\.chain)
        XCTAssertFalse(chains.isEmpty, "no chain")
        let x = reference["input"]!
        XCTAssertEqual(x.shape[0], 2)
        // The probes at load ran no chain on one image (they collect shapes), so the pass below adds that shape.
        let before = chains.map(\.chain.runnableShapeCount)
        let logits = withoutGradients { model.logits(x) }
        XCTAssertLessThanOrEqual(relativeError(logits, reference["logits"]!), 1e-4)
        XCTAssertEqual(chains.map(\.chain.runnableShapeCount), before.map { $0 + 1 }, "a chain did not run on the one-image shape")
    }
}
