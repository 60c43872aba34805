import Foundation
import XCTest
import FovExCheckpoints
@testable import FovExTensor

/// Parity with PyTorch 1.13 on the fixtures written by tools/make_core_fixtures.py (`core_*.safetensors`):
/// forward values and input gradients for a random upstream gradient, references computed in float64.
final class TorchParityTests: XCTestCase {
    private func padding(from settings: [String: Any]) throws -> ConvPadding {
        switch try XCTUnwrap(settings["padding"] as? String) {
        case "zeros":
            let p = try XCTUnwrap(settings["pads"] as? [Int])
            return .zeros(top: p[0], bottom: p[1], left: p[2], right: p[3])
        case "same": return .same
        case "reflect": return .reflect(try XCTUnwrap(settings["reflect"] as? Int))
        case let other: return try XCTUnwrap(nil, "unknown padding '\(other)' in the core_conv fixture")
        }
    }

    func testConv2dForwardAndInputGradient() throws {
        let fixture = try OpsFixture("core_conv")
        let cases = try fixture.cases
        XCTAssertGreaterThanOrEqual(cases.count, 15)
        var modes = Set<String>()
        for (name, settings) in cases {
            let w = try fixture.tensor(name + ".w")
            let b = fixture.reader.entries[name + ".b"] != nil ? try fixture.tensor(name + ".b") : nil
            let stride = try XCTUnwrap(settings["stride"] as? Int), dilation = try XCTUnwrap(settings["dilation"] as? Int)
            let groups = try XCTUnwrap(settings["groups"] as? Int)
            let pad = try padding(from: settings)
            modes.insert(try XCTUnwrap(settings["padding"] as? String))
            try fixture.check(name, input: try fixture.tensor(name + ".x"), tolerance: 1e-5) {
                $0.conv2d(weight: w, bias: b, stride: stride, padding: pad, dilation: dilation, groups: groups)
            }
            // The same case with a channels-last input.
            try fixture.check(name, input: try fixture.tensor(name + ".x").channelsLast(), tolerance: 1e-5) {
                $0.conv2d(weight: w, bias: b, stride: stride, padding: pad, dilation: dilation, groups: groups)
            }
        }
        XCTAssertEqual(modes, ["zeros", "same", "reflect"], "every padding mode is covered")
    }

    func testBatchedMatmulForwardAndBothGradients() throws {
        let f = try OpsFixture("core_matmul")
        let a = try f.tensor("batched.a").requiringGradient(), b = try f.tensor("batched.b").requiringGradient()
        let c = a.matmul(b)
        assertClose(c, try f.tensor("batched.c"), tolerance: 1e-5, "forward")
        let g = try gradients(of: c, withRespectTo: [a, b], seed: try f.tensor("batched.g"))
        assertClose(g[0], try f.tensor("batched.da"), tolerance: 1e-5, "d/da")
        assertClose(g[1], try f.tensor("batched.db"), tolerance: 1e-5, "d/db")
    }

    func testLinear() throws {
        let f = try OpsFixture("core_matmul")
        let w = try f.tensor("linear.w"), b = try f.tensor("linear.b")
        try f.check("linear", input: try f.tensor("linear.x")) { $0.linear(weight: w, bias: b) }
    }

    func testLayerNorm() throws {
        let f = try OpsFixture("core_rows")
        let settings = try XCTUnwrap(try f.cases.first { $0.name == "layernorm" }?.settings)
        let eps = Float(try XCTUnwrap(settings["eps"] as? Double))
        let w = try f.tensor("layernorm.w"), b = try f.tensor("layernorm.b")
        try f.check("layernorm", input: try f.tensor("layernorm.x"), tolerance: 1e-5) {
            $0.layerNorm(weight: w, bias: b, epsilon: eps)
        }
    }

    func testSoftmaxAndLogSoftmax() throws {
        let f = try OpsFixture("core_rows")
        try f.check("softmax", input: try f.tensor("softmax.x")) { $0.softmax() }
        try f.check("logsoftmax", input: try f.tensor("logsoftmax.x")) { $0.logSoftmax() }
    }

    func testCrossEntropy() throws {
        let f = try OpsFixture("core_rows")
        let labels = try f.tensor("crossentropy.labels").scalars.map { Int($0) }
        try f.check("crossentropy", input: try f.tensor("crossentropy.x")) { $0.crossEntropy(labels: labels) }
    }

    func testGELU() throws {
        let f = try OpsFixture("core_rows")
        try f.check("gelu", input: try f.tensor("gelu.x")) { $0.gelu() }
    }
}
