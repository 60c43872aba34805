import Foundation
import XCTest
@testable import FovExTensor

/// The blocked forward-only chain against the differentiable ops run one by one: every layer kind, residuals
/// accumulated in place and copied, several outputs, inputs in both layouts, odd channel counts (which oneDNN
/// pads to its block), and the shapes it declines.
final class BlockedInferenceTests: XCTestCase {
    private func weights(_ o: Int, _ i: Int, _ k: Int, seed: UInt64) -> Tensor {
        randomNormal([o, i, k, k], seed: seed, scale: 1 / Float(i * k * k).squareRoot())
    }

    private func reference(_ x: Tensor, _ c: BlockedConvolution, residual: Tensor? = nil) -> Tensor {
        var y = x.conv2d(weight: c.weight, bias: c.bias, stride: c.stride, padding: c.padding, dilation: c.dilation,
                         groups: c.groups)
        if let residual { y = y + residual }
        switch c.activation {
        case .relu?: return y.relu()
        case .relu6?: return y.relu6()
        case nil: return y
        }
    }

    /// A ResNet-like stem and two blocks: the first block's shortcut is a strided 1×1 projection, the second's the
    /// block input itself (read by the block's first convolution too); a max pool with padding; odd widths.
    func testResidualBlocksMatchTheOpsOneByOne() throws {
        for (n, c, size) in [(1, 3, 23), (2, 3, 16), (1, 5, 17)] {
            let x = randomNormal([n, c, size, size], seed: 1)
            let stem = BlockedConvolution(input: 0, weight: weights(12, c, 3, seed: 2), bias: randomNormal([12], seed: 3),
                                          stride: 2, padding: .symmetric(1), dilation: 1, groups: 1, residual: nil,
                                          activation: .relu)
            let pool = BlockedPooling(input: 1, kind: .maximum, kernel: (3, 3), stride: (2, 2)) { _, _ in (1, 1, 1, 1) }
            let projection = BlockedConvolution(input: 2, weight: weights(20, 12, 1, seed: 4), bias: nil, stride: 2,
                                                padding: .symmetric(0), dilation: 1, groups: 1, residual: nil, activation: nil)
            let a1 = BlockedConvolution(input: 2, weight: weights(6, 12, 3, seed: 5), bias: randomNormal([6], seed: 6),
                                        stride: 2, padding: .symmetric(1), dilation: 1, groups: 1, residual: nil, activation: .relu)
            let a2 = BlockedConvolution(input: 4, weight: weights(20, 6, 3, seed: 7), bias: randomNormal([20], seed: 8),
                                        stride: 1, padding: .symmetric(1), dilation: 1, groups: 1, residual: 3, activation: .relu)
            let b1 = BlockedConvolution(input: 5, weight: weights(20, 4, 3, seed: 9), bias: nil, stride: 1,
                                        padding: .symmetric(2), dilation: 2, groups: 5, residual: nil, activation: .relu6)
            let b2 = BlockedConvolution(input: 6, weight: weights(20, 20, 1, seed: 10), bias: randomNormal([20], seed: 11),
                                        stride: 1, padding: .symmetric(0), dilation: 1, groups: 1, residual: 5, activation: .relu)
            let chain = BlockedConvolutionChain(
                layers: [.convolution(stem), .pooling(pool), .convolution(projection), .convolution(a1), .convolution(a2),
                         .convolution(b1), .convolution(b2), .globalAveragePooling(input: 7)],
                inputCount: 1, outputs: [8, 7])
            let outputs = try XCTUnwrap(chain([x]))

            let s = reference(x, stem)
            let p = s.maxPool2d(kernel: 3, stride: 2, padding: 1)
            let block1 = reference(reference(p, a1), a2, residual: reference(p, projection))
            let block2 = reference(reference(block1, b1), b2, residual: block1)
            assertClose(outputs[1], block2, tolerance: 1e-5, "N\(n) C\(c) \(size)")
            assertClose(outputs[0], block2.adaptiveAvgPool2d(outputSize: 1), tolerance: 1e-5, "N\(n) C\(c) \(size)")
            XCTAssertTrue(outputs[1].isChannelsLast)
            // A second call reuses the plan; the input itself is left as it was.
            let again = try XCTUnwrap(chain([x]))
            XCTAssertEqual(again[1].scalars, outputs[1].scalars)
            XCTAssertEqual(x.scalars, randomNormal([n, c, size, size], seed: 1).scalars)
        }
    }

    /// A residual that a later layer reads again is copied, not overwritten; an input read by two layers and given
    /// channels-last; average pools with and without their padding counted; a depthwise convolution.
    func testSharedResidualsInputsAndAveragePools() throws {
        let x = randomNormal([2, 8, 12, 12], seed: 20).channelsLast()
        let r = randomNormal([2, 8, 12, 12], seed: 21)
        let depthwise = BlockedConvolution(input: 0, weight: weights(8, 1, 3, seed: 22), bias: randomNormal([8], seed: 23),
                                           stride: 1, padding: .symmetric(1), dilation: 1, groups: 8, residual: 1,
                                           activation: nil)
        let again = BlockedConvolution(input: 0, weight: weights(8, 8, 1, seed: 24), bias: nil, stride: 1,
                                       padding: .symmetric(0), dilation: 1, groups: 1, residual: 1, activation: .relu)
        let include = BlockedPooling(input: 2, kind: .average(countIncludePad: true), kernel: (3, 3), stride: (2, 2)) { _, _ in
            (1, 1, 1, 1)
        }
        let exclude = BlockedPooling(input: 3, kind: .average(countIncludePad: false), kernel: (3, 3), stride: (1, 1)) { _, _ in
            (1, 1, 1, 1)
        }
        let chain = BlockedConvolutionChain(
            layers: [.convolution(depthwise), .convolution(again), .pooling(include), .pooling(exclude)],
            inputCount: 2, outputs: [2, 3, 4, 5])
        let outputs = try XCTUnwrap(chain([x, r]))
        let d = reference(x, depthwise, residual: r), e = reference(x, again, residual: r)
        assertClose(outputs[0], d, tolerance: 1e-5)
        assertClose(outputs[1], e, tolerance: 1e-5)
        assertClose(outputs[2], d.avgPool2d(kernel: 3, stride: 2, padding: 1, countIncludePad: true), tolerance: 1e-5)
        assertClose(outputs[3], e.avgPool2d(kernel: 3, stride: 1, padding: 1, countIncludePad: false), tolerance: 1e-5)
        XCTAssertEqual(r.scalars, randomNormal([2, 8, 12, 12], seed: 21).scalars, "the caller's residual is not written")
    }

    /// A chain that starts with a pooling of a plain NCHW input (a concatenation's output, in a graph).
    func testPoolingAPlainInput() throws {
        let x = randomNormal([1, 16, 13, 13], seed: 40)
        let pool = BlockedPooling(input: 0, kind: .maximum, kernel: (3, 3), stride: (2, 2)) { _, _ in (1, 1, 1, 1) }
        let conv = BlockedConvolution(input: 1, weight: weights(8, 16, 1, seed: 41), bias: nil, stride: 1,
                                      padding: .symmetric(0), dilation: 1, groups: 1, residual: nil, activation: .relu)
        let chain = BlockedConvolutionChain(layers: [.pooling(pool), .convolution(conv)], inputCount: 1, outputs: [1, 2])
        let outputs = try XCTUnwrap(chain([x]))
        let pooled = x.maxPool2d(kernel: 3, stride: 2, padding: 1)
        assertClose(outputs[0], pooled, tolerance: 1e-7)
        assertClose(outputs[1], reference(pooled, conv), tolerance: 1e-5)
    }

    /// Element-wise functions, sums and products (same shape, and a per-channel scale given first or second), and
    /// concatenations of parts whose channel counts are not multiples of oneDNN's block: a squeeze-and-excitation
    /// block and an Inception-like join.
    func testElementwiseBinaryAndConcatenationLayers() throws {
        let x = randomNormal([2, 12, 9, 9], seed: 50)
        let expand = BlockedConvolution(input: 0, weight: weights(20, 12, 1, seed: 51), bias: randomNormal([20], seed: 52),
                                        stride: 1, padding: .symmetric(0), dilation: 1, groups: 1, residual: nil, activation: nil)
        let squeeze = BlockedConvolution(input: 3, weight: weights(5, 20, 1, seed: 53), bias: randomNormal([5], seed: 54),
                                         stride: 1, padding: .symmetric(0), dilation: 1, groups: 1, residual: nil, activation: .relu)
        let excite = BlockedConvolution(input: 4, weight: weights(20, 5, 1, seed: 55), bias: randomNormal([20], seed: 56),
                                        stride: 1, padding: .symmetric(0), dilation: 1, groups: 1, residual: nil, activation: nil)
        let branch = BlockedConvolution(input: 0, weight: weights(7, 12, 3, seed: 57), bias: nil, stride: 1,
                                        padding: .symmetric(1), dilation: 1, groups: 1, residual: nil, activation: nil)
        let layers: [BlockedLayer] = [
            .convolution(expand),                                                      // 1
            .elementwise(input: 1, [.swish]),                                          // 2
            .globalAveragePooling(input: 2),                                           // 3
            .convolution(squeeze),                                                     // 4
            .convolution(excite),                                                      // 5
            .elementwise(input: 5, [.linear(alpha: 1 / 6, beta: 0.5), .clip(lower: 0, upper: 1)]),  // 6: hard sigmoid
            .binary(.multiply, 6, 2),                                                  // 7: scale first
            .binary(.multiply, 2, 6),                                                  // 8: scale second
            .binary(.add, 7, 8),                                                       // 9
            .elementwise(input: 9, [.hardSwish]),                                      // 10
            .convolution(branch),                                                      // 11
            .elementwise(input: 11, [.sigmoid]),                                       // 12
            .concatenation([10, 12, 0]),                                               // 13: 20 + 7 + 12 channels
        ]
        let chain = BlockedConvolutionChain(layers: layers, inputCount: 1, outputs: [13, 6])
        let outputs = try XCTUnwrap(chain([x]))

        func map(_ t: Tensor, _ f: (Double) -> Double) -> [Double] { doubles(t).map(f) }
        let e = reference(x, expand)
        let swished = Tensor(shape: e.shape, scalars: map(e) { $0 / (1 + exp(-$0)) }.map(Float.init))
        let s = reference(reference(swished.adaptiveAvgPool2d(outputSize: 1), squeeze), excite)
        let hardSigmoid = Tensor(shape: s.shape, scalars: map(s) { min(max($0 / 6 + 0.5, 0), 1) }.map(Float.init))
        let scaled = swished * hardSigmoid
        let summed = scaled + scaled
        let hardSwish = Tensor(shape: summed.shape, scalars: map(summed) { $0 * min(max($0 + 3, 0), 6) / 6 }.map(Float.init))
        let b = reference(x, branch)
        let gate = Tensor(shape: b.shape, scalars: map(b) { 1 / (1 + exp(-$0)) }.map(Float.init))
        let joined = Tensor.concatenate([hardSwish, gate, x], axis: 1)
        assertClose(outputs[0], joined, tolerance: 1e-5)
        assertClose(outputs[1], hardSigmoid, tolerance: 1e-5)
        // A product whose second operand is neither of the first's shape nor per channel is declined.
        let spatial = BlockedConvolutionChain(layers: [.convolution(expand), .globalAveragePooling(input: 1),
                                                       .binary(.multiply, 1, 0)], inputCount: 1, outputs: [3])
        XCTAssertNil(spatial([x]), "12 channels do not scale 20")
    }

    /// Shapes a layer cannot take, and a pooling window that declines a size, give nil (the caller's ops run).
    func testDeclinedShapesGiveNil() {
        let conv = BlockedConvolution(input: 0, weight: weights(4, 3, 3, seed: 30), bias: nil, stride: 1,
                                      padding: .symmetric(1), dilation: 1, groups: 1, residual: nil, activation: nil)
        let pool = BlockedPooling(input: 1, kind: .maximum, kernel: (2, 2), stride: (2, 2)) { h, _ in h % 2 == 0 ? (0, 0, 0, 0) : nil }
        let chain = BlockedConvolutionChain(layers: [.convolution(conv), .pooling(pool)], inputCount: 1, outputs: [2])
        XCTAssertNotNil(chain([randomNormal([1, 3, 8, 8], seed: 31)]))
        XCTAssertNil(chain([randomNormal([1, 3, 7, 8], seed: 31)]), "the window declines an odd height")
        XCTAssertNil(chain([randomNormal([1, 5, 8, 8], seed: 31)]), "five channels for three-channel filters")
        let residual = BlockedConvolution(input: 0, weight: weights(4, 3, 3, seed: 30), bias: nil, stride: 1,
                                          padding: .symmetric(1), dilation: 1, groups: 1, residual: 1, activation: nil)
        let summed = BlockedConvolutionChain(layers: [.convolution(residual)], inputCount: 2, outputs: [2])
        XCTAssertNil(summed([randomNormal([1, 3, 8, 8], seed: 32), randomNormal([1, 4, 1, 1], seed: 33)]),
                     "a residual that would broadcast")
    }
}
