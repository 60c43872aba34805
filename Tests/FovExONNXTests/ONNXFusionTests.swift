import Foundation
import FovExModels
import FovExTensor
@testable import FovExONNX
import SwiftProtobuf
import XCTest

/// The load-time fusions (convolution chains, MatMul + bias, Erf GELU, decomposed LayerNorm) change the kernels,
/// not the function: fused and node-by-node programs give the same logits and input gradients. And graphs whose
/// shapes do not work are refused at load, or run image by image when they fix the batch at one.
final class ONNXFusionTests: XCTestCase {
    /// Logits and the gradient of a seeded logit sum with respect to the input, for one program.
    private func logitsAndGradient(_ program: ONNXProgram, _ input: Tensor, _ seed: Tensor) throws -> (Tensor, Tensor) {
        let x = input.requiringGradient()
        let logits = try program.run(x).output
        let gradient = try gradients(of: (logits * seed).sum(), withRespectTo: [x])[0]
        return (logits, gradient)
    }

    func testFusedAndUnfusedProgramsAgree() throws {
        for family in ["resnet18", "mobilenet_v2", "vit"] {
            let reference = try ONNXFixtures.reference(family)
            for opset in [13, 17] {
                let model = try ONNXModel(contentsOf: ONNXFixtures.url("\(family)-opset\(opset).onnx"))
                let fused = try ONNXProgram(model), plain = try ONNXProgram(model, fusing: false)
                XCTAssertLessThan(fused.steps.count, plain.steps.count, "\(family) opset \(opset): something fused")
                let (fusedLogits, fusedGradient) = try logitsAndGradient(fused, reference["input"]!, reference["seed"]!)
                let (plainLogits, plainGradient) = try logitsAndGradient(plain, reference["input"]!, reference["seed"]!)
                XCTAssertLessThanOrEqual(relativeError(fusedLogits, plainLogits), 1e-5, "\(family) opset \(opset) logits")
                XCTAssertLessThanOrEqual(relativeError(fusedGradient, plainGradient), 1e-4, "\(family) opset \(opset) gradient")
                // And both are PyTorch's.
                XCTAssertLessThanOrEqual(relativeError(plainLogits, reference["logits"]!), 1e-4, "\(family) opset \(opset)")
            }
        }
    }

    /// Without gradients, a ResNet block's last convolution accumulates onto its shortcut in place where the graph
    /// shows that nothing else reads the shortcut: the logits are exactly those of a recording run (which copies
    /// the shortcut), a captured shortcut keeps its values, and so does a shortcut the caller passes to a run of
    /// the later steps.
    func testResidualsAreConsumedInPlaceOnlyWhereNothingElseReadsThem() throws {
        let reference = try ONNXFixtures.reference("resnet18")
        // Without blocked chains, which would run these convolutions in passes that record nothing.
        let program = try ONNXProgram(try ONNXModel(contentsOf: ONNXFixtures.url("resnet18-opset17.onnx")), blocking: false)
        let consuming = program.steps.indices.filter { program.steps[$0].consumesResidual }
        XCTAssertFalse(consuming.isEmpty, "the blocks' shortcuts are consumed")
        let x = reference["input"]!
        let inPlace = try withoutGradients { try program.run(x).output }
        let recorded = try program.run(x.requiringGradient()).output
        XCTAssertEqual(inPlace.scalars, recorded.scalars)
        XCTAssertLessThanOrEqual(relativeError(inPlace, reference["logits"]!), 1e-4)

        let k = consuming[0], shortcut = program.steps[consuming[0]].inputs[1]
        let captured = try XCTUnwrap(try withoutGradients { try program.run(x, capturing: [shortcut]) }.captured[shortcut])
        let capturedRecording = try XCTUnwrap(try program.run(x.requiringGradient(), capturing: [shortcut]).captured[shortcut])
        XCTAssertEqual(captured.scalars, capturedRecording.scalars, "a captured shortcut is not overwritten")

        var values: [String: ONNXValue] = [program.inputName: .float(x)]
        var sink: [String: Tensor] = [:]
        try withoutGradients { try program.execute(Array(program.steps[..<k]), values: &values, captured: &sink) }
        guard case .float(let held)? = values[shortcut] else { return XCTFail("\(shortcut) is computed before step \(k)") }
        let before = held.scalars
        try withoutGradients { try program.execute(Array(program.steps[k...]), values: &values, captured: &sink) }
        XCTAssertEqual(held.scalars, before, "the caller's shortcut is not overwritten")
        XCTAssertEqual(try program.output(of: values).scalars, inPlace.scalars)
    }

    /// The ViT's chains run as single kernels: no Erf, no MatMul followed by its bias Add, and (opset 13) no
    /// ReduceMean of a decomposed LayerNorm is left as a step of its own.
    func testTransformerChainsFuse() throws {
        for opset in [13, 17] {
            let model = try ONNXModel(contentsOf: ONNXFixtures.url("vit-opset\(opset).onnx"))
            let fused = try ONNXProgram(model), plain = try ONNXProgram(model, fusing: false)
            func count(_ program: ONNXProgram, _ op: String) -> Int { program.steps.filter { $0.node.opType == op }.count }
            XCTAssertGreaterThan(count(plain, "Erf"), 0, "opset \(opset): the export writes GELU with Erf")
            XCTAssertEqual(count(fused, "Erf"), 0, "opset \(opset)")
            XCTAssertEqual(count(fused, "ReduceMean"), 0, "opset \(opset)")
            XCTAssertEqual(count(fused, "LayerNormalization"), count(plain, "LayerNormalization") + count(plain, "ReduceMean") / 2,
                           "opset \(opset): every norm is one step")
            // The products by a constant weight, before their bias: no step of the fused program reads them.
            let products = Set(plain.steps.filter { $0.node.opType == "MatMul" && plain.constants[$0.inputs[1]] != nil }.flatMap(\.outputs))
            XCTAssertFalse(products.isEmpty, "opset \(opset)")
            XCTAssertTrue(fused.steps.allSatisfy { Set($0.inputs).isDisjoint(with: products) }, "opset \(opset): MatMul + bias is one linear layer")
        }
    }

    /// [N, 3, 8, 8] → Reshape to a constant [1, 192] → MatMul by a [192, 4] weight: an export with its batch fixed
    /// at one. `reshapeTo` is the Reshape's target.
    private func fixedBatchModel(reshapeTo target: [Int64], weightRows: Int = 192) throws -> ONNXModel {
        var proto = GraphBuilder.model([
            GraphBuilder.node("Reshape", "flatten", ["x", "shape"], ["flat"]),
            GraphBuilder.node("MatMul", "fc", ["flat", "w"], ["y"]),
        ], outputDims: [1, 4])
        var shape = Onnx_TensorProto()
        (shape.name, shape.dataType, shape.dims, shape.int64Data) = ("shape", Int32(Onnx_TensorProto.DataType.int64.rawValue),
                                                                     [Int64(target.count)], target)
        var w = Onnx_TensorProto()
        let values = (0..<(weightRows * 4)).map { Float(($0 * 37) % 23) / 23 - 0.5 }
        (w.name, w.dataType, w.dims) = ("w", Int32(Onnx_TensorProto.DataType.float.rawValue), [Int64(weightRows), 4])
        w.rawData = values.withUnsafeBufferPointer { Data(buffer: $0) }
        proto.graph.initializer = [shape, w]
        return try ONNXModel(serializedBytes: proto.serializedData(), file: "fixed.onnx")
    }

    func testFixedBatchGraphRunsImageByImage() throws {
        let model = try ONNXClassifier(try fixedBatchModel(reshapeTo: [1, 192]), identity: ModelIdentity(architecture: "onnx", weights: "fixed.onnx"),
                                       preprocessing: ONNXFixtures.raw(size: 8))
        XCTAssertFalse(model.acceptsBatches)
        var generator = SeededGenerator(seed: 3)
        let images = Tensor(randomUniform: [3, 3, 8, 8], in: 0...1, generator: &generator).requiringGradient()
        let logits = model.logits(images)
        XCTAssertEqual(logits.shape, [3, 4])
        for i in 0..<3 {
            let single = model.logits(images.sliced(axis: 0, i..<(i + 1)).contiguous())
            XCTAssertLessThanOrEqual(relativeError(logits.sliced(axis: 0, i..<(i + 1)).contiguous(), single), 1e-6)
        }
        // The gradient reaches every image of the batch.
        let g = try gradients(of: logits.sliced(axis: 1, 0..<1).sum(), withRespectTo: [images])[0]
        for i in 0..<3 { XCTAssertGreaterThan(g.sliced(axis: 0, i..<(i + 1)).abs().sum().scalars[0], 0) }

        // A captured point is joined across the images and stays on the gradient path: ∂(Σ_i y[i, 0]) / ∂flat is
        // column 0 of the weight in every row (a join made after separate runs would give zeros).
        let run = try model.run(images, capturing: ["flat"])
        let flat = try XCTUnwrap(run.captured["flat"])
        XCTAssertEqual(flat.shape, [3, 192])
        XCTAssertLessThanOrEqual(relativeError(flat, images.reshaped([3, 192]).contiguous()), 1e-6)
        let gFlat = try gradients(of: run.logits.sliced(axis: 1, 0..<1).sum(), withRespectTo: [flat])[0]
        let column = (0..<192).map { Float(($0 * 4 * 37) % 23) / 23 - 0.5 }
        XCTAssertEqual(gFlat.shape, [3, 192])
        for i in 0..<3 { for j in 0..<192 { XCTAssertEqual(gFlat[i, j], column[j], accuracy: 1e-6) } }

        // A graph with a free batch keeps running batches whole.
        let free = try ONNXClassifier(try fixedBatchModel(reshapeTo: [-1, 192]), identity: ModelIdentity(architecture: "onnx", weights: "free.onnx"),
                                      preprocessing: ONNXFixtures.raw(size: 8))
        XCTAssertTrue(free.acceptsBatches)
    }

    /// A graph whose shapes do not work at the input size is refused at load, naming the file, the node and its op;
    /// an input of another size than the one probed gives a thrown error from `run`, not a trap.
    func testShapeProblemsAreErrorsNamingTheNode() throws {
        XCTAssertThrowsError(try ONNXClassifier(try fixedBatchModel(reshapeTo: [-1, 192], weightRows: 100),
                                                identity: ModelIdentity(architecture: "onnx", weights: "fixed.onnx"),
                                                preprocessing: ONNXFixtures.raw(size: 8))) { error in
            let text = "\(error)"
            XCTAssertTrue(error is ONNXError, text)
            XCTAssertTrue(text.contains("fixed.onnx") && text.contains("'fc'") && text.contains("MatMul"), text)
        }
        let model = try ONNXClassifier(try fixedBatchModel(reshapeTo: [-1, 192]), identity: ModelIdentity(architecture: "onnx", weights: "fixed.onnx"),
                                       preprocessing: ONNXFixtures.raw(size: 8))
        // 3·10·10 values do not make rows of 192.
        XCTAssertThrowsError(try model.run(Tensor(zeros: [1, 3, 10, 10]))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("fixed.onnx") && text.contains("'flatten'") && text.contains("Reshape"), text)
        }
        XCTAssertThrowsError(try model.run(Tensor(zeros: [1, 1, 8, 8]))) { error in
            XCTAssertTrue("\(error)".contains("[N, 3, H, W]"), "\(error)")
        }
    }
}
