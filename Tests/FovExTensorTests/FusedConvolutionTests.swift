import Foundation
import XCTest
@testable import FovExTensor

/// Convolutions with a residual and an activation fused into the oneDNN call must equal the unfused
/// operations, forward and backward, on every kernel path: the 1×1 matrix product, the strided 1×1
/// (backward at the output's resolution, spread onto the grid), the few-channel stem (backward in
/// plain layout) and the general convolution.
final class FusedConvolutionTests: XCTestCase {
    static let cases: [ConvCase] = [
        ConvCase(n: 2, c: 16, h: 6, w: 7, o: 12, kh: 1, kw: 1),
        ConvCase(c: 8, h: 9, w: 7, o: 16, kh: 1, kw: 1, stride: 2, bias: false),
        ConvCase(n: 2, c: 6, h: 10, w: 8, o: 4, kh: 1, kw: 1, stride: 3),
        ConvCase(n: 2, c: 3, h: 20, w: 18, o: 8, kh: 7, kw: 7, stride: 2, padding: .symmetric(3)),
        ConvCase(c: 3, h: 11, w: 12, o: 5, stride: 2, padding: .same),
        ConvCase(c: 8, h: 9, w: 10, o: 8, padding: .symmetric(1)),
        ConvCase(c: 8, h: 10, w: 9, o: 8, padding: .same, groups: 8),
    ]
    static let activations: [ConvActivation?] = [nil, .relu, .relu6]

    private func operands(_ cc: ConvCase, seed: UInt64) -> (x: Tensor, w: Tensor, b: Tensor?, residual: Tensor) {
        let ipg = cc.c / cc.groups
        // Scaled so that pre-activations spread over both ReLU6 kinks.
        let x = randomNormal([cc.n, cc.c, cc.h, cc.w], seed: seed, scale: 3)
        let w = randomNormal([cc.o, ipg, cc.kh, cc.kw], seed: seed + 1, scale: 1 / Float(ipg * cc.kh * cc.kw).squareRoot())
        let b = cc.bias ? randomNormal([cc.o], seed: seed + 2) : nil
        let y = withoutGradients { x.conv2d(weight: w, bias: b, stride: cc.stride, padding: cc.padding, groups: cc.groups) }
        return (x, w, b, randomNormal(y.shape, seed: seed + 3, scale: 2))
    }

    private func unfused(_ x: Tensor, _ w: Tensor, _ b: Tensor?, _ r: Tensor?, _ a: ConvActivation?, _ cc: ConvCase) -> Tensor {
        var y = x.conv2d(weight: w, bias: b, stride: cc.stride, padding: cc.padding, groups: cc.groups)
        if let r { y = y + r }
        switch a {
        case .relu?: return y.relu()
        case .relu6?: return y.relu6()
        case nil: return y
        }
    }

    private func fused(_ x: Tensor, _ w: Tensor, _ b: Tensor?, _ r: Tensor?, _ a: ConvActivation?, _ cc: ConvCase) -> Tensor {
        x.conv2d(weight: w, bias: b, stride: cc.stride, padding: cc.padding, groups: cc.groups, residual: r, activation: a)
    }

    func testForwardEqualsTheUnfusedOperations() {
        for (k, cc) in Self.cases.enumerated() {
            let (x, w, b, r) = operands(cc, seed: UInt64(100 + 10 * k))
            for a in Self.activations {
                for residual in [nil, r] {
                    let y = fused(x, w, b, residual, a, cc)
                    XCTAssertTrue(y.isChannelsLast, "\(cc)")
                    assertClose(y, unfused(x, w, b, residual, a, cc), tolerance: 1e-6,
                                "\(cc) residual \(residual != nil) \(a.map { "\($0)" } ?? "none")")
                }
            }
        }
    }

    func testGradientsEqualTheUnfusedOperations() throws {
        for (k, cc) in Self.cases.enumerated() {
            let (x, w, b, r) = operands(cc, seed: UInt64(300 + 10 * k))
            for a in Self.activations {
                let what = "\(cc) \(a.map { "\($0)" } ?? "none")"
                let seed = randomNormal(withoutGradients { fused(x, w, b, r, a, cc) }.shape, seed: 7)
                let (xf, rf) = (x.requiringGradient(), r.requiringGradient())
                let gf = try gradients(of: fused(xf, w, b, rf, a, cc), withRespectTo: [xf, rf], seed: seed)
                let (xu, ru) = (x.requiringGradient(), r.requiringGradient())
                let gu = try gradients(of: unfused(xu, w, b, ru, a, cc), withRespectTo: [xu, ru], seed: seed)
                assertClose(gf[0], gu[0], tolerance: 1e-5, "input gradient, " + what)
                assertClose(gf[1], gu[1], tolerance: 1e-6, "residual gradient, " + what)
            }
        }
    }

    /// With `consumingResidual` and nothing recorded, the output is written over the channels-last residual's
    /// own storage (no copy) and equals the copying path exactly; an input that is its own residual is not
    /// overwritten; while recording, the residual is left alone and the gradients are the copying path's.
    func testConsumingTheResidualInPlace() throws {
        for (k, cc) in Self.cases.enumerated() {
            let (x, w, b, r) = operands(cc, seed: UInt64(700 + 10 * k))
            func consuming(_ x: Tensor, _ r: Tensor, _ a: ConvActivation?) -> Tensor {
                x.conv2d(weight: w, bias: b, stride: cc.stride, padding: cc.padding, groups: cc.groups, residual: r,
                         activation: a, consumingResidual: true)
            }
            for a in Self.activations {
                let what = "\(cc) \(a.map { "\($0)" } ?? "none")"
                let copied = withoutGradients { fused(x, w, b, r, a, cc) }
                let shortcut = r.channelsLast()
                XCTAssertFalse(shortcut.storage === r.storage, what)
                let inPlace = withoutGradients { consuming(x, shortcut, a) }
                XCTAssertTrue(inPlace.storage === shortcut.storage, "written in place, " + what)
                XCTAssertEqual(inPlace.scalars, copied.scalars, what)

                let seed = randomNormal(copied.shape, seed: 7)
                let (xr, rr) = (x.requiringGradient(), r.channelsLast().requiringGradient())
                let before = rr.scalars
                let y = consuming(xr, rr, a)
                XCTAssertFalse(y.storage === rr.storage, "recorded: " + what)
                XCTAssertEqual(rr.scalars, before, "recorded: " + what)
                let g = try gradients(of: y, withRespectTo: [xr, rr], seed: seed)
                let (xc, rc) = (x.requiringGradient(), r.channelsLast().requiringGradient())
                let gc = try gradients(of: fused(xc, w, b, rc, a, cc), withRespectTo: [xc, rc], seed: seed)
                XCTAssertEqual(y.scalars, copied.scalars, "recorded: " + what)
                XCTAssertEqual(g[0].scalars, gc[0].scalars, "input gradient, " + what)
                XCTAssertEqual(g[1].scalars, gc[1].scalars, "residual gradient, " + what)
            }
            if x.shape == r.shape {
                // conv(x) + x: the input is read while the output is written, so it is not the output's buffer.
                let own = x.channelsLast()
                let before = own.scalars
                let y = withoutGradients { consuming(own, own, .relu) }
                XCTAssertFalse(y.storage === own.storage, "\(cc)")
                XCTAssertEqual(own.scalars, before, "\(cc)")
                XCTAssertEqual(y.scalars, withoutGradients { fused(own, w, b, own, .relu, cc) }.scalars, "\(cc)")
            }
        }
    }

    /// A cached primitive keeps its oneDNN memory objects between calls and only points them at each call's
    /// buffers: calls on other inputs and outputs of the same shape read and write their own buffers.
    func testRepeatedCallsReadAndWriteTheirOwnBuffers() {
        for (k, cc) in Self.cases.enumerated() {
            let (x1, w, b, r) = operands(cc, seed: UInt64(800 + 10 * k))
            let x2 = randomNormal(x1.shape, seed: UInt64(805 + 10 * k), scale: 3)
            let y1 = withoutGradients { fused(x1, w, b, r, .relu, cc) }
            let first = y1.scalars
            let y2 = withoutGradients { fused(x2, w, b, r, .relu, cc) }
            XCTAssertEqual(y1.scalars, first, "the first output is not written again: \(cc)")
            XCTAssertNotEqual(y2.scalars, first, "the second call reads its own input: \(cc)")
            assertClose(y2, unfused(x2, w, b, r, .relu, cc), tolerance: 1e-6, "\(cc)")
            XCTAssertEqual(withoutGradients { fused(x1, w, b, r, .relu, cc) }.scalars, first, "\(cc)")
        }
    }

    /// Away from the activation's kinks the fused operation's gradient matches finite differences.
    func testGradientsMatchFiniteDifferences() throws {
        for (k, cc) in Self.cases.enumerated() {
            let (_, w, b, _) = operands(cc, seed: UInt64(500 + 10 * k))
            let x = randomAwayFrom([0], [cc.n, cc.c, cc.h, cc.w], seed: UInt64(501 + 10 * k), margin: 0.05)
            let shape = withoutGradients { fused(x, w, b, nil, nil, cc) }.shape
            let r = randomNormal(shape, seed: UInt64(502 + 10 * k))
            try checkGradients(at: [x, r], epsilon: 1e-3, tolerance: 2e-2, "\(cc)") {
                self.fused($0[0], w, b, $0[1], .relu, cc)
            }
        }
    }

    /// A fused output read by two (or three) consumers gets its gradient as parts, which the fused
    /// backward sums while applying the activation's mask; the result equals the unfused graph's.
    func testGradientOfAnOutputWithSeveralConsumers() throws {
        let cc = ConvCase(n: 2, c: 8, h: 7, w: 6, o: 8, kh: 1, kw: 1)
        let (x, w, b, r) = operands(cc, seed: 900)
        let w2 = randomNormal([8, 8, 3, 3], seed: 901, scale: 0.2)
        for a in Self.activations { for threeConsumers in [false, true] {
            func network(_ x: Tensor, _ layer: (Tensor, Tensor?) -> Tensor) -> Tensor {
                let y = layer(x, r)
                let z = y.conv2d(weight: w2, padding: .symmetric(1), residual: threeConsumers ? y : nil, activation: a)
                return (z * z).sum() + (y * 0.5).sum()
            }
            let xf = x.requiringGradient()
            let gf = try gradients(of: network(xf) { fused($0, w, b, $1, a, cc) }, withRespectTo: [xf])[0]
            let xu = x.requiringGradient()
            let gu = try gradients(of: network(xu) { unfused($0, w, b, $1, a, cc) }, withRespectTo: [xu])[0]
            assertClose(gf, gu, tolerance: 1e-5, "\(a.map { "\($0)" } ?? "none"), three consumers \(threeConsumers)")
        }}
    }
}

final class ParallelForTests: XCTestCase {
    func testEveryIndexRunsExactlyOnce() {
        for count in [0, 1, 2, 3, 7, 64] {
            let hits = UnsafeMutablePointer<Int>.allocate(capacity: Swift.max(count, 1))
            hits.initialize(repeating: 0, count: Swift.max(count, 1))
            defer { hits.deallocate() }
            parallelFor(count) { i in hits[i] += 1 }
            XCTAssertEqual((0..<count).map { hits[$0] }, Array(repeating: 1, count: count), "count \(count)")
        }
    }

    func testNestedCallsRunEveryIndex() {
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: 12)
        hits.initialize(repeating: 0, count: 12)
        defer { hits.deallocate() }
        parallelFor(3) { i in parallelFor(4) { j in hits[i * 4 + j] += 1 } }
        XCTAssertEqual((0..<12).map { hits[$0] }, Array(repeating: 1, count: 12))
    }

    func testChunksCoverLargeBuffers() {
        let n = 300_001
        let a = Tensor(shape: [n], scalars: (0..<n).map { Float($0 % 97) })
        let b = a + a
        XCTAssertEqual(b.scalars.enumerated().first { $0.element != Float(2 * ($0.offset % 97)) }?.offset, nil)
    }
}
