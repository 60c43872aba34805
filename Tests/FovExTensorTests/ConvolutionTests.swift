import Foundation
import XCTest
@testable import FovExTensor

/// One convolution configuration: shapes, stride, padding, dilation, groups.
struct ConvCase: CustomStringConvertible {
    var n: Int, c: Int, h: Int, w: Int, o: Int, kh: Int, kw: Int
    var stride: Int, padding: ConvPadding, dilation: Int, groups: Int, bias: Bool

    init(n: Int = 1, c: Int, h: Int, w: Int, o: Int, kh: Int = 3, kw: Int = 3, stride: Int = 1,
         padding: ConvPadding = .symmetric(0), dilation: Int = 1, groups: Int = 1, bias: Bool = true) {
        (self.n, self.c, self.h, self.w, self.o, self.kh, self.kw) = (n, c, h, w, o, kh, kw)
        (self.stride, self.padding, self.dilation, self.groups, self.bias) = (stride, padding, dilation, groups, bias)
    }

    var description: String {
        "N\(n) C\(c) \(h)×\(w) → O\(o) k\(kh)×\(kw) s\(stride) \(padding) d\(dilation) g\(groups)\(bias ? " +bias" : "")"
    }
}

final class ConvolutionTests: XCTestCase {
    /// Direct Float64 convolution of an NCHW input; reflect padding is applied to the indices, and
    /// TF-SAME padding is derived here independently of the library.
    static func naiveConv(_ x: Tensor, _ w: Tensor, _ b: Tensor?, _ cc: ConvCase) -> (shape: [Int], values: [Double]) {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, ipg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        let s = cc.stride, d = cc.dilation
        var (pt, pb, pl, pr) = (0, 0, 0, 0)
        var reflect = false
        switch cc.padding {
        case let .zeros(t, bo, l, r): (pt, pb, pl, pr) = (t, bo, l, r)
        case let .reflect(p): (pt, pb, pl, pr) = (p, p, p, p); reflect = true
        case .same:
            func pads(_ size: Int, _ k: Int) -> (Int, Int) {
                let out = Int((Double(size) / Double(s)).rounded(.up))
                let total = Swift.max((out - 1) * s + (k - 1) * d + 1 - size, 0)
                return (total / 2, total - total / 2)
            }
            (pt, pb) = pads(h, kh)
            (pl, pr) = pads(wd, kw)
        }
        let oh = (h + pt + pb - (kh - 1) * d - 1) / s + 1
        let ow = (wd + pl + pr - (kw - 1) * d - 1) / s + 1
        let xs = x.scalars, ws = w.scalars, bs = b?.scalars
        let opg = o / cc.groups
        func source(_ i: Int, _ size: Int) -> Int? {
            if i >= 0 && i < size { return i }
            guard reflect else { return nil }
            return i < 0 ? -i : 2 * (size - 1) - i
        }
        var out = [Double](repeating: 0, count: n * o * oh * ow)
        for b0 in 0..<n { for oc in 0..<o { for i in 0..<oh { for j in 0..<ow {
            var acc = bs.map { Double($0[oc]) } ?? 0
            let g = oc / opg
            for ic in 0..<ipg { for ki in 0..<kh { for kj in 0..<kw {
                guard let r = source(i * s - pt + ki * d, h), let q = source(j * s - pl + kj * d, wd) else { continue }
                let xv = xs[((b0 * c + g * ipg + ic) * h + r) * wd + q]
                acc += Double(xv) * Double(ws[((oc * ipg + ic) * kh + ki) * kw + kj])
            }}}
            out[((b0 * o + oc) * oh + i) * ow + j] = acc
        }}}}
        return ([n, o, oh, ow], out)
    }

    static let cases: [ConvCase] = [
        ConvCase(c: 4, h: 9, w: 8, o: 6, padding: .symmetric(1)),
        ConvCase(n: 2, c: 3, h: 8, w: 9, o: 5, padding: .zeros(top: 1, bottom: 2, left: 0, right: 1), bias: false),
        ConvCase(c: 3, h: 7, w: 7, o: 4, kh: 4, kw: 4, padding: .same),
        ConvCase(c: 3, h: 8, w: 8, o: 4, padding: .same),
        ConvCase(c: 4, h: 10, w: 11, o: 6, stride: 2, padding: .same, bias: false),
        ConvCase(c: 3, h: 11, w: 12, o: 5, kh: 5, kw: 5, stride: 2, padding: .same),
        ConvCase(c: 3, h: 8, w: 8, o: 4, padding: .reflect(1)),
        ConvCase(c: 2, h: 9, w: 10, o: 3, kh: 5, kw: 5, stride: 2, padding: .reflect(2), bias: false),
        ConvCase(c: 5, h: 11, w: 10, o: 7, stride: 2, padding: .symmetric(1)),
        ConvCase(c: 3, h: 10, w: 9, o: 4, stride: 3, padding: .zeros(top: 0, bottom: 2, left: 1, right: 0)),
        ConvCase(c: 4, h: 12, w: 11, o: 5, padding: .symmetric(2), dilation: 2, bias: false),
        ConvCase(c: 3, h: 15, w: 14, o: 4, stride: 2, padding: .zeros(top: 1, bottom: 2, left: 3, right: 0), dilation: 3),
        ConvCase(c: 3, h: 9, w: 9, o: 2, stride: 1, padding: .same, dilation: 2),
        ConvCase(n: 2, c: 6, h: 7, w: 8, o: 4, padding: .symmetric(1), groups: 2),
        ConvCase(c: 9, h: 6, w: 5, o: 6, kh: 1, kw: 1, groups: 3, bias: false),
        ConvCase(c: 8, h: 10, w: 9, o: 8, padding: .symmetric(1), groups: 8),
        ConvCase(c: 6, h: 11, w: 12, o: 6, kh: 5, kw: 5, stride: 2, padding: .same, groups: 6, bias: false),
        ConvCase(c: 4, h: 8, w: 8, o: 8, padding: .symmetric(1), groups: 4),
        ConvCase(c: 16, h: 6, w: 7, o: 12, kh: 1, kw: 1),
        ConvCase(c: 16, h: 8, w: 8, o: 8, kh: 1, kw: 1, stride: 2, bias: false),
        ConvCase(n: 2, c: 6, h: 9, w: 7, o: 5, kh: 1, kw: 1, stride: 2),
        ConvCase(c: 3, h: 20, w: 18, o: 8, kh: 7, kw: 7, stride: 2, padding: .symmetric(3)),
        ConvCase(c: 3, h: 9, w: 10, o: 4, kh: 1, kw: 3, padding: .zeros(top: 0, bottom: 0, left: 1, right: 1)),
        ConvCase(c: 3, h: 9, w: 10, o: 4, kh: 3, kw: 2, stride: 2, padding: .same),
    ]

    private func inputs(_ cc: ConvCase, seed: UInt64) -> (Tensor, Tensor, Tensor?) {
        let ipg = cc.c / cc.groups
        let x = randomNormal([cc.n, cc.c, cc.h, cc.w], seed: seed)
        let w = randomNormal([cc.o, ipg, cc.kh, cc.kw], seed: seed + 1, scale: 1 / Float(ipg * cc.kh * cc.kw).squareRoot())
        let b = cc.bias ? randomNormal([cc.o], seed: seed + 2) : nil
        return (x, w, b)
    }

    private func conv(_ x: Tensor, _ w: Tensor, _ b: Tensor?, _ cc: ConvCase) -> Tensor {
        x.conv2d(weight: w, bias: b, stride: cc.stride, padding: cc.padding, dilation: cc.dilation, groups: cc.groups)
    }

    func testForwardMatchesNaiveConvolution() {
        for (k, cc) in Self.cases.enumerated() {
            let (x, w, b) = inputs(cc, seed: UInt64(10 * k + 1))
            let ref = Self.naiveConv(x, w, b, cc)
            let y = conv(x, w, b, cc)
            XCTAssertTrue(y.isChannelsLast, "output is channels-last: \(cc)")
            assertClose(y, ref.values, shape: ref.shape, tolerance: 1e-5, "\(cc)")
        }
    }

    func testChannelsLastAndStridedInputsGiveTheSameResult() {
        for cc in [Self.cases[0], Self.cases[4], Self.cases[15]] {
            let (x, w, b) = inputs(cc, seed: 77)
            let plain = conv(x, w, b, cc)
            assertClose(conv(x.channelsLast(), w, b, cc), plain, tolerance: 0, "channels-last input \(cc)")
            // A strided view (a crop of a larger tensor) as input.
            let big = randomNormal([cc.n, cc.c, cc.h + 3, cc.w + 2], seed: 78)
            let crop = big.sliced(axis: 2, 1..<(cc.h + 1)).sliced(axis: 3, 2..<(cc.w + 2))
            let ref = Self.naiveConv(Tensor(shape: crop.shape, scalars: crop.scalars), w, b, cc)
            assertClose(conv(crop, w, b, cc), ref.values, shape: ref.shape, tolerance: 1e-5, "cropped input \(cc)")
            // Weights given as a non-contiguous view.
            let wt = Tensor(shape: [w.shape[1], w.shape[0], w.shape[2], w.shape[3]],
                            scalars: w.transposed(0, 1).scalars).transposed(0, 1)
            assertClose(conv(x, wt, b, cc), plain, tolerance: 0, "transposed weight view \(cc)")
        }
    }

    /// Chaining convolutions keeps the channels-last layout from layer to layer.
    func testChainedConvolutions() {
        let x = randomNormal([1, 3, 12, 12], seed: 90)
        let c1 = ConvCase(c: 3, h: 12, w: 12, o: 8, stride: 2, padding: .same)
        let c2 = ConvCase(c: 8, h: 6, w: 6, o: 8, padding: .symmetric(1), groups: 8)
        let (_, w1, b1) = inputs(c1, seed: 91)
        let (_, w2, b2) = inputs(c2, seed: 92)
        let y1 = conv(x, w1, b1, c1).relu()
        XCTAssertTrue(y1.isChannelsLast)
        let y2 = conv(y1, w2, b2, c2)
        let r1 = Self.naiveConv(x, w1, b1, c1)
        let h1 = Tensor(shape: r1.shape, scalars: r1.values.map { Float(Swift.max($0, 0)) })
        let r2 = Self.naiveConv(h1, w2, b2, c2)
        assertClose(y2, r2.values, shape: r2.shape, tolerance: 1e-5)
    }

    func testInputGradientsMatchFiniteDifferences() throws {
        for (k, cc) in Self.cases.enumerated() {
            let (x, w, b) = inputs(cc, seed: UInt64(10 * k + 5))
            // Convolution is affine in x, so the central difference is exact up to rounding.
            try checkGradients(at: [x], epsilon: 0.1, tolerance: 1e-4, "\(cc)") { self.conv($0[0], w, b, cc) }
        }
    }

    /// Backward-data is the adjoint of forward: ⟨r, conv(v)⟩ = ⟨convᵀ r, v⟩ for any r and v.
    func testBackwardDataIsTheAdjoint() throws {
        for (k, cc) in Self.cases.enumerated() where k % 3 == 0 {
            let (x, w, _) = inputs(cc, seed: UInt64(10 * k + 7))
            let xt = x.requiringGradient()
            let y = conv(xt, w, nil, cc)
            let r = randomNormal(y.shape, seed: 1234)
            let gx = try gradients(of: y, withRespectTo: [xt], seed: r)[0]
            XCTAssertEqual(gx.shape, x.shape)
            let lhs = dot(withoutGradients { conv(x, w, nil, cc) }, r), rhs = dot(gx, x)
            XCTAssertEqual(lhs, rhs, accuracy: 1e-5 * Swift.max(1, Swift.abs(lhs)), "\(cc)")
        }
    }

    func testGradientThroughAConvolutionStack() throws {
        let c1 = ConvCase(c: 3, h: 10, w: 10, o: 6, stride: 2, padding: .same)
        let c2 = ConvCase(c: 6, h: 5, w: 5, o: 6, padding: .reflect(1), groups: 6)
        let (x, w1, b1) = inputs(c1, seed: 200)
        let (_, w2, b2) = inputs(c2, seed: 201)
        try checkGradients(at: [x], "conv → tanh → depthwise reflect conv → mean") {
            self.conv(self.conv($0[0], w1, b1, c1).tanh(), w2, b2, c2).mean(alongAxes: [2, 3])
        }
    }

    func testOutputSizeOfSamePadding() {
        // TF "SAME": output size ceil(input / stride) whatever the kernel.
        for (h, stride, k) in [(224, 2, 3), (225, 2, 3), (7, 1, 4), (13, 3, 5), (10, 2, 2)] {
            let x = Tensor(zeros: [1, 2, h, h + 1])
            let y = x.conv2d(weight: Tensor(zeros: [3, 2, k, k]), stride: stride, padding: .same)
            XCTAssertEqual(y.shape, [1, 3, (h + stride - 1) / stride, (h + stride) / stride], "h \(h) s \(stride) k \(k)")
        }
    }
}
