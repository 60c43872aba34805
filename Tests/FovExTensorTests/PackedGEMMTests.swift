import Foundation
import XCTest
@testable import FovExTensor

/// The fully connected layer's forward product on a weight packed once for oneDNN's GEMM routines, against a
/// Float64 product: both weight layouts `linear` takes (PyTorch's [out, in] and a transposed view of ONNX's
/// [in, out]), with and without bias, at row counts around the packing threshold; that the packed copy is made once
/// and is the only derived copy; and that gradients are those of the unpacked layer.
final class PackedGEMMTests: XCTestCase {
    /// x · wᵀ + b in Float64, x [M, K], w [N, K] (any layout), b [N].
    private func reference(_ x: Tensor, _ w: Tensor, _ b: Tensor?) -> [Double] {
        let (m, k, n) = (x.shape[0], x.shape[1], w.shape[0])
        let xs = doubles(x), ws = doubles(w.contiguous()), bs = b.map(doubles)
        var out = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s = bs?[j] ?? 0
                for q in 0..<k { s += xs[i * k + q] * ws[j * k + q] }
                out[i * n + j] = s
            }
        }
        return out
    }

    /// The weight [N, K] as PyTorch holds it, or as a transposed view of a row-major [K, N] matrix.
    private func weight(_ n: Int, _ k: Int, transposedView: Bool, seed: UInt64) -> Tensor {
        let w = randomNormal(transposedView ? [k, n] : [n, k], seed: seed, scale: 1 / Float(k).squareRoot())
        return transposedView ? w.transposed() : w
    }

    func testPackedProductMatchesFloat64() throws {
        try XCTSkipUnless(PackedGEMM.isAvailable, "the linked oneDNN does not export its packed GEMM routines")
        let cases: [(m: Int, k: Int, n: Int, transposedView: Bool, bias: Bool)] = [
            (16, 64, 48, false, true),
            (37, 53, 29, true, false),
            (197, 96, 160, false, false),
            (50, 200, 33, true, true),
            (1, 24, 40, false, true),
        ]
        for (i, t) in cases.enumerated() {
            let x = randomNormal([t.m, t.k], seed: UInt64(100 + i))
            let w = weight(t.n, t.k, transposedView: t.transposedView, seed: UInt64(200 + i))
            let b = t.bias ? randomNormal([t.n], seed: UInt64(300 + i)) : nil
            assertClose(PackedGEMM.product(x, weight: w, bias: b), reference(x, w, b), shape: [t.m, t.n],
                        tolerance: 2e-6, "case \(i)")
        }
    }

    /// Rows read from a strided view (every second row of a larger matrix) and a sliced weight (its leading dimension
    /// larger than its columns) are read in place, with their strides.
    func testPackedProductReadsStridedOperands() throws {
        try XCTSkipUnless(PackedGEMM.isAvailable, "the linked oneDNN does not export its packed GEMM routines")
        let wide = randomNormal([40, 50], seed: 7)
        let x = randomNormal([40, 30], seed: 8).sliced(axis: 1, 3..<27)  // [40, 24], row stride 30
        let w = wide.sliced(axis: 1, 10..<34)  // [40, 24], row stride 50
        let b = randomNormal([40], seed: 9)
        assertClose(PackedGEMM.product(x, weight: w, bias: b), reference(x.contiguous(), w, b), shape: [40, 40],
                    tolerance: 2e-6)
    }

    func testLinearPacksEachWeightOnceWhereFaster() throws {
        try XCTSkipUnless(PackedGEMM.isEnabled, "packing does not pay on this CPU (oneDNN has its own matmul kernels)")
        let w = weight(96, 64, transposedView: true, seed: 11)
        let b = randomNormal([96], seed: 12)
        let x = randomNormal([2, 20, 64], seed: 13)
        let plain = x.linear(weight: w, bias: b)
        XCTAssertEqual(PackedWeightCache.shared.derivedBytes(from: [w.storage]), 0, "the plain layer packed its weight")
        let packed = x.linear(weight: w, bias: b, packing: .whereFaster)
        assertClose(packed, plain, tolerance: 2e-6)
        let bytes = PackedWeightCache.shared.derivedBytes(from: [w.storage])
        XCTAssertGreaterThanOrEqual(bytes, w.count * 4, "no packed copy was made")
        _ = x.linear(weight: w, bias: b, packing: .whereFaster)
        XCTAssertEqual(PackedWeightCache.shared.derivedBytes(from: [w.storage]), bytes, "the weight was packed again")
        // Fewer rows than the threshold read the weight in place: no copy of a fresh weight.
        let other = weight(32, 64, transposedView: false, seed: 14)
        _ = randomNormal([PackedGEMM.minimumRows - 1, 64], seed: 15).linear(weight: other, packing: .whereFaster)
        XCTAssertEqual(PackedWeightCache.shared.derivedBytes(from: [other.storage]), 0)
    }

    func testPackedLayerHasTheUnpackedLayersGradient() throws {
        try XCTSkipUnless(PackedGEMM.isEnabled, "packing does not pay on this CPU (oneDNN has its own matmul kernels)")
        let w = weight(40, 24, transposedView: false, seed: 21)
        let b = randomNormal([40], seed: 22)
        let x = randomNormal([33, 24], seed: 23).requiringGradient()
        let seed = randomNormal([33, 40], seed: 24)
        let packed = try gradients(of: x.linear(weight: w, bias: b, packing: .whereFaster), withRespectTo: [x], seed: seed)[0]
        let plain = try gradients(of: x.linear(weight: w, bias: b), withRespectTo: [x], seed: seed)[0]
        assertClose(packed, plain, tolerance: 1e-6)
    }
}
