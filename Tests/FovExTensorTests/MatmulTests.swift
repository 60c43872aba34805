import Foundation
import XCTest
@testable import FovExTensor

final class MatmulTests: XCTestCase {
    /// Float64 batched product of [..., M, K] and [..., K, N] (same batch shape, or a plain [K, N]).
    private func naiveMatmul(_ a: Tensor, _ b: Tensor) -> (shape: [Int], values: [Double]) {
        let (m, k, n) = (a.shape[a.rank - 2], a.shape[a.rank - 1], b.shape[b.rank - 1])
        let batch = Array(a.shape.dropLast(2))
        let count = batch.reduce(1, *)
        let av = a.scalars, bv = b.scalars
        let bBatched = b.rank > 2
        var out = [Double](repeating: 0, count: count * m * n)
        for p in 0..<count { for i in 0..<m { for j in 0..<n {
            var s = 0.0
            for q in 0..<k {
                s += Double(av[(p * m + i) * k + q]) * Double(bv[((bBatched ? p : 0) * k + q) * n + j])
            }
            out[(p * m + i) * n + j] = s
        }}}
        return (batch + [m, n], out)
    }

    func testPlainAndBatchedProducts() {
        let shapes: [([Int], [Int])] = [
            ([5, 7], [7, 3]), ([1, 16], [16, 33]), ([17, 1], [1, 9]),
            ([4, 6, 5], [4, 5, 8]), ([2, 3, 5, 7], [2, 3, 7, 4]), ([2, 3, 5, 7], [7, 6]),
        ]
        for (k, (sa, sb)) in shapes.enumerated() {
            let a = randomNormal(sa, seed: UInt64(2 * k + 1)), b = randomNormal(sb, seed: UInt64(2 * k + 2))
            let ref = naiveMatmul(a, b)
            assertClose(a.matmul(b), ref.values, shape: ref.shape, tolerance: 1e-5, "\(sa) · \(sb)")
        }
    }

    func testTransposedAndPermutedViews() {
        let a = randomNormal([3, 6, 4], seed: 20), b = randomNormal([3, 5, 6], seed: 21)
        // aᵀ · bᵀ, both read as column-major views without copies.
        let at = a.transposed(), bt = b.transposed()
        let ref = naiveMatmul(at.contiguous(), bt.contiguous())
        assertClose(at.matmul(bt), ref.values, shape: [3, 4, 5], tolerance: 1e-5)
        // Attention-style heads: [T, H, D] viewed as [H, T, D] (a permuted, non-contiguous batch).
        let q = randomNormal([7, 2, 4], seed: 22).permuted(1, 0, 2), kT = randomNormal([7, 2, 4], seed: 23).permuted(1, 2, 0)
        let scores = naiveMatmul(q.contiguous(), kT.contiguous())
        assertClose(q.matmul(kT), scores.values, shape: [2, 7, 7], tolerance: 1e-5)
        // A broadcast (stride-0) operand is copied before oneDNN sees it.
        let shared = randomNormal([6, 5], seed: 24).broadcast(to: [3, 6, 5])
        let r = naiveMatmul(a.transposed().contiguous(), shared.contiguous())
        assertClose(a.transposed().matmul(shared), r.values, shape: [3, 4, 5], tolerance: 1e-5)
        // Sliced rows (a strided view whose last axis is contiguous).
        let rows = randomNormal([9, 6], seed: 25).sliced(axis: 0, 2..<7)
        let rr = naiveMatmul(rows.contiguous(), b.selecting(axis: 0, index: 1).transposed().contiguous())
        assertClose(rows.matmul(b.selecting(axis: 0, index: 1).transposed()), rr.values, shape: [5, 5], tolerance: 1e-5)
    }

    func testLinear() {
        let x = randomNormal([2, 9, 24], seed: 30)
        let w = randomNormal([17, 24], seed: 31, scale: 0.2), bias = randomNormal([17], seed: 32)
        let ref = naiveMatmul(x, w.transposed().contiguous())
        var withBias = ref.values
        for i in 0..<withBias.count { withBias[i] += Double(bias.scalars[i % 17]) }
        assertClose(x.linear(weight: w, bias: bias), withBias, shape: [2, 9, 17], tolerance: 1e-5)
        assertClose(x.linear(weight: w), ref.values, shape: [2, 9, 17], tolerance: 1e-5)
        // A second call reuses the packed weights and gives the same values.
        assertClose(x.linear(weight: w, bias: bias), withBias, shape: [2, 9, 17], tolerance: 1e-5)
        // Input given as a transposed view.
        let xt = randomNormal([24, 5], seed: 33).transposed()
        let r2 = naiveMatmul(xt.contiguous(), w.transposed().contiguous())
        assertClose(xt.linear(weight: w), r2.values, shape: [5, 17], tolerance: 1e-5)
    }

    func testMatmulGradients() throws {
        let a = randomNormal([2, 4, 6], seed: 40), b = randomNormal([2, 6, 3], seed: 41)
        try checkGradients(at: [a, b], "batched") { $0[0].matmul($0[1]) }
        try checkGradients(at: [a, randomNormal([6, 5], seed: 42)], "batch · matrix") { $0[0].matmul($0[1]) }
        try checkGradients(at: [a, b], "transposed views") { $0[1].transposed().matmul($0[0].transposed()) }
        try checkGradients(at: [a], "a · aᵀ") { $0[0].matmul($0[0].transposed()) }
        try checkGradients(at: [randomNormal([3, 5, 2, 4], seed: 43), randomNormal([3, 5, 2, 4], seed: 44)],
                           "attention scores over permuted heads") {
            $0[0].permuted(1, 2, 0, 3).matmul($0[1].permuted(1, 2, 3, 0)).softmax()
        }
    }

    func testGradientWithRespectToOneOperandOnly() throws {
        let a = randomNormal([4, 6], seed: 50).requiringGradient(), b = randomNormal([6, 3], seed: 51)
        let g = randomNormal([4, 3], seed: 52)
        let da = try gradients(of: a.matmul(b), withRespectTo: [a], seed: g)[0]
        let ref = naiveMatmul(g, b.transposed().contiguous())
        assertClose(da, ref.values, shape: [4, 6], tolerance: 1e-5)
    }

    func testLinearGradients() throws {
        let w = randomNormal([11, 8], seed: 60, scale: 0.3), bias = randomNormal([11], seed: 61)
        try checkGradients(at: [randomNormal([3, 5, 8], seed: 62)], "linear") { $0[0].linear(weight: w, bias: bias) }
        try checkGradients(at: [randomNormal([8, 7], seed: 63)], "linear of a transposed view") {
            $0[0].transposed().linear(weight: w).gelu()
        }
        // The weight as a transposed view of an [in, out] matrix (ONNX's layout), read in place.
        let wInOut = w.transposed().contiguous()
        try checkGradients(at: [randomNormal([3, 5, 8], seed: 64)], "linear on a transposed weight view") {
            $0[0].linear(weight: wInOut.transposed(), bias: bias)
        }
        let x = randomNormal([4, 8], seed: 65)
        let (viewed, plain) = (x.linear(weight: wInOut.transposed(), bias: bias).scalars, x.linear(weight: w, bias: bias).scalars)
        XCTAssertLessThanOrEqual(zip(viewed, plain).map { abs($0 - $1) }.max()!, 1e-5)
    }

    /// The input gradient g · W of a row-major weight runs on oneDNN's GEMM routine: checked against a Float64
    /// product at sizes past its blocking, for a weight whose rows are padded (a column slice of a wider
    /// matrix), and with the time counted as oneDNN's.
    func testLinearInputGradientOfRowMajorWeights() throws {
        let wide = randomNormal([300, 530], seed: 66, scale: 0.1)
        for (name, w) in [("contiguous", wide.contiguous()), ("padded rows", wide.sliced(axis: 1, 7..<507))] {
            let (outF, inF) = (w.shape[0], w.shape[1])
            let x = randomNormal([2, 37, inF], seed: 67).requiringGradient()
            let g = randomNormal([2, 37, outF], seed: 68)
            let y = x.linear(weight: w)
            // The backward pass is that one product: its time shows only if the GEMM routine is clocked.
            let (dx, gemmSeconds) = try PrimitiveClock.measuring { try gradients(of: y, withRespectTo: [x], seed: g)[0] }
            let ref = naiveMatmul(g.reshaped([74, outF]), w.contiguous())
            assertClose(dx, ref.values, shape: [2, 37, inF], tolerance: 1e-5, name)
            XCTAssertGreaterThan(gemmSeconds, 0, name)
        }
    }
}
