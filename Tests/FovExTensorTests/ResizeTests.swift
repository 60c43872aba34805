import XCTest
@testable import FovExTensor

final class ResizeTests: XCTestCase {
    /// Per-axis weights of PyTorch's interpolation, derived from its definitions in Float64:
    /// output i sits at source coordinate scale·(i + ½) − ½.
    private func referenceWeights(from n: Int, to m: Int, method: ResizeMethod, antialias: Bool) -> [[Double]] {
        let scale = Double(n) / Double(m)
        return (0..<m).map { i in
            var row = [Double](repeating: 0, count: n)
            if antialias {
                // Filter stretched by the scale when shrinking, sampled at the covered pixel centres, normalised.
                let stretch = Swift.max(scale, 1)
                let center = scale * (Double(i) + 0.5)
                let radius = (method == .bilinear ? 1.0 : 2.0) * stretch
                for j in 0..<n where Swift.abs(Double(j) + 0.5 - center) < radius + 0.5 {
                    let x = Swift.abs(Double(j) + 0.5 - center) / stretch
                    row[j] = method == .bilinear ? Swift.max(0, 1 - x) : keys(x, a: -0.5)
                }
                let total = row.reduce(0, +)
                return row.map { $0 / total }
            }
            let source = scale * (Double(i) + 0.5) - 0.5
            if method == .bilinear {
                let s = Swift.max(source, 0)
                let i0 = Int(s), i1 = Swift.min(i0 + 1, n - 1)
                row[i0] += 1 - (s - Double(i0))
                row[i1] += s - Double(i0)
            } else {
                let i0 = Int(source.rounded(.down))
                for k in -1...2 {
                    row[Swift.min(Swift.max(i0 + k, 0), n - 1)] += keys(Swift.abs(source - Double(i0 + k)), a: -0.75)
                }
            }
            return row
        }
    }

    private func keys(_ x: Double, a: Double) -> Double {
        if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
        if x < 2 { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
        return 0
    }

    /// out[n, c, i, j] = Σ_{y,x} Wh[i][y] · in[n, c, y, x] · Ww[j][x], in Float64.
    private func referenceResize(_ x: Tensor, _ h: Int, _ w: Int, _ method: ResizeMethod, _ antialias: Bool) -> [Double] {
        let (n, c, ih, iw) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let wh = referenceWeights(from: ih, to: h, method: method, antialias: antialias)
        let ww = referenceWeights(from: iw, to: w, method: method, antialias: antialias)
        var out: [Double] = []
        for b in 0..<n { for ch in 0..<c { for i in 0..<h { for j in 0..<w {
            var s = 0.0
            for y in 0..<ih where wh[i][y] != 0 {
                for xx in 0..<iw where ww[j][xx] != 0 { s += wh[i][y] * Double(x[b, ch, y, xx]) * ww[j][xx] }
            }
            out.append(s)
        }}}}
        return out
    }

    private let sizes = [(7, 9), (20, 31), (5, 40), (13, 17)]

    func testForwardMatchesReference() {
        let x = randomNormal([2, 3, 13, 17], seed: 11)
        for method in [ResizeMethod.bilinear, .bicubic] {
            for antialias in [false, true] {
                for (h, w) in sizes {
                    assertClose(x.resized(height: h, width: w, method: method, antialias: antialias),
                                referenceResize(x, h, w, method, antialias), shape: [2, 3, h, w], tolerance: 2e-6,
                                "\(method) antialias \(antialias) to \(h)×\(w)")
                }
            }
        }
    }

    func testChannelsLastAndSingleChannelMaps() {
        let x = randomNormal([1, 5, 12, 10], seed: 12)
        assertClose(x.channelsLast().resized(height: 6, width: 15), x.resized(height: 6, width: 15), tolerance: 1e-7)
        let map = randomNormal([3, 1, 7, 7], seed: 13)
        assertClose(map.resized(height: 224, width: 224), referenceResize(map, 224, 224, .bilinear, false),
                    shape: [3, 1, 224, 224], tolerance: 2e-6)
    }

    func testConstantsStayConstantAndSameSizeIsIdentity() {
        let flat = Tensor(repeating: 0.7, shape: [1, 2, 9, 11])
        for method in [ResizeMethod.bilinear, .bicubic] {
            for antialias in [false, true] {
                for (h, w) in sizes {
                    let y = flat.resized(height: h, width: w, method: method, antialias: antialias)
                    XCTAssertLessThan(y.scalars.map { Swift.abs($0 - 0.7) }.max()!, 1e-6, "\(method) \(antialias) \(h)×\(w)")
                }
            }
        }
        let x = randomNormal([1, 2, 9, 11], seed: 14)
        for method in [ResizeMethod.bilinear, .bicubic] {
            XCTAssertEqual(x.resized(height: 9, width: 11, method: method).scalars, x.scalars, "\(method)")
        }
    }

    func testGradients() throws {
        let x = randomNormal([2, 2, 10, 13], seed: 15)
        for method in [ResizeMethod.bilinear, .bicubic, .nearest] {
            for antialias in [false, true] {
                for (h, w) in [(4, 6), (17, 29), (10, 5)] {
                    try checkGradients(at: [x], "\(method) antialias \(antialias) to \(h)×\(w)") {
                        $0[0].resized(height: h, width: w, method: method, antialias: antialias)
                    }
                }
            }
        }
    }

    func testMatchesPyTorch() throws {
        let fixture = try OpsFixture("ops_resize")
        let cases = try fixture.cases
        XCTAssertEqual(cases.count, 16)
        for (name, s) in cases {
            let x = try fixture.tensor(s["input"] as! String)
            let method = ResizeMethod(rawValue: s["method"] as! String)!
            let (h, w, aa) = (s["height"] as! Int, s["width"] as! Int, s["antialias"] as! Bool)
            try fixture.check(name, input: x, tolerance: 3e-6) { $0.resized(height: h, width: w, method: method, antialias: aa) }
        }
    }
}
