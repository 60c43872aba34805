import Foundation
import FovExTensor
@testable import FovExONNX
import XCTest

/// MaxPool and AveragePool with asymmetric pads and ceil mode against a direct loop over each window, for
/// the attribute forms the fixtures' exporter never writes (count_include_pad = 1 with pads).
final class ONNXPoolingTests: XCTestCase {
    func pool(_ op: String, pads: [Int], ceil: Int, includePad: Int) throws -> ONNXProgram {
        var node = GraphBuilder.node(op, "pool", ["x"], ["y"])
        func ints(_ name: String, _ v: [Int64]) -> Onnx_AttributeProto {
            var a = Onnx_AttributeProto()
            (a.name, a.type, a.ints) = (name, .ints, v)
            return a
        }
        func int(_ name: String, _ v: Int64) -> Onnx_AttributeProto {
            var a = Onnx_AttributeProto()
            (a.name, a.type, a.i) = (name, .int, v)
            return a
        }
        node.attribute = [ints("kernel_shape", [3, 3]), ints("strides", [2, 2]), ints("pads", pads.map(Int64.init)),
                          int("ceil_mode", Int64(ceil))]
        if op == "AveragePool" { node.attribute.append(int("count_include_pad", Int64(includePad))) }
        let proto = GraphBuilder.model([node], outputDims: [nil, 3, nil, nil])
        return try ONNXProgram(ONNXModel(serializedBytes: proto.serializedData(), file: "pool.onnx"))
    }

    /// PyTorch's definition: output size with the last window starting inside the input or the leading pad;
    /// an average's divisor counts the window's cells up to the end padding (include) or inside the input.
    func reference(_ x: Tensor, max isMax: Bool, pads: [Int], ceil: Bool, includePad: Bool) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        func size(_ len: Int, _ b: Int, _ a: Int) -> Int {
            let span = len + b + a - 3
            var o = (ceil ? (span + 1) / 2 : span / 2) + 1
            if ceil && (o - 1) * 2 >= len + b { o -= 1 }
            return o
        }
        let oh = size(h, pads[0], pads[2]), ow = size(w, pads[1], pads[3])
        var out: [Float] = []
        let s = x.contiguous().scalars
        for b in 0..<n { for ch in 0..<c { for i in 0..<oh { for j in 0..<ow {
            let hs = i * 2 - pads[0], ws = j * 2 - pads[1]
            let he = min(hs + 3, h + pads[2]), we = min(ws + 3, w + pads[3])
            var best = -Float.infinity, sum: Float = 0, cells = 0
            for r in max(hs, 0)..<min(he, h) { for q in max(ws, 0)..<min(we, w) {
                let v = s[((b * c + ch) * h + r) * w + q]
                best = Swift.max(best, v); sum += v; cells += 1
            } }
            out.append(isMax ? best : sum / Float(includePad ? (he - hs) * (we - ws) : cells))
        } } } }
        return Tensor(shape: [n, c, oh, ow], scalars: out)
    }

    func testAsymmetricPadsAndCeilMode() throws {
        let x = Tensor(shape: [1, 3, 8, 7], scalars: (0..<168).map { Float(sin(Double($0) * 1.7)) })
        for pads in [[1, 0, 2, 1], [0, 2, 1, 0], [1, 1, 1, 1]] {
            for ceil in [0, 1] {
                let maxPool = try pool("MaxPool", pads: pads, ceil: ceil, includePad: 0).run(x).output
                XCTAssertEqual(maxPool.scalars, reference(x, max: true, pads: pads, ceil: ceil == 1, includePad: false).scalars,
                               "MaxPool pads \(pads) ceil \(ceil)")
                for include in [0, 1] {
                    let average = try pool("AveragePool", pads: pads, ceil: ceil, includePad: include).run(x).output
                    let expected = reference(x, max: false, pads: pads, ceil: ceil == 1, includePad: include == 1)
                    XCTAssertEqual(average.shape, expected.shape)
                    XCTAssertLessThanOrEqual(relativeError(average, expected), 1e-6,
                                             "AveragePool pads \(pads) ceil \(ceil) count_include_pad \(include)")
                }
            }
        }
    }
}
