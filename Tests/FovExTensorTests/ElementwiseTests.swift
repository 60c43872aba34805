import Foundation
import XCTest
@testable import FovExTensor

final class ElementwiseTests: XCTestCase {
    /// 7·5·11 = 385 elements: not a multiple of the 16-lane vectors, so the tails run too.
    let shape = [7, 5, 11]

    private func gaussianCDF(_ x: Double) -> Double { 0.5 * (1 + Foundation.erf(x / 2.0.squareRoot())) }

    func testUnaryForwardMatchesFoundation() {
        let x = randomNormal(shape, seed: 1, scale: 2)
        let xs = doubles(x)
        let positive = randomAwayFrom([], shape, seed: 2, in: 0.05...20)
        let ps = doubles(positive)
        let cases: [(String, Tensor, [Double])] = [
            ("neg", -x, xs.map { -$0 }),
            ("exp", x.exp(), xs.map { Foundation.exp($0) }),
            ("log", positive.log(), ps.map { Foundation.log($0) }),
            ("sqrt", positive.sqrt(), ps.map { $0.squareRoot() }),
            ("tanh", x.tanh(), xs.map { Foundation.tanh($0) }),
            ("erf", x.erf(), xs.map { Foundation.erf($0) }),
            ("sin", x.sin(), xs.map { Foundation.sin($0) }),
            ("cos", x.cos(), xs.map { Foundation.cos($0) }),
            ("sigmoid", x.sigmoid(), xs.map { 1 / (1 + Foundation.exp(-$0)) }),
            ("relu", x.relu(), xs.map { Swift.max($0, 0) }),
            ("relu6", (x * 4).relu6(), xs.map { Swift.min(Swift.max(4 * $0, 0), 6) }),
            ("gelu", x.gelu(), xs.map { $0 * gaussianCDF($0) }),
            ("sign", x.sign(), xs.map { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }),
            ("abs", x.abs(), xs.map { Swift.abs($0) }),
            ("square", x.pow(2), xs.map { $0 * $0 }),
            ("cube", x.pow(3), xs.map { $0 * $0 * $0 }),
            ("pow 0.5", positive.pow(0.5), ps.map { $0.squareRoot() }),
            ("pow -1.5", positive.pow(-1.5), ps.map { Foundation.pow($0, -1.5) }),
            ("clamp", x.clamped(min: -0.5, max: 1.25), xs.map { Swift.min(Swift.max($0, -0.5), 1.25) }),
            ("clamp below", x.clamped(min: 0.1), xs.map { Swift.max($0, 0.1) }),
        ]
        for (name, actual, expected) in cases {
            XCTAssertEqual(actual.shape, shape, name)
            assertElementwiseClose(actual, expected, rtol: 2e-6, atol: 1e-6, name)
        }
    }

    func testSignAndReluAtZero() {
        let x = Tensor(shape: [4], scalars: [0, -0.0, 2, -3])
        XCTAssertEqual(x.sign().scalars, [0, 0, 1, -1])
        XCTAssertEqual(x.relu().scalars, [0, 0, 2, 0])
        XCTAssertEqual(Tensor(shape: [3], scalars: [-1, 6, 7]).relu6().scalars, [0, 6, 6])
    }

    func testExpAndLogExtremes() {
        let x = Tensor(shape: [5], scalars: [-200, -80, 0, 80, 88])
        let e = x.exp().scalars
        XCTAssertEqual(e[0], 0, accuracy: 1e-30)
        XCTAssertEqual(e[2], 1, accuracy: 1e-6)
        XCTAssertEqual(Double(e[3]), Foundation.exp(80.0), accuracy: Foundation.exp(80.0) * 1e-5)
        XCTAssertTrue(e.allSatisfy { $0.isFinite && $0 >= 0 })
        let tanhSaturated = Tensor(shape: [2], scalars: [-30, 30]).tanh().scalars
        XCTAssertEqual(tanhSaturated, [-1, 1])
        let sig = Tensor(shape: [2], scalars: [-100, 100]).sigmoid().scalars
        XCTAssertEqual(sig[0], 0, accuracy: 1e-30)
        XCTAssertEqual(sig[1], 1)
    }

    /// Large tensors are split over the thread pool; every chunk boundary must be handled.
    func testLargeTensorUsesEveryElement() {
        let n = 3 * 65_536 + 77
        let x = randomNormal([n], seed: 3)
        assertElementwiseClose(x.tanh(), doubles(x).map { Foundation.tanh($0) }, rtol: 2e-6, atol: 1e-6)
        let y = randomNormal([n], seed: 4)
        let xs = doubles(x), ys = doubles(y)
        assertClose(x * y, zip(xs, ys).map { $0 * $1 }, tolerance: 1e-7)
        assertClose(x + 2.5, xs.map { $0 + 2.5 }, tolerance: 1e-7)
    }

    func testNonContiguousAndChannelsLastInputs() {
        let x = randomNormal([2, 3, 4, 5], seed: 5)
        let t = x.permuted(3, 1, 0, 2)
        let ref = doubles(t.contiguous()).map { Foundation.exp($0) }
        assertElementwiseClose(t.exp(), ref, rtol: 2e-6, atol: 1e-7)

        let cl = x.channelsLast()
        XCTAssertTrue(cl.isChannelsLast)
        XCTAssertEqual(cl.scalars, x.scalars, "channelsLast keeps the logical values")
        let r = cl.relu()
        XCTAssertTrue(r.isChannelsLast, "unary ops keep a dense input's layout")
        XCTAssertEqual(r.scalars, x.relu().scalars)
    }

    func testBinaryOpsBroadcast() {
        let a = randomNormal([3, 1, 5], seed: 6)
        let b = randomNormal([4, 1], seed: 7)
        let out = [3, 4, 5]
        var sum = [Double](), diff = [Double](), prod = [Double](), quot = [Double](), maxi = [Double]()
        forEachIndex(out) { i in
            let x = Double(a[i[0], 0, i[2]]), y = Double(b[i[1], 0])
            sum.append(x + y); diff.append(x - y); prod.append(x * y); quot.append(x / y); maxi.append(Swift.max(x, y))
        }
        assertClose(a + b, sum, shape: out, tolerance: 1e-7)
        assertClose(a - b, diff, shape: out, tolerance: 1e-7)
        assertClose(a * b, prod, shape: out, tolerance: 1e-7)
        assertClose(a / b, quot, shape: out, tolerance: 1e-6)
        assertClose(Tensor.maximum(a, b), maxi, shape: out, tolerance: 0)
        // The other operand order broadcasts the same way.
        assertClose(b - a, diff.map { -$0 }, shape: out, tolerance: 1e-7)
        // A per-channel constant over NCHW rows longer than a vector (an input normalisation), both orders.
        let pixels = randomNormal([2, 3, 4, 37], seed: 12), mean = randomNormal([1, 3, 1, 1], seed: 13)
        var normalised = [Double](), inverse = [Double]()
        forEachIndex(pixels.shape) { i in
            let x = Double(pixels[i[0], i[1], i[2], i[3]]), m = Double(mean[0, i[1], 0, 0])
            normalised.append((x - m) / m); inverse.append(m / x)
        }
        assertClose((pixels - mean) / mean, normalised, shape: pixels.shape, tolerance: 1e-5)
        assertClose(mean / pixels, inverse, shape: pixels.shape, tolerance: 1e-4)
    }

    func testScalarOperands() {
        let a = randomNormal([6, 7], seed: 8)
        let xs = doubles(a)
        assertClose(a * 3, xs.map { $0 * 3 }, tolerance: 1e-7)
        assertClose(3 - a, xs.map { 3 - $0 }, tolerance: 1e-7)
        assertClose(2 / (a.abs() + 1), xs.map { 2 / (Swift.abs($0) + 1) }, tolerance: 1e-6)
        assertClose(a / 4, xs.map { $0 / 4 }, tolerance: 1e-7)
        // A rank-0 tensor and a one-element tensor of higher rank both act as scalars.
        assertClose(a + Tensor(1.5), xs.map { $0 + 1.5 }, shape: [6, 7], tolerance: 1e-7)
        assertClose(a * Tensor(shape: [1, 1], scalars: [-2]), xs.map { -2 * $0 }, shape: [6, 7], tolerance: 1e-7)
    }

    func testChannelsLastOperands() {
        let a = randomNormal([2, 5, 3, 4], seed: 9), b = randomNormal([2, 5, 3, 4], seed: 10)
        let expected = zip(doubles(a), doubles(b)).map { $0 * $1 + $0 }
        let both = a.channelsLast() * b.channelsLast() + a.channelsLast()
        XCTAssertTrue(both.isChannelsLast, "same-layout operands keep their layout")
        assertClose(both, expected, shape: a.shape, tolerance: 1e-7)
        let mixed = a.channelsLast() * b + a
        assertClose(mixed, expected, shape: a.shape, tolerance: 1e-7)
        // A per-channel vector broadcast against a channels-last activation (a bias add).
        let bias = randomNormal([5, 1, 1], seed: 11)
        var withBias = [Double]()
        forEachIndex(a.shape) { i in withBias.append(Double(a[i[0], i[1], i[2], i[3]]) + Double(bias[i[1], 0, 0])) }
        assertClose(a.channelsLast() + bias, withBias, shape: a.shape, tolerance: 1e-7)
        XCTAssertTrue((a.channelsLast() + bias).isChannelsLast, "the broadcast result keeps the full operand's layout")
        // Squeeze-and-excitation's per-image, per-channel scale, on enough rows to split across the threads.
        let x = randomNormal([2, 24, 40, 40], seed: 12), scale = randomNormal([2, 24, 1, 1], seed: 13)
        var scaled = [Double]()
        forEachIndex(x.shape) { i in scaled.append(Double(x[i[0], i[1], i[2], i[3]]) * Double(scale[i[0], i[1], 0, 0])) }
        for (left, right) in [(x.channelsLast(), scale), (x, scale)] {
            assertClose(left * right, scaled, shape: x.shape, tolerance: 1e-7)
            assertClose(right * left, scaled, shape: x.shape, tolerance: 1e-7)
        }
        XCTAssertTrue((scale * x.channelsLast()).isChannelsLast)
    }

    func testComparisonsAndSelect() throws {
        let a = Tensor(shape: [5], scalars: [1, -2, 3, 0, 5])
        let b = Tensor(shape: [5], scalars: [1, 2, -3, 0, 4])
        XCTAssertEqual(a.greater(than: b).scalars, [0, 0, 1, 0, 1])
        XCTAssertEqual(a.less(than: b).scalars, [0, 1, 0, 0, 0])
        XCTAssertEqual(a.equal(to: b).scalars, [1, 0, 0, 1, 0])
        XCTAssertEqual(a.greater(than: 0.5).scalars, [1, 0, 1, 0, 1])
        let mask = Tensor(shape: [5], scalars: [1, 0, 2, 0, -1])
        XCTAssertEqual(Tensor.select(mask, a, b).scalars, [1, 2, 3, 0, 5])
        // Broadcast mask over rows.
        let rows = Tensor.select(Tensor(shape: [2, 1], scalars: [1, 0]), Tensor(repeating: 7, shape: [2, 3]),
                                 Tensor(repeating: -7, shape: [3]))
        XCTAssertEqual(rows.scalars, [7, 7, 7, -7, -7, -7])
        // Infinities in the branch not taken stay out (a blend would give 0 · ∞ = NaN), and so does their gradient.
        let minusInfinity = Tensor(repeating: -.infinity, shape: [5])
        let tracked = a.requiringGradient()
        let picked = Tensor.select(mask, tracked, minusInfinity)
        XCTAssertEqual(picked.scalars, [1, -.infinity, 3, -.infinity, 5])
        let masked = Tensor.select(mask, tracked, Tensor(repeating: 0, shape: [5]))
        XCTAssertEqual(try gradients(of: (masked * 2).sum(), withRespectTo: [tracked])[0].scalars, [2, 0, 2, 0, 2])
    }

    func testUnaryGradients() throws {
        let smooth: [(String, (Tensor) -> Tensor)] = [
            ("neg", { -$0 }), ("exp", { $0.exp() }), ("tanh", { $0.tanh() }), ("erf", { $0.erf() }),
            ("sigmoid", { $0.sigmoid() }), ("gelu", { $0.gelu() }), ("square", { $0.pow(2) }),
            ("cube", { $0.pow(3) }), ("sin", { $0.sin() }), ("cos", { $0.cos() }),
        ]
        let x = randomNormal([3, 7, 5], seed: 12)
        for (name, f) in smooth { try checkGradients(at: [x], name) { f($0[0]) } }

        let positive = randomAwayFrom([], [4, 9], seed: 13, in: 0.5...4)
        try checkGradients(at: [positive], "log") { $0[0].log() }
        try checkGradients(at: [positive], "sqrt") { $0[0].sqrt() }
        try checkGradients(at: [positive], "pow 0.7") { $0[0].pow(0.7) }
        try checkGradients(at: [positive], "pow -2") { $0[0].pow(-2) }

        // Piecewise ops, at points away from their kinks.
        try checkGradients(at: [randomAwayFrom([0], [5, 8], seed: 14)], "relu") { $0[0].relu() }
        try checkGradients(at: [randomAwayFrom([0, 6], [5, 8], seed: 15, in: -2...8)], "relu6") { $0[0].relu6() }
        try checkGradients(at: [randomAwayFrom([0], [5, 8], seed: 16)], "abs") { $0[0].abs() }
        try checkGradients(at: [randomAwayFrom([-1, 0.5], [5, 8], seed: 17)], "clamp") {
            $0[0].clamped(min: -1, max: 0.5)
        }
    }

    func testZeroGradientOutsideClampAndRelu() throws {
        let x = Tensor(shape: [4], scalars: [-2, -0.5, 0.5, 2]).requiringGradient()
        let g = try gradients(of: x.clamped(min: -1, max: 1).sum(), withRespectTo: [x])[0]
        XCTAssertEqual(g.scalars, [0, 1, 1, 0])
        let gr = try gradients(of: x.relu().sum(), withRespectTo: [x])[0]
        XCTAssertEqual(gr.scalars, [0, 0, 1, 1])
        let gs = try gradients(of: (x.sign() * x).sum(), withRespectTo: [x])[0]
        XCTAssertEqual(gs.scalars, [-1, -1, 1, 1], "sign is a constant: only the second factor has a gradient")
    }

    func testBinaryGradientsWithBroadcasting() throws {
        let a = randomNormal([3, 1, 5], seed: 18)
        let b = randomAwayFrom([0], [4, 1], seed: 19, in: -2...2, margin: 0.5)
        try checkGradients(at: [a, b], "add") { $0[0] + $0[1] }
        try checkGradients(at: [a, b], "sub") { $0[0] - $0[1] }
        try checkGradients(at: [a, b], "mul") { $0[0] * $0[1] }
        try checkGradients(at: [a, b], "div") { $0[0] / $0[1] }
        try checkGradients(at: [a], "scalar ops") { 2 - 3 * $0[0] / 4 + 1 }
        try checkGradients(at: [b], "scalar over tensor") { 1 / $0[0] }
        // Keep the two operands of maximum apart so that the finite difference never crosses a tie.
        let c = withoutGradients { a + randomAwayFrom([0], [3, 4, 5], seed: 20, margin: 0.3) }
        try checkGradients(at: [a, c], "maximum") { Tensor.maximum($0[0], $0[1]) }
        let mask = randomNormal([4, 5], seed: 21).greater(than: 0)
        try checkGradients(at: [a, c], "select") { Tensor.select(mask, $0[0], $0[1]) }
    }

    func testChannelsLastGradients() throws {
        let a = randomNormal([1, 6, 4, 3], seed: 22), b = randomNormal([1, 6, 4, 3], seed: 23)
        try checkGradients(at: [a, b], "channels-last product") {
            ($0[0].channelsLast() * $0[1].channelsLast()).tanh()
        }
        let scale = randomNormal([1, 6, 1, 1], seed: 24)
        try checkGradients(at: [a, scale], "channels-last times a per-channel scale") {
            ($0[0].channelsLast() * $0[1]).tanh()
        }
    }
}
