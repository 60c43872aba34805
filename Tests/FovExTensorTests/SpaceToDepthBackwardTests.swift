import Foundation
import XCTest
@testable import FovExTensor

/// The strided few-channel convolution's input gradient, computed through the space-to-depth
/// rearrangement, against a direct Float64 transposed convolution.
final class SpaceToDepthBackwardTests: XCTestCase {
    func testStemGeometriesUseTheRearrangement() {
        // ResNet's 7×7/2 stem with padding 3, and EfficientNet-Lite's 3×3/2 stem with TF "SAME" (0, 1).
        XCTAssertTrue(SpaceToDepthBackward(n: 1, c: 3, h: 224, w: 224, o: 64, kh: 7, kw: 7, stride: 2,
                                           padTop: 3, padLeft: 3, oh: 112, ow: 112).applies)
        XCTAssertTrue(SpaceToDepthBackward(n: 8, c: 3, h: 224, w: 224, o: 32, kh: 3, kw: 3, stride: 2,
                                           padTop: 0, padLeft: 0, oh: 112, ow: 112).applies)
        // Stride 3 on 9 columns with a left pad of 1 leaves the last column outside the rearranged grid.
        XCTAssertFalse(SpaceToDepthBackward(n: 1, c: 3, h: 10, w: 9, o: 4, kh: 3, kw: 3, stride: 3,
                                            padTop: 0, padLeft: 1, oh: 4, ow: 3).applies)
    }

    func testInputGradientMatchesTheTransposedConvolution() {
        let cases: [(n: Int, c: Int, h: Int, w: Int, o: Int, k: Int, s: Int, top: Int, left: Int, bottom: Int, right: Int)] = [
            (2, 3, 20, 18, 8, 7, 2, 3, 3, 3, 3),
            (1, 3, 23, 17, 5, 3, 2, 0, 0, 1, 1),
            (1, 2, 13, 14, 6, 5, 3, 2, 1, 2, 2),
            (1, 4, 12, 12, 16, 4, 2, 1, 1, 1, 1),
        ]
        for (k, cc) in cases.enumerated() {
            let x = randomNormal([cc.n, cc.c, cc.h, cc.w], seed: UInt64(40 + k))
            let w = randomNormal([cc.o, cc.c, cc.k, cc.k], seed: UInt64(50 + k), scale: 0.3)
            let oh = (cc.h + cc.top + cc.bottom - cc.k) / cc.s + 1, ow = (cc.w + cc.left + cc.right - cc.k) / cc.s + 1
            let plan = SpaceToDepthBackward(n: cc.n, c: cc.c, h: cc.h, w: cc.w, o: cc.o, kh: cc.k, kw: cc.k, stride: cc.s,
                                            padTop: cc.top, padLeft: cc.left, oh: oh, ow: ow)
            XCTAssertTrue(plan.applies, "case \(k)")
            let g = randomNormal([cc.n, cc.o, oh, ow], seed: UInt64(60 + k)).channelsLast()
            let expected = naiveConvInputGradient(g, w, inputShape: x.shape, stride: cc.s, top: cc.top, left: cc.left)
            assertClose(plan.inputGradient(of: g, weight: w), expected, shape: x.shape, tolerance: 1e-5, "case \(k)")
            // The same through the public operation's backward pass.
            let xt = x.requiringGradient()
            let y = xt.conv2d(weight: w, stride: cc.s, padding: .zeros(top: cc.top, bottom: cc.bottom, left: cc.left, right: cc.right))
            XCTAssertEqual(y.shape, g.shape)
            let dx = try? gradients(of: y, withRespectTo: [xt], seed: g)[0]
            assertClose(dx ?? x, expected, shape: x.shape, tolerance: 1e-5, "conv2d backward, case \(k)")
        }
    }
}
