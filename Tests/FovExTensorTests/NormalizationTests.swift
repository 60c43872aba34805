import XCTest
@testable import FovExTensor

final class NormalizationTests: XCTestCase {
    private struct Stats {
        let mean, variance, scale, offset: Tensor
        init(_ c: Int, seed: UInt64) {
            var g = SeededGenerator(seed: seed)
            mean = Tensor(randomNormal: [c], generator: &g)
            variance = Tensor(randomUniform: [c], in: 0.2...3, generator: &g)
            scale = Tensor(randomNormal: [c], generator: &g)
            offset = Tensor(randomNormal: [c], generator: &g)
        }
    }

    /// (x − mean) / √(var + ε) · scale + offset per channel (axis 1), in Float64.
    private func referenceBatchNorm(_ x: Tensor, _ s: Stats, epsilon: Double) -> [Double] {
        let c = x.shape[1], inner = x.shape.dropFirst(2).reduce(1, *)
        return x.scalars.enumerated().map { i, v in
            let ch = (i / inner) % c
            return (Double(v) - Double(s.mean[ch])) / (Double(s.variance[ch]) + epsilon).squareRoot()
                * Double(s.scale[ch]) + Double(s.offset[ch])
        }
    }

    func testBatchNormMatchesReferenceInEveryLayout() throws {
        let s = Stats(21, seed: 41)
        let x = randomNormal([2, 21, 5, 6], seed: 42)
        let expected = referenceBatchNorm(x, s, epsilon: 1e-3)
        for input in [x, x.channelsLast(), x.permuted(0, 1, 3, 2).contiguous().permuted(0, 1, 3, 2)] {
            let y = input.batchNorm(mean: s.mean, variance: s.variance, scale: s.scale, offset: s.offset, epsilon: 1e-3)
            assertClose(y, expected, shape: x.shape, tolerance: 1e-6)
            XCTAssertEqual(y.isChannelsLast, input.isChannelsLast, "layout kept")
            try checkGradients(at: [input]) {
                $0[0].batchNorm(mean: s.mean, variance: s.variance, scale: s.scale, offset: s.offset, epsilon: 1e-3)
            }
        }
        let rows = randomNormal([4, 21], seed: 43)
        assertClose(rows.batchNorm(mean: s.mean, variance: s.variance, scale: s.scale, offset: s.offset, epsilon: 1e-3),
                    referenceBatchNorm(rows, s, epsilon: 1e-3), shape: [4, 21], tolerance: 1e-6, "[N, C] input")
        let plain = rows.batchNorm(mean: s.mean, variance: s.variance)
        assertClose(plain, rows.scalars.enumerated().map { i, v in
            (Double(v) - Double(s.mean[i % 21])) / (Double(s.variance[i % 21]) + 1e-5).squareRoot()
        }, tolerance: 1e-6, "default scale, offset and epsilon")
    }

    func testFoldedConvolutionEqualsConvolutionThenBatchNorm() {
        let s = Stats(8, seed: 44)
        let x = randomNormal([1, 3, 9, 9], seed: 45)
        let w = randomNormal([8, 3, 3, 3], seed: 46)
        let b = randomNormal([8], seed: 47)
        let expected = x.conv2d(weight: w, bias: b, padding: .symmetric(1))
            .batchNorm(mean: s.mean, variance: s.variance, scale: s.scale, offset: s.offset)
        let folded = foldBatchNorm(intoConvWeight: w, bias: b, mean: s.mean, variance: s.variance, scale: s.scale,
                                   offset: s.offset)
        XCTAssertEqual(folded.weight.shape, w.shape)
        XCTAssertEqual(folded.bias.shape, [8])
        assertClose(x.conv2d(weight: folded.weight, bias: folded.bias, padding: .symmetric(1)), expected, tolerance: 1e-5)
        let noBias = foldBatchNorm(intoConvWeight: w, bias: nil, mean: s.mean, variance: s.variance, scale: s.scale,
                                   offset: s.offset, epsilon: 1e-3)
        assertClose(x.conv2d(weight: noBias.weight, bias: noBias.bias),
                    x.conv2d(weight: w).batchNorm(mean: s.mean, variance: s.variance, scale: s.scale, offset: s.offset,
                                                  epsilon: 1e-3), tolerance: 1e-5, "without a conv bias")
    }

    /// (x − μ) / √(σ² + ε) · γ + β per row of the last axis, in Float64.
    private func referenceLayerNorm(_ x: Tensor, _ gamma: Tensor, _ beta: Tensor, epsilon: Double) -> [Double] {
        let d = x.shape.last!
        let v = doubles(x)
        var out: [Double] = []
        for r in 0..<(v.count / d) {
            let row = v[(r * d)..<((r + 1) * d)]
            let mean = row.reduce(0, +) / Double(d)
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(d)
            for (j, value) in row.enumerated() {
                out.append((value - mean) / (variance + epsilon).squareRoot() * Double(gamma[j]) + Double(beta[j]))
            }
        }
        return out
    }

    func testLayerNormMatchesReference() throws {
        for d in [37, 64, 7] {
            let x = randomNormal([3, 4, d], seed: 48, scale: 2) + 10
            let gamma = randomNormal([d], seed: 49), beta = randomNormal([d], seed: 50)
            assertClose(x.layerNorm(weight: gamma, bias: beta, epsilon: 1e-6), referenceLayerNorm(x, gamma, beta, epsilon: 1e-6),
                        shape: x.shape, tolerance: 2e-6, "width \(d)")
            let ones = Tensor(repeating: 1, shape: [d]), zeros = Tensor(zeros: [d])
            assertClose(x.layerNorm(), referenceLayerNorm(x, ones, zeros, epsilon: 1e-5), tolerance: 2e-6, "no affine, width \(d)")
            try checkGradients(at: [randomNormal([3, 4, d], seed: 51)], "width \(d)") {
                $0[0].layerNorm(weight: gamma, bias: beta, epsilon: 1e-6)
            }
        }
    }

    func testLayerNormGradientOfTransposedInput() throws {
        let gamma = randomNormal([6], seed: 52), beta = randomNormal([6], seed: 53)
        try checkGradients(at: [randomNormal([6, 5], seed: 54)]) { $0[0].transposed().layerNorm(weight: gamma, bias: beta) }
    }

    func testLayerNormMatchesPyTorch() throws {
        let fixture = try OpsFixture("ops_layernorm")
        let (w, b) = (try fixture.tensor("w"), try fixture.tensor("b"))
        try fixture.check("vit", input: try fixture.tensor("x"), tolerance: 2e-6) {
            $0.layerNorm(weight: w, bias: b, epsilon: 1e-6)
        }
    }
}
