import Foundation
import FovExTensor
@testable import FovExONNX
import XCTest

/// Every compiled step of an exported graph, on the values the graph gives it for a fixture image: the
/// backward pass (the vector–Jacobian product for a random output weighting r) against central finite
/// differences of the step's forward kernel along a random direction d, d/dε Σ r·f(x + εd) = Σ_i ⟨∂/∂x_i, d_i⟩.
/// A wrong backward anywhere in a graph shows here at the node, where a whole-graph gradient mismatch does not
/// say which op is wrong.
final class ONNXStepGradientTests: XCTestCase {
    /// (node, op, relative error) of each step whose backward disagrees with finite differences by more than 3e−2 (float32 differences of
    /// a kernel's output leave about 1e−2; a wrong backward is off by order one).
    static func mismatches(_ file: String, size: Int, fusing: Bool = true) throws -> [(String, String, Double)] {
        let program = try ONNXProgram(try ONNXModel(contentsOf: ONNXFixtures.url(file)), fusing: fusing)
        var generator = SeededGenerator(seed: 7)
        var values: [String: ONNXValue] = [program.inputName: .float(Tensor(randomUniform: [1, 3, size, size], generator: &generator))]
        var bad: [(String, String, Double)] = []
        for step in program.steps {
            let inputs = step.inputs.map { $0.isEmpty ? nil : values[$0] ?? program.constants[$0] }
            let outputs = try withoutGradients { try step.kernel(inputs) }
            for (name, v) in zip(step.outputs, outputs) where !name.isEmpty { values[name] = v }
            let variables = step.inputs.indices.filter { i in
                guard !step.inputs[i].isEmpty, program.constants[step.inputs[i]] == nil, case .float? = inputs[i] else { return false }
                return true
            }
            guard !variables.isEmpty, case .float(let out)? = outputs.first, out.count > 0 else { continue }
            let r = Tensor(randomNormal: out.shape, generator: &generator)
            let directions = variables.map { i -> Tensor in
                guard case .float(let x)? = inputs[i] else { fatalError() }
                return Tensor(randomNormal: x.shape, generator: &generator)
            }
            func objective(_ epsilon: Float) throws -> Double {
                var shifted = inputs
                for (i, d) in zip(variables, directions) {
                    guard case .float(let x)? = inputs[i] else { fatalError() }
                    shifted[i] = .float(x + d * epsilon)
                }
                guard case .float(let y)? = try withoutGradients({ try step.kernel(shifted) }).first else { fatalError() }
                return zip(y.contiguous().scalars, r.scalars).reduce(0) { $0 + Double($1.0) * Double($1.1) }
            }
            var leaves: [Tensor] = [], recorded = inputs
            for i in variables {
                guard case .float(let x)? = inputs[i] else { fatalError() }
                let leaf = x.detached().requiringGradient()
                leaves.append(leaf)
                recorded[i] = .float(leaf)
            }
            guard case .float(let y)? = try step.kernel(recorded).first else { continue }
            let grads = try gradients(of: (y * r).sum(), withRespectTo: leaves)
            let analytic = zip(grads, directions).reduce(0.0) { acc, pair in
                acc + zip(pair.0.contiguous().scalars, pair.1.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            }
            let epsilon: Float = 1e-2
            let numeric = (try objective(epsilon) - objective(-epsilon)) / Double(2 * epsilon)
            let error = abs(numeric - analytic) / max(abs(numeric), abs(analytic), 1e-3)
            if error > 3e-2 { bad.append((step.node.name, step.node.opType, error)) }
        }
        return bad
    }

    /// Swin's windowed attention: Roll as Slice + Concat, Pad, strided Slice (patch merging), relative position
    /// bias Gather, the shifted-window mask (ScatterND, Where, Expand), LayerNormalization, fused linears.
    func testSwinStepsBackwardMatchesFiniteDifferences() throws {
        for opset in [13, 17] {
            let bad = try Self.mismatches("swin_t-opset\(opset).onnx", size: 40)
            XCTAssertTrue(bad.isEmpty, "opset \(opset): \(bad)")
        }
    }

    func testViTStepsBackwardMatchesFiniteDifferences() throws {
        for opset in [13, 17] {
            let bad = try Self.mismatches("vit-opset\(opset).onnx", size: 32)
            XCTAssertTrue(bad.isEmpty, "opset \(opset): \(bad)")
        }
    }
}

