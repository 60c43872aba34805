import CDNNL
import XCTest
@testable import FovExTensor

/// bf16 convolutions and matrix products against fp32 ones on bf16-rounded operands: with the operands already
/// representable in bf16, the only difference left is the order of the fp32 accumulation, so the two agree to
/// fp32 rounding (1e-5 relative). This checks that bf16 rounds the operands (round to nearest even), accumulates
/// in fp32 and returns fp32, forward and backward.
final class PrecisionTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(Precision.isBF16Supported, "this CPU has no AVX-512 BF16; bf16 is refused here")
    }

    /// `x` rounded to the nearest bf16 (ties to even), as oneDNN's f32 → bf16 conversion does.
    private func roundedToBF16(_ x: Tensor) -> Tensor {
        Tensor(shape: x.shape, scalars: x.scalars.map { v in
            let bits = v.bitPattern
            let rounded = (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000
            return Float(bitPattern: rounded)
        })
    }

    private func random(_ shape: [Int], seed: UInt64) -> Tensor {
        var g = SeededGenerator(seed: seed)
        return Tensor(randomNormal: shape, generator: &g)
    }

    /// max |a − b| / max |b|.
    private func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
        XCTAssertEqual(a.shape, b.shape)
        let (x, y) = (a.scalars, b.scalars)
        let err = zip(x, y).map { abs($0 - $1) }.max() ?? 0
        return err / max(y.map(abs).max() ?? 1, 1e-30)
    }

    /// The output and the input gradient (for a seed `seed`) of `op` in `precision`.
    private func run(_ precision: Precision, _ x: Tensor, seed: Tensor, _ op: (Tensor) -> Tensor) throws -> (Tensor, Tensor) {
        let xt = x.requiringGradient()
        let y = withPrecision(precision) { op(xt) }
        // Outside withPrecision: the backward pass must use the precision the forward ran in.
        let g = try gradients(of: y, withRespectTo: [xt], seed: seed)[0]
        return (y.contiguous(), g.contiguous())
    }

    /// Checks `op` in bf16 against fp32 on rounded operands, and that bf16 really rounds (it differs from fp32
    /// on the unrounded input by more than fp32 rounding).
    private func check(_ name: String, input: Tensor, outputShape: [Int], _ op: (Tensor) -> Tensor) throws {
        let seed = roundedToBF16(random(outputShape, seed: 99))
        let rounded = roundedToBF16(input)
        let (y16, g16) = try run(.bf16, input, seed: seed, op)
        let (y32, g32) = try run(.fp32, rounded, seed: seed, op)
        XCTAssertLessThan(relativeError(y16, y32), 1e-5, "\(name) forward")
        XCTAssertLessThan(relativeError(g16, g32), 1e-5, "\(name) input gradient")
        let (yExact, _) = try run(.fp32, input, seed: seed, op)
        let roundingEffect = relativeError(y16, yExact)
        XCTAssertGreaterThan(roundingEffect, 1e-5, "\(name): bf16 did not round its operands")
        XCTAssertLessThan(roundingEffect, 1e-2, "\(name): bf16 result too far from fp32")
    }

    func testConvolutionsMatchFP32OnRoundedOperands() throws {
        let x = random([2, 8, 9, 9], seed: 1)
        let w3 = roundedToBF16(random([16, 8, 3, 3], seed: 2)), w1 = roundedToBF16(random([16, 8, 1, 1], seed: 3))
        let dw = roundedToBF16(random([8, 1, 3, 3], seed: 4)), bias = random([16], seed: 5)
        try check("3×3", input: x, outputShape: [2, 16, 9, 9]) { $0.conv2d(weight: w3, bias: bias, padding: .symmetric(1)) }
        try check("3×3 stride 2", input: x, outputShape: [2, 16, 5, 5]) {
            $0.conv2d(weight: w3, stride: 2, padding: .symmetric(1))
        }
        try check("1×1", input: x, outputShape: [2, 16, 9, 9]) { $0.conv2d(weight: w1, bias: bias) }
        try check("1×1 stride 2", input: x, outputShape: [2, 16, 5, 5]) { $0.conv2d(weight: w1, stride: 2) }
        try check("depthwise", input: x, outputShape: [2, 8, 9, 9]) { $0.conv2d(weight: dw, padding: .symmetric(1), groups: 8) }
        // EfficientNet's: a strided 5×5 depthwise convolution with TensorFlow padding and ReLU6.
        let dw5 = roundedToBF16(random([8, 1, 5, 5], seed: 14))
        try check("depthwise 5×5 stride 2 same relu6", input: x, outputShape: [2, 8, 5, 5]) {
            $0.conv2d(weight: dw5, stride: 2, padding: .same, groups: 8, activation: .relu6)
        }
        // A residual post-op reads the fp32 residual as it is.
        let residual = random([2, 16, 9, 9], seed: 6)
        try check("3×3 + residual", input: x, outputShape: [2, 16, 9, 9]) {
            $0.conv2d(weight: w3, padding: .symmetric(1), residual: residual)
        }
        // ReLU's backward writes the bf16 gradient the backward product reads (one part, or two when the output
        // has two consumers; 2·g of a bf16 g is a bf16 value, so the fp32 reference sees the same operand).
        try check("3×3 + residual + relu", input: x, outputShape: [2, 16, 9, 9]) {
            $0.conv2d(weight: w3, padding: .symmetric(1), residual: residual, activation: .relu)
        }
        try check("1×1 + relu, two consumers", input: x, outputShape: [2, 16, 9, 9]) {
            let y = $0.conv2d(weight: w1, bias: bias, activation: .relu)
            return y + y
        }
        try check("1×1 stride 2 + relu", input: x, outputShape: [2, 16, 5, 5]) {
            $0.conv2d(weight: w1, stride: 2, activation: .relu)
        }
    }

    /// The residual's gradient through a bf16 convolution with ReLU is the fp32 gradient masked by the output,
    /// unrounded: only the product's operand is bf16.
    func testResidualGradientStaysFP32() throws {
        let x = random([1, 8, 7, 7], seed: 21).requiringGradient(), r = random([1, 16, 7, 7], seed: 22).requiringGradient()
        let w = random([16, 8, 3, 3], seed: 23), seed = random([1, 16, 7, 7], seed: 24)
        let y = withPrecision(.bf16) { x.conv2d(weight: w, padding: .symmetric(1), residual: r, activation: .relu) }
        let g = try gradients(of: y, withRespectTo: [x, r], seed: seed)[1].scalars
        let expected = zip(seed.scalars, y.contiguous().scalars).map { $1 > 0 ? $0 : 0 }
        XCTAssertEqual(g.count, expected.count)
        let mismatches = zip(g, expected).filter { $0 != $1 }.count
        XCTAssertEqual(mismatches, 0, "\(mismatches) of \(expected.count) residual-gradient elements differ")
        XCTAssertTrue(expected.contains(0) && expected.contains { $0 != 0 }, "the mask should pass some and stop some")
    }

    /// The element-wise f32 → bf16 conversion that ReLU's fused backward ends in gives bit for bit what oneDNN's
    /// reorder gives, on ties (to even), subnormals (to signed zero), infinities, NaN, overflow to infinity and
    /// ordinary values.
    func testBF16ConversionMatchesOneDNNReorder() {
        var values: [Float] = [0, -0, 1, -1, .infinity, -.infinity, .nan, -.nan, .greatestFiniteMagnitude,
                               -.greatestFiniteMagnitude, .leastNonzeroMagnitude, -.leastNormalMagnitude / 2,
                               .leastNormalMagnitude, Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000),
                               Float(bitPattern: 0x3F80_8001), Float(bitPattern: 0x7F80_0001), Float(bitPattern: 0xFFC0_1234)]
        var g = SeededGenerator(seed: 31)
        values += Tensor(randomNormal: [93], generator: &g).scalars.map { $0 * 1e3 }
        let count = values.count
        let src = TensorStorage(uninitializedCount: count)
        src.pointer.update(from: values, count: count)
        let ours = UnsafeMutablePointer<UInt16>.allocate(capacity: count)
        let theirs = UnsafeMutablePointer<UInt16>.allocate(capacity: count)
        defer { ours.deallocate(); theirs.deallocate() }
        let pointer = src.pointer
        storeBF16(0..<count, ours, fp32: nil) { pointer[$0] }
        reorder(UnsafeMutableRawPointer(src.pointer), memoryDesc(dims: [count], tag: dnnl_a),
                UnsafeMutableRawPointer(theirs), memoryDesc(dims: [count], tag: dnnl_a, type: dnnl_bf16))
        for i in 0..<count {
            // Without the BF16 instructions (FOVEX_BF16_EMULATION) oneDNN's reorder rounds subnormals as ordinary
            // values instead of flushing them as the instruction does: the subnormals agree only natively.
            if Precision.isEmulated && values[i].isSubnormal { continue }
            XCTAssertEqual(ours[i], theirs[i], "value \(values[i]) (bits \(String(values[i].bitPattern, radix: 16)))")
        }
        // Ties go to even, and a value above the largest bf16 rounds to infinity.
        XCTAssertEqual(ours[13], 0x3F80)
        XCTAssertEqual(ours[14], 0x3F82)
        XCTAssertEqual(ours[8], 0x7F80)
    }

    func testMatrixProductsMatchFP32OnRoundedOperands() throws {
        let w = roundedToBF16(random([24, 32], seed: 7)), bias = random([24], seed: 8)
        try check("linear", input: random([5, 32], seed: 9), outputShape: [5, 24]) { $0.linear(weight: w, bias: bias) }
        let b = roundedToBF16(random([3, 7, 32], seed: 10))
        // Batched, with a transposed operand (attention's q·kᵀ).
        try check("batched matmul", input: random([3, 6, 32], seed: 11), outputShape: [3, 6, 7]) {
            $0.matmul(b.transposed())
        }
    }

    func testMatmulGradientOfBothOperandsIsFP32() throws {
        let a = random([4, 16], seed: 12).requiringGradient(), b = random([16, 8], seed: 13).requiringGradient()
        let y = withPrecision(.bf16) { a.matmul(b) }
        let g = try gradients(of: y.sum(), withRespectTo: [a, b])
        let exact = try gradients(of: a.matmul(b).sum(), withRespectTo: [a, b])
        // Against fp32: within bf16's operand rounding (2⁻⁸ relative per operand), and not identical to it.
        for (x, y) in zip(g, exact) {
            XCTAssertLessThan(relativeError(x, y), 1e-2)
            XCTAssertGreaterThan(relativeError(x, y), 0)
        }
    }

    /// A square weight without bias: the bf16 backward packs W, the forward packed its transposed view Wᵀ, of
    /// the same storage, shape and product shape; the two packings must not be taken for one another (they
    /// were when the packing's key left out the operand's strides, giving x's gradient as r·Wᵀ).
    func testSquareLinearWithoutBiasBackwardReadsTheWeightNotItsTransposedPacking() throws {
        let w = roundedToBF16(random([16, 16], seed: 14))
        let x = random([5, 16], seed: 15).requiringGradient(), r = roundedToBF16(random([5, 16], seed: 16))
        let y = withPrecision(.bf16) { x.linear(weight: w) }
        let g = try gradients(of: (y * r).sum(), withRespectTo: [x])[0]
        // ∂/∂x Σ r ⊙ (x·Wᵀ) = r·W, with r and W exact in bf16: fp32 up to the order of accumulation.
        XCTAssertLessThan(relativeError(g, r.matmul(w)), 1e-5)
    }

    /// Checks `op` in bf16-backward: the forward pass is fp32's bit for bit, and the input gradient is the fp32
    /// backward product on bf16-rounded operands (`op`'s weights are bf16 values, the seed is rounded), and the
    /// backward rounds an unrounded seed (it differs from fp32 by more than fp32 rounding).
    private func checkBF16Backward(_ name: String, input: Tensor, outputShape: [Int], _ op: (Tensor) -> Tensor) throws {
        let seed = roundedToBF16(random(outputShape, seed: 99))
        let (yMixed, gMixed) = try run(.bf16Backward, input, seed: seed, op)
        let (y32, g32) = try run(.fp32, input, seed: seed, op)
        XCTAssertEqual(yMixed.scalars, y32.scalars, "\(name) forward is not fp32's")
        XCTAssertLessThan(relativeError(gMixed, g32), 1e-5, "\(name) input gradient")
        let unrounded = random(outputShape, seed: 98)
        let (_, gRounding) = try run(.bf16Backward, input, seed: unrounded, op)
        let (_, gExact) = try run(.fp32, input, seed: unrounded, op)
        let roundingEffect = relativeError(gRounding, gExact)
        XCTAssertGreaterThan(roundingEffect, 1e-5, "\(name): the backward product did not round its operands")
        XCTAssertLessThan(roundingEffect, 1e-2, "\(name): bf16 backward too far from fp32")
    }

    func testBF16BackwardRunsTheForwardInFP32AndTheBackwardInBF16() throws {
        let x = random([2, 8, 9, 9], seed: 41)
        let w3 = roundedToBF16(random([16, 8, 3, 3], seed: 42)), w1 = roundedToBF16(random([16, 8, 1, 1], seed: 43))
        let dw5 = roundedToBF16(random([8, 1, 5, 5], seed: 44)), bias = random([16], seed: 45)
        let residual = random([2, 16, 9, 9], seed: 46)
        try checkBF16Backward("3×3 + residual + relu", input: x, outputShape: [2, 16, 9, 9]) {
            $0.conv2d(weight: w3, bias: bias, padding: .symmetric(1), residual: residual, activation: .relu)
        }
        try checkBF16Backward("3×3 stride 2", input: x, outputShape: [2, 16, 5, 5]) {
            $0.conv2d(weight: w3, stride: 2, padding: .symmetric(1))
        }
        try checkBF16Backward("1×1 + relu, two consumers", input: x, outputShape: [2, 16, 9, 9]) {
            let y = $0.conv2d(weight: w1, bias: bias, activation: .relu)
            return y + y
        }
        try checkBF16Backward("1×1 stride 2", input: x, outputShape: [2, 16, 5, 5]) { $0.conv2d(weight: w1, stride: 2) }
        try checkBF16Backward("depthwise 5×5 stride 2 same relu6", input: x, outputShape: [2, 8, 5, 5]) {
            $0.conv2d(weight: dw5, stride: 2, padding: .same, groups: 8, activation: .relu6)
        }
        let w = roundedToBF16(random([24, 32], seed: 47)), b = roundedToBF16(random([3, 7, 32], seed: 48))
        try checkBF16Backward("linear", input: random([5, 32], seed: 49), outputShape: [5, 24]) {
            $0.linear(weight: w, bias: random([24], seed: 50))
        }
        try checkBF16Backward("batched matmul", input: random([3, 6, 32], seed: 51), outputShape: [3, 6, 7]) {
            $0.matmul(b.transposed())
        }
    }

    func testPrecisionIsTaskLocalAndDefaultsToFP32() {
        XCTAssertEqual(Precision.current, .fp32)
        withPrecision(.bf16) {
            XCTAssertEqual(Precision.current, .bf16)
            withPrecision(.fp32) { XCTAssertEqual(Precision.current, .fp32) }
        }
        XCTAssertEqual(Precision.current, .fp32)
    }
}
