import Foundation
import FovExTensor
@testable import FovExONNX
import SwiftProtobuf
import XCTest

/// Float ↔ integer conversions inside graphs (Cast, CastLike, Pad's value on integer data), against values
/// worked out by hand; a float with no integer value is an error naming the node, never a trap.
final class ONNXIntegerConversionTests: XCTestCase {
    private func initializer(_ name: String, _ type: Onnx_TensorProto.DataType, _ values: [Int32]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        (t.name, t.dataType, t.dims, t.int32Data) = (name, Int32(type.rawValue), [Int64(values.count)], values)
        return t
    }

    private func castTo(_ type: Onnx_TensorProto.DataType, _ name: String, _ input: String, _ output: String) -> Onnx_NodeProto {
        var node = GraphBuilder.node("Cast", name, [input], [output])
        var to = Onnx_AttributeProto()
        (to.name, to.type, to.i) = ("to", .int, Int64(type.rawValue))
        node.attribute = [to]
        return node
    }

    /// x → CastLike(an int32 constant) → CastLike(x) gives x truncated toward zero; CastLike(a bool constant) gives
    /// 0 or 1. Both come back as floats, so the graph's output can be compared.
    func testCastLikeFollowsTheSecondInputsType() throws {
        let values: [Float] = [2.7, -1.5, 0, -0.2, 3, 100.9, -7.99, 0.5]
        let x = Tensor(shape: [1, 3, 8, 8], scalars: (0..<192).map { values[$0 % values.count] })
        func run(like: Onnx_TensorProto) throws -> Tensor {
            var proto = GraphBuilder.model([GraphBuilder.node("CastLike", "to-int", ["x", like.name], ["xi"]),
                                            GraphBuilder.node("CastLike", "back", ["xi", "x"], ["y"])],
                                           outputDims: [nil, 3, 8, 8], opset: 15)
            proto.graph.initializer = [like]
            return try ONNXProgram(ONNXModel(serializedBytes: proto.serializedData(), file: "castlike.onnx")).run(x).output
        }
        let truncated = try run(like: initializer("i", .int32, [4]))
        XCTAssertEqual(truncated.scalars, x.scalars.map { $0.rounded(.towardZero) })
        XCTAssertEqual(Array(truncated.scalars.prefix(8)), [2, -1, 0, 0, 3, 100, -7, 0])
        let bools = try run(like: initializer("b", .bool, [1]))
        XCTAssertEqual(Array(bools.scalars.prefix(8)), [1, 1, 0, 1, 1, 1, 1, 1])
    }

    /// A float without an integer value (NaN, ±∞, beyond Int's range) is an error naming the node, not a trap.
    func testCastOfNaNToAnIntegerIsAnError() throws {
        let proto = GraphBuilder.model([castTo(.int64, "to-int", "x", "xi"), castTo(.float, "back", "xi", "y")],
                                       outputDims: [nil, 3, 8, 8])
        let program = try ONNXProgram(ONNXModel(serializedBytes: proto.serializedData(), file: "cast.onnx"))
        XCTAssertEqual(try program.run(Tensor(repeating: -2.5, shape: [1, 3, 8, 8])).output.scalars.first, -2)
        for bad: Float in [.nan, .infinity, -.infinity, 1e30] {
            var scalars = [Float](repeating: 1, count: 192)
            scalars[100] = bad
            XCTAssertThrowsError(try program.run(Tensor(shape: [1, 3, 8, 8], scalars: scalars))) { error in
                XCTAssertTrue("\(error)".contains("to-int") && "\(error)".contains("has no integer value"), "\(error)")
            }
        }
    }

    /// Integer data padded with a float value: a whole number pads, NaN is an error (the spec wants the data's
    /// type; exporters write it, hand-made graphs may not).
    func testPaddingIntegersWithAFloatValue() throws {
        func program(value: Float) throws -> ONNXProgram {
            var pads = Onnx_TensorProto()
            (pads.name, pads.dataType, pads.dims, pads.int64Data) = ("pads", Int32(Onnx_TensorProto.DataType.int64.rawValue), [8],
                                                                    [0, 0, 0, 1, 0, 0, 0, 1])
            var fill = Onnx_TensorProto()
            (fill.name, fill.dataType, fill.dims, fill.floatData) = ("fill", Int32(Onnx_TensorProto.DataType.float.rawValue), [], [value])
            var proto = GraphBuilder.model([castTo(.int64, "to-int", "x", "xi"), GraphBuilder.node("Pad", "pad", ["xi", "pads", "fill"], ["p"]),
                                            castTo(.float, "back", "p", "y")], outputDims: [nil, 3, 8, 10])
            proto.graph.initializer = [pads, fill]
            return try ONNXProgram(ONNXModel(serializedBytes: proto.serializedData(), file: "pad.onnx"))
        }
        let x = Tensor(repeating: 2.5, shape: [1, 3, 8, 8])
        let padded = try program(value: -7).run(x).output
        XCTAssertEqual(padded.shape, [1, 3, 8, 10])
        XCTAssertEqual(Array(padded.scalars.prefix(10)), [-7, 2, 2, 2, 2, 2, 2, 2, 2, -7])
        XCTAssertThrowsError(try program(value: .nan).run(x)) { error in
            XCTAssertTrue("\(error)".contains("pad") && "\(error)".contains("no integer value"), "\(error)")
        }
    }

    /// Ceil, Floor and Round (halves to even) on floats; their gradient is zero.
    func testRoundingOps() throws {
        let values: [Float] = [2.5, -2.5, 1.5, -0.5, 0.49, -7.2, 3, 1e9]
        let x = Tensor(shape: [1, 3, 8, 8], scalars: (0..<192).map { values[$0 % values.count] })
        let expected: [String: [Float]] = ["Ceil": [3, -2, 2, -0.0, 1, -7, 3, 1e9], "Floor": [2, -3, 1, -1, 0, -8, 3, 1e9],
                                           "Round": [2, -2, 2, -0.0, 0, -7, 3, 1e9]]
        for (op, want) in expected {
            let proto = GraphBuilder.model([GraphBuilder.node(op, op.lowercased(), ["x"], ["y"])], outputDims: [nil, 3, 8, 8])
            let program = try ONNXProgram(ONNXModel(serializedBytes: proto.serializedData(), file: "\(op).onnx"))
            let tracked = x.requiringGradient()
            let y = try program.run(tracked).output
            XCTAssertEqual(Array(y.scalars.prefix(8)), want, op)
            XCTAssertEqual(y.scalars.map(\.sign), y.scalars.enumerated().map { want[$0.offset % 8].sign }, "\(op): signed zeros")
            XCTAssertEqual(try gradients(of: y.sum(), withRespectTo: [tracked])[0].scalars, [Float](repeating: 0, count: 192), op)
        }
    }
}
