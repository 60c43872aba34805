import CDNNL
import Foundation
import XCTest
@testable import FovExTensor

/// Winograd's F(2×2, 3×3) against the direct convolution of the differentiable op, in both blocked layouts (eight
/// and sixteen channels a block, whatever this CPU's chains use), with odd and even sizes (edge tiles half
/// outside the image), batches, bias, residuals (separate and in place) and each activation; a hand-computed case;
/// and which layers the chains give it.
final class WinogradConvolutionTests: XCTestCase {
    private func blocked(_ t: Tensor, block: Int) -> TensorStorage {
        let tag = block == 16 ? dnnl_aBcd16b : dnnl_aBcd8b
        let out = TensorStorage(count: t.count, repeating: .nan)
        let plain = t.contiguous()
        reorder(UnsafeMutableRawPointer(mutating: plain.basePointer), memoryDesc(dims: t.shape, tag: dnnl_nchw),
                UnsafeMutableRawPointer(out.pointer), memoryDesc(dims: t.shape, tag: tag))
        return out
    }

    private func unblocked(_ s: TensorStorage, shape: [Int], block: Int) -> Tensor {
        let tag = block == 16 ? dnnl_aBcd16b : dnnl_aBcd8b
        let out = TensorStorage(uninitializedCount: shape.reduce(1, *))
        reorder(UnsafeMutableRawPointer(s.pointer), memoryDesc(dims: shape, tag: tag),
                UnsafeMutableRawPointer(out.pointer), memoryDesc(dims: shape, tag: dnnl_nchw))
        return Tensor(shape: shape, storage: out)
    }

    private func winograd(_ x: Tensor, _ w: Tensor, bias: Tensor?, residual: Tensor?, inPlace: Bool = false,
                          activation: ConvActivation?, block: Int) -> Tensor {
        let (n, h, width) = (x.shape[0], x.shape[2], x.shape[3])
        let outShape = [n, w.shape[0], h, width]
        let input = blocked(x, block: block)
        let added = residual.map { blocked($0, block: block) }
        let output = inPlace ? added! : TensorStorage(count: outShape.reduce(1, *), repeating: .nan)
        WinogradConvolution(weight: w, bias: bias, activation: activation)
            .run(input: input.pointer, output: output.pointer, residual: added.map { UnsafePointer($0.pointer) },
                 batch: n, height: h, width: width, blockChannels: block)
        return unblocked(output, shape: outShape, block: block)
    }

    func testMatchesTheDirectConvolution() {
        let cases: [(n: Int, c: Int, k: Int, h: Int, w: Int, activation: ConvActivation?, bias: Bool, residual: Bool)] = [
            (1, 16, 32, 12, 12, .relu, true, false),
            (2, 32, 16, 13, 11, nil, false, true),
            (1, 48, 64, 7, 9, .relu6, true, true),
            (3, 16, 16, 1, 5, .relu, true, false),
            // Larger than the whole-image strategy's 4 MB: blocks of tiles.
            (1, 64, 64, 58, 57, .relu, true, true),
        ]
        for (i, t) in cases.enumerated() {
            let x = randomNormal([t.n, t.c, t.h, t.w], seed: UInt64(10 + i))
            let w = randomNormal([t.k, t.c, 3, 3], seed: UInt64(20 + i), scale: 1 / Float(9 * t.c).squareRoot())
            let b = t.bias ? randomNormal([t.k], seed: UInt64(30 + i)) : nil
            let r = t.residual ? randomNormal([t.n, t.k, t.h, t.w], seed: UInt64(40 + i)) : nil
            var expected = x.conv2d(weight: w, bias: b, stride: 1, padding: .symmetric(1), dilation: 1, groups: 1)
            if let r { expected = expected + r }
            switch t.activation {
            case .relu?: expected = expected.relu()
            case .relu6?: expected = expected.relu6()
            case nil: break
            }
            for block in [8, 16] where t.c % block == 0 && t.k % block == 0 {
                let y = winograd(x, w, bias: b, residual: r, activation: t.activation, block: block)
                assertClose(y, expected, tolerance: 2e-6, "case \(i), block \(block)")
                if r != nil {
                    let again = winograd(x, w, bias: b, residual: r, inPlace: true, activation: t.activation, block: block)
                    XCTAssertEqual(again.scalars, y.scalars, "case \(i), block \(block), residual in place")
                }
            }
        }
    }

    /// All-ones filters sum each pixel's 3×3 neighbourhood inside the image: on x[y, x] = 10·y + x over a 3 × 4
    /// image, the corner (0, 0) sums 0 + 1 + 10 + 11 = 22, and so on; with eight channels of the same image and
    /// eight filters over all of them, each output is eight times that, plus the filter's bias.
    func testHandComputedNeighbourhoodSums() {
        let (h, w) = (3, 4)
        var image: [Float] = []
        for _ in 0..<8 { for y in 0..<h { for x in 0..<w { image.append(Float(10 * y + x)) } } }
        let x = Tensor(shape: [1, 8, h, w], scalars: image)
        let filters = Tensor(shape: [8, 8, 3, 3], scalars: [Float](repeating: 1, count: 8 * 8 * 9))
        let bias = Tensor(shape: [8], scalars: (0..<8).map(Float.init))
        let sums: [Float] = [22, 36, 42, 30, 63, 99, 108, 75, 62, 96, 102, 70]
        let y = winograd(x, filters, bias: bias, residual: nil, activation: nil, block: 8)
        XCTAssertEqual(y.scalars, (0..<8).flatMap { k in sums.map { 8 * $0 + Float(k) } })
    }

    func testWhichConvolutionsItTakes() {
        func layer(_ o: Int, _ i: Int, kernel: Int = 3, stride: Int = 1, padding: ConvPadding = .symmetric(1),
                   dilation: Int = 1, groups: Int = 1) -> BlockedConvolution {
            BlockedConvolution(input: 0, weight: Tensor(zeros: [o, i / groups, kernel, kernel]), bias: nil, stride: stride,
                               padding: padding, dilation: dilation, groups: groups, residual: nil, activation: nil)
        }
        XCTAssertTrue(WinogradConvolution.applies(to: layer(64, 64), input: [1, 64, 56, 56], blockChannels: 8))
        XCTAssertTrue(WinogradConvolution.applies(to: layer(32, 128), input: [2, 128, 11, 11], blockChannels: 8))
        XCTAssertFalse(WinogradConvolution.applies(to: layer(512, 512), input: [1, 512, 7, 7], blockChannels: 8),
                       "16 tiles")
        XCTAssertFalse(WinogradConvolution.applies(to: layer(64, 16), input: [1, 16, 56, 56], blockChannels: 8),
                       "16 input channels")
        XCTAssertFalse(WinogradConvolution.applies(to: layer(40, 40), input: [1, 40, 56, 56], blockChannels: 16),
                       "channels not filling whole blocks")
        XCTAssertFalse(WinogradConvolution.applies(to: layer(64, 64, stride: 2), input: [1, 64, 56, 56], blockChannels: 8))
        XCTAssertFalse(WinogradConvolution.applies(to: layer(64, 64, kernel: 1, padding: .symmetric(0)),
                                                   input: [1, 64, 56, 56], blockChannels: 8))
        XCTAssertFalse(WinogradConvolution.applies(to: layer(64, 64, padding: .symmetric(2), dilation: 2),
                                                   input: [1, 64, 56, 56], blockChannels: 8))
        XCTAssertFalse(WinogradConvolution.applies(to: layer(64, 64, groups: 2), input: [1, 64, 56, 56], blockChannels: 8))
        XCTAssertFalse(WinogradConvolution.applies(to: layer(64, 64, padding: .symmetric(0)), input: [1, 64, 56, 56],
                                                   blockChannels: 8))
    }

    /// A chain of two eligible 3×3 layers and a residual, against the ops one by one: whichever algorithm this CPU's
    /// chains choose, the result is the convolution's.
    func testChainOfThreeByThreeLayers() throws {
        let x = randomNormal([2, 32, 24, 24], seed: 50)
        let w1 = randomNormal([64, 32, 3, 3], seed: 51, scale: 1 / Float(288).squareRoot())
        let w2 = randomNormal([64, 64, 3, 3], seed: 52, scale: 1 / Float(576).squareRoot())
        let b1 = randomNormal([64], seed: 53)
        let first = BlockedConvolution(input: 0, weight: w1, bias: b1, stride: 1, padding: .symmetric(1), dilation: 1,
                                       groups: 1, residual: nil, activation: .relu)
        let second = BlockedConvolution(input: 1, weight: w2, bias: nil, stride: 1, padding: .symmetric(1), dilation: 1,
                                        groups: 1, residual: 1, activation: .relu)
        let chain = BlockedConvolutionChain(layers: [.convolution(first), .convolution(second)], inputCount: 1, outputs: [2])
        let y = try XCTUnwrap(chain([x]))[0]
        let a = x.conv2d(weight: w1, bias: b1, stride: 1, padding: .symmetric(1), dilation: 1, groups: 1).relu()
        let expected = (a.conv2d(weight: w2, bias: nil, stride: 1, padding: .symmetric(1), dilation: 1, groups: 1) + a).relu()
        assertClose(y, expected, tolerance: 2e-6)
    }
}
