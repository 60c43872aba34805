import Foundation
import FovExTensor
@testable import FovExONNX
import SwiftProtobuf
import XCTest

/// One-node graphs for ops the torchvision fixtures never use, against onnxruntime's outputs (training-mode
/// BatchNormalization: the spec's formula in NumPy), written by tools/make_onnx_op_fixtures.py (and, for ops
/// PyTorch 2's exporter writes, tools/make_onnx_pytorch2_op_fixtures.py); and each op's input gradient against a central finite
/// difference.
final class ONNXOpFixtureTests: XCTestCase {
    static let cases = [
        "resize-nearest-asymmetric-floor", "resize-nearest-half-pixel-round-prefer-floor",
        "resize-nearest-align-corners-round-prefer-ceil", "resize-nearest-pytorch-half-pixel-ceil",
        "resize-linear-half-pixel", "resize-linear-align-corners", "resize-linear-pytorch-half-pixel",
        "resize-linear-asymmetric-downsample", "resize-cubic-half-pixel", "resize-cubic-asymmetric-exclude-outside",
        "tile", "leaky-relu", "sin", "cos", "cumsum", "cumsum-exclusive-reverse",
        "reduce-l2", "reduce-l1", "reduce-sum-square", "reduce-min",
        "max-pool-rectangular-asymmetric-ceil", "average-pool-rectangular", "average-pool-1d", "max-pool-1d-ceil",
        "prelu", "elu", "selu", "celu", "mish", "softplus", "softsign", "sign", "max-broadcast", "min-broadcast",
        "sum-three", "mean-two", "log-softmax-axis-1", "log-softmax-legacy-axis-1", "global-max-pool",
        "where-comparisons", "conv1d-grouped-strided-dilated", "conv1d-eca", "instance-normalization",
        "batch-normalization-training", "group-normalization-18", "group-normalization-21", "depth-to-space-dcr",
        "depth-to-space-crd", "space-to-depth",
        // Ops PyTorch 2's exporter writes (tools/make_onnx_pytorch2_op_fixtures.py).
        "attention-4d", "attention-3d-grouped-mask-softcap", "attention-boolean-mask-multi-query", "gather-nd-table",
        "gather-nd-batch-dims", "space-to-depth-crd", "col2im-strided-padded", "col2im-dilated",
        // LRN, and the resizing ops of opsets 7 to 10 (tools/make_onnx_legacy_fixtures.py).
        "lrn-size5", "lrn-size4-opset7", "upsample-7-nearest", "upsample-9-linear", "upsample-9-nearest-fractional",
        "resize-10-nearest-down", "resize-10-linear-up", "resize-10-linear-down",
    ]

    private func load(_ name: String) throws -> (ONNXProgram, [String: Tensor]) {
        let program = try ONNXProgram(ONNXModel(contentsOf: ONNXFixtures.url("ops/\(name).onnx")))
        return (program, try ONNXFixtures.load(ONNXFixtures.url("ops/\(name).safetensors")))
    }

    func testOutputsMatchOnnxRuntime() throws {
        for name in Self.cases {
            let (program, reference) = try load(name)
            let x = reference["x"]!
            let run = try withoutGradients { try program.run(x, capturing: ["y1", "y2"]) }
            XCTAssertEqual(run.output.shape, reference["y"]!.shape, name)
            // Where's −∞ branch: the fixture marks those positions (a checkpoint holds finite numbers only).
            let (got, want) = (run.output.scalars, reference["y"]!.scalars)
            let minusInfinity = reference["y_minus_infinity"]?.scalars.map { $0 != 0 } ?? [Bool](repeating: false, count: want.count)
            let finite = want.indices.filter { !minusInfinity[$0] }
            XCTAssertEqual(want.indices.filter { minusInfinity[$0] }.map { got[$0] },
                           [Float](repeating: -.infinity, count: want.count - finite.count), name)
            XCTAssertLessThanOrEqual(relativeError(Tensor(shape: [finite.count], scalars: finite.map { got[$0] }),
                                                   Tensor(shape: [finite.count], scalars: finite.map { want[$0] })), 2e-6, name)
            for extra in ["y1", "y2"] where reference[extra] != nil {
                guard let value = run.captured[extra] else { XCTFail("\(name): no output \(extra)"); continue }
                XCTAssertLessThanOrEqual(relativeError(value, reference[extra]!), 2e-6, "\(name) \(extra)")
            }
        }
    }

    /// ⟨∇ₓ⟨y, r⟩, v⟩ against (⟨y(x + εv), r⟩ − ⟨y(x − εv), r⟩) / 2ε in Float64, for a random r and v. LeakyRelu's
    /// and ReduceL1's inputs are moved away from their kink at 0 first.
    func testInputGradientsMatchFiniteDifferences() throws {
        var generator = SplitMix(seed: 11)
        // Sign has no gradient, and Where's −∞ output has no finite difference.
        for name in Self.cases where !["sign", "where-comparisons"].contains(name) {
            let (program, reference) = try load(name)
            var x = reference["x"]!
            if name == "leaky-relu" || name == "reduce-l1" { x = Tensor(shape: x.shape, scalars: x.scalars.map { $0 + ($0 < 0 ? -0.1 : 0.1) }) }
            let y = try withoutGradients { try program.run(x).output }
            let r = Tensor(shape: y.shape, scalars: (0..<y.count).map { _ in generator.nextNormal() })
            let v = Tensor(shape: x.shape, scalars: (0..<x.count).map { _ in generator.nextNormal() })
            let tracked = x.requiringGradient()
            let g = try gradients(of: (try program.run(tracked).output * r).sum(), withRespectTo: [tracked])[0]
            let analytic = zip(g.scalars, v.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let epsilon: Float = 1e-2
            func objective(_ input: Tensor) throws -> Double {
                let out = try withoutGradients { try program.run(input).output }
                return zip(out.scalars, r.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            }
            let numeric = (try objective(x + v * epsilon) - objective(x - v * epsilon)) / (2 * Double(epsilon))
            XCTAssertEqual(numeric, analytic, accuracy: 2e-3 * max(abs(analytic), 1), name)
            XCTAssertGreaterThan(abs(analytic), 1e-3, "\(name): a gradient that vanishes checks nothing")
        }
    }
}

extension ONNXOpFixtureTests {
    /// Repeats whose product is beyond memory, or beyond Int, are an error naming the node, not a trap.
    func testTileRefusesOutputsTooLargeToHold() throws {
        for repeats: [Int64] in [[1, 1, 1 << 20, 1 << 20], [1, 1, Int64.max / 4, 8], [2, 1 << 31, 1 << 31, 1]] {
            var r = Onnx_TensorProto()
            (r.name, r.dataType, r.dims, r.int64Data) = ("repeats", Int32(Onnx_TensorProto.DataType.int64.rawValue), [4], repeats)
            var proto = GraphBuilder.model([GraphBuilder.node("Tile", "tile", ["x", "repeats"], ["y"])], outputDims: [nil, 3, nil, nil])
            proto.graph.initializer = [r]
            let program = try ONNXProgram(ONNXModel(serializedBytes: proto.serializedData(), file: "tile.onnx"))
            XCTAssertThrowsError(try program.run(Tensor(zeros: [1, 3, 8, 8]))) { error in
                XCTAssertTrue("\(error)".contains("tile") && "\(error)".contains("too large"), "\(error)")
            }
        }
    }

    /// An all-zero slice under ReduceL2 (a zero token before an L2 normalisation) has gradient 0, not NaN.
    func testReduceL2GradientIsFiniteAtZero() throws {
        var node = GraphBuilder.node("ReduceL2", "norm", ["x"], ["y"])
        var axes = Onnx_AttributeProto()
        (axes.name, axes.type, axes.ints) = ("axes", .ints, [1])
        node.attribute = [axes]
        let program = try ONNXProgram(ONNXModel(serializedBytes: GraphBuilder.model([node], outputDims: [nil, 1, 8, 8]).serializedData(),
                                                file: "l2.onnx"))
        let x = Tensor(shape: [2, 3, 8, 8], scalars: (0..<384).map { $0 < 192 ? 0 : Float($0 % 5) - 2 }).requiringGradient()
        let y = try program.run(x).output
        XCTAssertLessThan(y.scalars[0], 1e-18)
        let g = try gradients(of: y.sum(), withRespectTo: [x])[0].scalars
        XCTAssertTrue(g.allSatisfy(\.isFinite))
        XCTAssertEqual(Array(g[0..<192]), [Float](repeating: 0, count: 192))
    }
}

/// A small seeded generator (SplitMix64) with Box–Muller normals, for the tests' random directions.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func nextNormal() -> Float {
        let u1 = (Double(next() >> 11) + 1) / 9_007_199_254_740_992, u2 = Double(next() >> 11) / 9_007_199_254_740_992
        return Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
    }
}

extension ONNXOpFixtureTests {
    /// Attention with what no classifier uses (a causal mask, a key-value cache, the extra outputs) is refused before
    /// any work, each node named with its reason.
    func testAttentionUsesWithoutAClassifierMeaningAreRefused() throws {
        var causal = GraphBuilder.node("Attention", "causal", ["x", "x", "x"], ["a"])
        var flag = Onnx_AttributeProto()
        (flag.name, flag.type, flag.i) = ("is_causal", .int, 1)
        causal.attribute = [flag]
        let cached = GraphBuilder.node("Attention", "cached", ["a", "a", "a", "", "a", "a"], ["b"])
        let present = GraphBuilder.node("Attention", "present", ["b", "b", "b"], ["y", "present_key"])
        let model = try ONNXModel(serializedBytes: GraphBuilder.model([causal, cached, present], outputDims: [nil, 3, 8, 8],
                                                                      opset: 23).serializedData(), file: "attention.onnx")
        XCTAssertThrowsError(try ONNXProgram(model)) { error in
            guard let e = error as? UnsupportedONNXOperatorsError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.uses.map(\.node), ["causal", "cached", "present"], "every unusable node, before any work")
            for (node, reason) in [("causal", "causal masking"), ("cached", "key-value cache"), ("present", "present_key")] {
                XCTAssertTrue("\(error)".contains("Attention at node '\(node)'") && "\(error)".contains(reason), "\(error)")
            }
            XCTAssertTrue("\(error)".contains("attention.onnx") && "\(error)".contains("opset 23"), "\(error)")
        }
    }
}
