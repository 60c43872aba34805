import XCTest
import Foundation
@testable import FovExTensor

/// The fused foveation against the element-wise operations it replaces, finite differences, and a hand-computed
/// pixel.
final class FoveationTests: XCTestCase {
    /// x + B · clip(1 − (s + rows ⊗ cols), 0, 1) composed from differentiable element-wise operations.
    private func composed(_ x: Tensor, _ b: Tensor, _ s: Tensor, _ p: Tensor, sigma: Float) -> Tensor {
        let (n, h, w) = (x.shape[0], x.shape[2], x.shape[3])
        func factor(_ size: Int, _ axis: Int) -> Tensor {
            let grid = Tensor(shape: [1, size], scalars: (0..<size).map { -1 + 2 * Float($0) / Float(size - 1) })
            return ((grid - p.sliced(axis: 1, axis..<(axis + 1))).pow(2) * (-1 / sigma)).exp()
        }
        let fovea = factor(h, 0).reshaped([n, h, 1]) * factor(w, 1).reshaped([n, 1, w])
        return x + b * (1 - (s + fovea)).clamped(min: 0, max: 1).reshaped([n, 1, h, w])
    }

    /// 1 − (s + W_p) per pixel, in Float64: where the clip's gradient passes (0…1) and where it stops.
    private func unclipped(_ s: Tensor, _ p: Tensor, sigma: Double) -> [Double] {
        let (n, h, w) = (s.shape[0], s.shape[1], s.shape[2])
        let (sv, pv) = (s.scalars, p.scalars)
        var out: [Double] = []
        for k in 0..<n {
            for i in 0..<h {
                for j in 0..<w {
                    let du = -1 + 2 * Double(i) / Double(h - 1) - Double(pv[2 * k])
                    let dv = -1 + 2 * Double(j) / Double(w - 1) - Double(pv[2 * k + 1])
                    out.append(1 - (Double(sv[(k * h + i) * w + j]) + Foundation.exp(-(du * du + dv * dv) / sigma)))
                }
            }
        }
        return out
    }

    private func uniform(_ shape: [Int], _ range: ClosedRange<Float>, seed: UInt64) -> Tensor {
        var g = SeededGenerator(seed: seed)
        return Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in
            range.lowerBound + (range.upperBound - range.lowerBound) * g.nextUniform()
        })
    }

    func testMatchesTheComposedOperationsValuesAndEveryGradient() throws {
        // Two images, non-square, memory up to 1.4 so that the clip stops the gradient where s + W > 1 and passes it
        // elsewhere; one fovea inside the image and one outside it.
        let (n, c, h, w) = (2, 3, 9, 12)
        let x = uniform([n, c, h, w], 0...1, seed: 1), b = uniform([n, c, h, w], -0.5...0.5, seed: 2)
        let s = uniform([n, h, w], 0...1.4, seed: 3)
        let p = Tensor(shape: [n, 2], scalars: [0.3, -0.45, 1.3, 0.8])
        let r = uniform([n, c, h, w], -1...1, seed: 4)
        let inputs = [x, b, s, p].map { $0.requiringGradient() }
        let fused = inputs[0].foveated(peripheral: inputs[1], memory: inputs[2], positions: inputs[3], sigma: 0.15)
        let reference = composed(inputs[0], inputs[1], inputs[2], inputs[3], sigma: 0.15)
        XCTAssertEqual(fused.shape, [n, c, h, w])
        XCTAssertEqual(fused.scalars, reference.scalars, "the forward pass computes the composition's values exactly")
        let fusedGradients = try gradients(of: (fused * r).sum(), withRespectTo: inputs)
        let referenceGradients = try gradients(of: (reference * r).sum(), withRespectTo: inputs)
        for (k, name) in ["images", "peripheral", "memory", "positions"].enumerated() {
            assertClose(fusedGradients[k], referenceGradients[k], tolerance: 1e-5, name)
        }
        // The clip both stopped and passed the gradient, so both sides of the rule were compared.
        let v = unclipped(s, p, sigma: 0.15)
        XCTAssertTrue(v.contains { $0 < 0 } && v.contains { $0 > 0 && $0 < 1 })
    }

    func testGradientsMatchFiniteDifferences() throws {
        // Memory and fovea keep 1 − (s + W) inside (0.05, 0.985), away from the clip's kinks by more than the
        // finite differences' steps (ε times a direction component, rarely above 4ε).
        let (n, c, h, w) = (1, 3, 8, 10)
        let x = uniform([n, c, h, w], 0...1, seed: 5), b = uniform([n, c, h, w], -0.5...0.5, seed: 6)
        let s = uniform([n, h, w], 0.02...0.04, seed: 7)
        let p = Tensor(shape: [n, 2], scalars: [1.25, -0.2])
        let v = unclipped(s, p, sigma: 0.4)
        XCTAssertGreaterThan(v.min()!, 0.05)
        XCTAssertLessThan(v.max()!, 0.985)
        try checkGradients(at: [x, b, s, p], epsilon: 1e-3, tolerance: 2e-3, "all four arguments") {
            $0[0].foveated(peripheral: $0[1], memory: $0[2], positions: $0[3], sigma: 0.4)
        }
        try checkGradients(at: [p], epsilon: 1e-3, tolerance: 2e-3, "positions alone") {
            x.foveated(peripheral: b, memory: s, positions: $0[0], sigma: 0.4)
        }
    }

    func testHandComputedPixel() {
        // 3×3 grid (−1, 0, 1), p = (0, 1), σ = 0.5: at pixel (1, 0) the fovea is exp(−(0 + 4) / 0.5) = e⁻⁸;
        // with memory 0.25 there the output is x + B·(1 − 0.25 − e⁻⁸).
        let x = Tensor(repeating: 0.5, shape: [1, 1, 3, 3]), b = Tensor(repeating: 2, shape: [1, 1, 3, 3])
        let s = Tensor(shape: [1, 3, 3], scalars: [0, 0, 0, 0.25, 0, 0, 0, 0, 0])
        let y = x.foveated(peripheral: b, memory: s, positions: Tensor(shape: [1, 2], scalars: [0, 1]), sigma: 0.5)
        XCTAssertEqual(y[0, 0, 1, 0], 0.5 + 2 * (0.75 - Float(exp(-8.0))), accuracy: 1e-6)
        XCTAssertEqual(y[0, 0, 1, 2], 0.5, accuracy: 1e-6)  // the fovea's centre: fully sharp
        XCTAssertEqual(y[0, 0, 0, 2], 0.5 + 2 * (1 - Float(exp(-2.0))), accuracy: 1e-6)
    }
}
