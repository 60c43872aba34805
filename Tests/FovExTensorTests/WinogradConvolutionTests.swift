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
                 batch: n, height: h, width: width, inputBlock: block, outputBlock: block)
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

    /// The convolution in Float64, NCHW, one pixel of zero padding: y[n, o, y, x] = Σ w[o, c, i, j] ·
    /// x[n, c, y + i − 1, x + j − 1]; `transposed`, with the filters rotated and their channel axes swapped.
    private func reference(_ x: [Double], _ w: [Float], n: Int, c: Int, k: Int, h: Int, width: Int,
                           transposed: Bool = false) -> [Double] {
        let (inputs, outputs) = transposed ? (k, c) : (c, k)
        var y = [Double](repeating: 0, count: n * outputs * h * width)
        for b in 0..<n {
            for o in 0..<outputs {
                for i in 0..<inputs {
                    for r in 0..<3 {
                        for s in 0..<3 {
                            let tap = transposed ? Double(w[(i * c + o) * 9 + (2 - r) * 3 + 2 - s]) : Double(w[(o * c + i) * 9 + r * 3 + s])
                            for py in 0..<h where py + r - 1 >= 0 && py + r - 1 < h {
                                for px in 0..<width where px + s - 1 >= 0 && px + s - 1 < width {
                                    y[((b * outputs + o) * h + py) * width + px] +=
                                        tap * x[((b * inputs + i) * h + py + r - 1) * width + px + s - 1]
                                }
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    /// Channels-last tensors (blocks as wide as all the channels) and the transposed filters, the input gradient's
    /// form, against Float64 sums.
    func testChannelsLastAndTransposedFilters() {
        let (n, c, k, h, w) = (2, 16, 24, 9, 10)
        let weights = randomNormal([k, c, 3, 3], seed: 60, scale: 0.2)
        for transposed in [false, true] {
            let (inputs, outputs) = transposed ? (k, c) : (c, k)
            let x = randomNormal([n, inputs, h, w], seed: 61)
            let input = x.channelsLast()
            let out = TensorStorage(count: n * outputs * h * w, repeating: .nan)
            WinogradConvolution(weight: weights, bias: nil, activation: nil, transposed: transposed)
                .run(input: input.basePointer, output: out.pointer, residual: nil, batch: n, height: h, width: w,
                     inputBlock: inputs, outputBlock: outputs)
            let shape = [n, outputs, h, w]
            let y = Tensor(shape: shape, strides: Tensor.channelsLastStrides(shape), storage: out)
            assertClose(y, reference(doubles(x), weights.scalars, n: n, c: c, k: k, h: h, width: w, transposed: transposed),
                        shape: shape, tolerance: 2e-6, "transposed: \(transposed)")
        }
    }

    /// The differentiable convolution on a shape the algorithm takes (on AVX2 it runs there; elsewhere the direct
    /// kernels do): output and input gradient of Σ conv(x) · seed against Float64 sums, with a residual and ReLU
    /// (whose gradient masks the seed where the output is zero).
    func testDifferentiableConvolution() throws {
        let (n, c, k, h, w) = (2, 32, 40, 12, 13)
        let x = randomNormal([n, c, h, w], seed: 70).requiringGradient()
        let weights = randomNormal([k, c, 3, 3], seed: 71, scale: 1 / Float(9 * c).squareRoot())
        let bias = randomNormal([k], seed: 72)
        let residual = randomNormal([n, k, h, w], seed: 73).requiringGradient()
        let seed = randomNormal([n, k, h, w], seed: 74)
        let y = x.conv2d(weight: weights, bias: bias, stride: 1, padding: .symmetric(1), residual: residual, activation: .relu)
        var expected = reference(doubles(x), weights.scalars, n: n, c: c, k: k, h: h, width: w)
        let (b, r) = (doubles(bias), doubles(residual))
        for i in expected.indices { expected[i] = max(0, expected[i] + b[(i / (h * w)) % k] + r[i]) }
        assertClose(y, expected, shape: [n, k, h, w], tolerance: 2e-6)
        let grads = try gradients(of: (y * seed).sum(), withRespectTo: [x, residual])
        let masked = zip(doubles(seed), expected).map { $1 > 0 ? $0 : 0 }
        assertClose(grads[1], masked, shape: [n, k, h, w], tolerance: 1e-6)
        let dx = reference(masked, weights.scalars, n: n, c: c, k: k, h: h, width: w, transposed: true)
        assertClose(grads[0], dx, shape: [n, c, h, w], tolerance: 2e-6)
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
