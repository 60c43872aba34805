import Foundation
import XCTest
@testable import FovExTensor

/// A stride-1 convolution's input gradient, computed as the forward convolution with the flipped kernel,
/// against a direct Float64 transposed convolution.
final class FlippedKernelBackwardTests: XCTestCase {
    private typealias Case = (n: Int, c: Int, h: Int, w: Int, o: Int, kh: Int, kw: Int, d: Int,
                              top: Int, bottom: Int, left: Int, right: Int)

    func testPaddingBeyondTheKernelsReachDoesNotApply() {
        func plan(_ pads: (Int, Int, Int, Int), dilation: Int = 1) -> FlippedKernelBackward {
            FlippedKernelBackward(n: 1, c: 8, h: 10, w: 10, o: 8, kh: 3, kw: 3, dilation: dilation, pads: pads,
                                  oh: 10 + pads.0 + pads.1 - 2 * dilation, ow: 10 + pads.2 + pads.3 - 2 * dilation,
                                  precision: .fp32)
        }
        XCTAssertTrue(plan((1, 1, 1, 1)).applies)
        XCTAssertTrue(plan((0, 2, 2, 0)).applies)
        XCTAssertFalse(plan((3, 1, 1, 1)).applies)
        XCTAssertFalse(plan((1, 1, 1, 3)).applies)
        XCTAssertTrue(plan((4, 4, 4, 4), dilation: 2).applies)
        XCTAssertFalse(plan((5, 4, 4, 4), dilation: 2).applies)
    }

    func testInputGradientMatchesTheTransposedConvolution() throws {
        let cases: [Case] = [
            (2, 5, 9, 11, 7, 3, 3, 1, 1, 1, 1, 1),
            // TF "SAME" with an even kernel pads one more at the bottom and right.
            (1, 6, 10, 8, 4, 4, 4, 1, 1, 2, 1, 2),
            (1, 8, 12, 12, 16, 3, 5, 2, 2, 2, 4, 4),
            (1, 16, 7, 9, 8, 3, 3, 1, 0, 0, 0, 0),
            (3, 17, 6, 5, 33, 5, 5, 1, 2, 2, 2, 2),
        ]
        for (k, cc) in cases.enumerated() {
            let x = randomNormal([cc.n, cc.c, cc.h, cc.w], seed: UInt64(70 + k))
            let w = randomNormal([cc.o, cc.c, cc.kh, cc.kw], seed: UInt64(80 + k), scale: 0.3)
            let oh = cc.h + cc.top + cc.bottom - cc.d * (cc.kh - 1), ow = cc.w + cc.left + cc.right - cc.d * (cc.kw - 1)
            let plan = FlippedKernelBackward(n: cc.n, c: cc.c, h: cc.h, w: cc.w, o: cc.o, kh: cc.kh, kw: cc.kw,
                                             dilation: cc.d, pads: (cc.top, cc.bottom, cc.left, cc.right),
                                             oh: oh, ow: ow, precision: .fp32)
            XCTAssertTrue(plan.applies, "case \(k)")
            let g = randomNormal([cc.n, cc.o, oh, ow], seed: UInt64(90 + k)).channelsLast()
            let expected = naiveConvInputGradient(g, w, inputShape: x.shape, dilation: cc.d, top: cc.top, left: cc.left)
            let direct = plan.inputGradient(of: UnsafeMutableRawPointer(g.basePointer), weight: w)
            assertClose(direct, expected, shape: x.shape, tolerance: 1e-5, "case \(k)")
            // The same through the public operation's backward pass.
            let xt = x.requiringGradient()
            let y = xt.conv2d(weight: w, padding: .zeros(top: cc.top, bottom: cc.bottom, left: cc.left, right: cc.right),
                              dilation: cc.d)
            XCTAssertEqual(y.shape, g.shape)
            let dx = try gradients(of: y, withRespectTo: [xt], seed: g)[0]
            assertClose(dx, expected, shape: x.shape, tolerance: 1e-5, "conv2d backward, case \(k)")
        }
    }

    /// The flipped weights are derived once per weight tensor: a second weight of the same shape gets its own.
    func testEachWeightGetsItsOwnFlippedCopy() throws {
        let x = randomNormal([1, 8, 6, 6], seed: 100).requiringGradient()
        let g = randomNormal([1, 8, 6, 6], seed: 101).channelsLast()
        for seed in [UInt64(102), 103] {
            let w = randomNormal([8, 8, 3, 3], seed: seed, scale: 0.3)
            let y = x.conv2d(weight: w, padding: .symmetric(1))
            let dx = try gradients(of: y, withRespectTo: [x], seed: g)[0]
            assertClose(dx, naiveConvInputGradient(g, w, inputShape: x.shape, top: 1, left: 1), shape: x.shape,
                        tolerance: 1e-5, "weight seed \(seed)")
        }
    }

    /// Padding past the kernel's reach (an output larger than the input) falls back to backward-data.
    func testOverPaddedConvolutionStillHasTheRightGradient() throws {
        let x = randomNormal([1, 8, 5, 5], seed: 110).requiringGradient()
        let w = randomNormal([6, 8, 3, 3], seed: 111, scale: 0.3)
        let y = x.conv2d(weight: w, padding: .symmetric(3))
        XCTAssertEqual(y.shape, [1, 6, 9, 9])
        let g = randomNormal(y.shape, seed: 112).channelsLast()
        let dx = try gradients(of: y, withRespectTo: [x], seed: g)[0]
        assertClose(dx, naiveConvInputGradient(g, w, inputShape: x.shape, top: 3, left: 3), shape: x.shape,
                    tolerance: 1e-5)
    }
}
