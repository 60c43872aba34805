import Foundation
@testable import FovExONNX
@testable import FovExTensor
import SwiftProtobuf
import XCTest

/// The ONNX linear layers ask for packed weights (``LinearWeightPacking/whereFaster``): where this CPU packs, a
/// Gemm by a constant weight leaves a packed copy of that constant after a product of enough rows, and its result is
/// the Float64 product's.
final class ONNXPackedWeightTests: XCTestCase {
    /// [N, 3, 8, 8] → Reshape to [N·24, 8] rows → Gemm by a constant [8, 5] weight and a [5] bias.
    private func gemmModel() throws -> ONNXModel {
        var proto = GraphBuilder.model([
            GraphBuilder.node("Reshape", "rows", ["x", "shape"], ["r"]),
            GraphBuilder.node("Gemm", "fc", ["r", "w", "b"], ["y"]),
        ], outputDims: [nil, 5])
        func floats(_ name: String, _ dims: [Int64], _ values: [Float]) -> Onnx_TensorProto {
            var t = Onnx_TensorProto()
            (t.name, t.dataType, t.dims) = (name, Int32(Onnx_TensorProto.DataType.float.rawValue), dims)
            t.rawData = values.withUnsafeBufferPointer { Data(buffer: $0) }
            return t
        }
        var shape = Onnx_TensorProto()
        (shape.name, shape.dataType, shape.dims, shape.int64Data) = ("shape", Int32(Onnx_TensorProto.DataType.int64.rawValue),
                                                                     [2], [-1, 8])
        proto.graph.initializer = [
            shape,
            floats("w", [8, 5], (0..<40).map { Float(($0 * 37) % 23) / 23 - 0.5 }),
            floats("b", [5], [0.5, -1, 0.25, 2, -0.75]),
        ]
        return try ONNXModel(serializedBytes: proto.serializedData(), file: "gemm.onnx")
    }

    func testGemmByAConstantPacksItsWeight() throws {
        try XCTSkipUnless(PackedGEMM.isEnabled, "packing does not pay on this CPU (oneDNN has its own matmul kernels)")
        let program = try ONNXProgram(try gemmModel())
        guard case .float(let w)? = program.constants["w"], case .float(let b)? = program.constants["b"] else {
            return XCTFail("the program does not hold the Gemm's constants")
        }
        var generator = SeededGenerator(seed: 5)
        let x = Tensor(randomUniform: [2, 3, 8, 8], in: -1...1, generator: &generator)
        let y = try withoutGradients { try program.run(x).output }
        XCTAssertEqual(y.shape, [48, 5])
        XCTAssertGreaterThan(PackedWeightCache.shared.derivedBytes(from: [w.storage]), 0, "the weight was not packed")
        let rows = x.reshaped([48, 8]).scalars.map(Double.init), ws = w.scalars.map(Double.init)
        let bs = b.scalars.map(Double.init), ys = y.scalars
        for i in 0..<48 {
            for j in 0..<5 {
                let expected = (0..<8).reduce(bs[j]) { $0 + rows[i * 8 + $1] * ws[$1 * 5 + j] }
                XCTAssertEqual(Double(ys[i * 5 + j]), expected, accuracy: 1e-5, "row \(i), column \(j)")
            }
        }
    }
}
