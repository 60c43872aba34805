import XCTest
@testable import FovExTensor

final class PoolingTests: XCTestCase {
    /// Input values that are a shuffled ramp 0.1 apart, so no window has a tie and finite differences
    /// with steps under 0.05 never change a window's arg-max.
    private func distinctValues(_ shape: [Int], seed: UInt64) -> Tensor {
        var g = SeededGenerator(seed: seed)
        let n = shape.reduce(1, *)
        let values = (0..<n).map { Float($0) * 0.1 - Float(n) * 0.05 }.shuffled(using: &g)
        return Tensor(shape: shape, scalars: values)
    }

    /// A direct loop over windows: returns the pooled values and, per output, the flat input indices
    /// of its window's elements (padding excluded) and its average divisor.
    private func referencePool(_ x: Tensor, rows: [(Int, Int)], columns: [(Int, Int)], h: Int, w: Int,
                               isMax: Bool, divisor: (Int, Int, Int) -> Int) -> (values: [Double], argmax: [Int]) {
        let (n, c) = (x.shape[0], x.shape[1])
        var values: [Double] = [], argmax: [Int] = []
        for b in 0..<n { for ch in 0..<c { for (i, r) in rows.enumerated() { for (j, q) in columns.enumerated() {
            var best = -Double.infinity, at = -1, sum = 0.0, covered = 0
            for y in r.0..<r.1 where y >= 0 && y < h {
                for xx in q.0..<q.1 where xx >= 0 && xx < w {
                    let v = Double(x[b, ch, y, xx])
                    sum += v
                    covered += 1
                    if v > best { best = v; at = ((b * c + ch) * h + y) * w + xx }
                }
            }
            values.append(isMax ? best : sum / Double(divisor(i, j, covered)))
            argmax.append(at)
        }}}}
        return (values, argmax)
    }

    private func slidingWindows(_ size: Int, _ k: Int, _ s: Int, _ p: Int) -> [(Int, Int)] {
        (0..<((size + 2 * p - k) / s + 1)).map { ($0 * s - p, $0 * s - p + k) }
    }

    private let settings = [(3, 2, 1), (2, 2, 0), (3, 1, 0), (4, 3, 2)]

    func testMaxPoolForwardAndGradientMatchReference() throws {
        // 20 channels take the vectorised channels-last kernel (a partial last vector included); 3 the planar one.
        for channels in [20, 3] {
            let x = distinctValues([2, channels, 11, 10], seed: 31)
            for (k, s, p) in settings {
                let (rows, cols) = (slidingWindows(11, k, s, p), slidingWindows(10, k, s, p))
                let ref = referencePool(x, rows: rows, columns: cols, h: 11, w: 10, isMax: true) { _, _, _ in 1 }
                let outShape = [2, channels, rows.count, cols.count]
                let upstream = randomNormal(outShape, seed: 32)
                var expected = [Double](repeating: 0, count: x.count)
                for (o, at) in ref.argmax.enumerated() { expected[at] += Double(upstream.scalars[o]) }
                for input in [x, x.channelsLast()] {
                    let what = "C \(channels) k\(k) s\(s) p\(p) channels-last \(input.isChannelsLast)"
                    let xt = input.requiringGradient()
                    let y = xt.maxPool2d(kernel: k, stride: s, padding: p)
                    assertClose(y, ref.values, shape: outShape, tolerance: 0, what)
                    XCTAssertEqual(y.isChannelsLast, input.isChannelsLast, "layout kept: " + what)
                    let dx = try gradients(of: y, withRespectTo: [xt], seed: upstream)[0]
                    assertClose(dx, expected, shape: x.shape, tolerance: 1e-6, "gradient " + what)
                    try checkGradients(at: [input], tolerance: 1e-3, what) { $0[0].maxPool2d(kernel: k, stride: s, padding: p) }
                }
            }
        }
    }

    func testInferenceMaxPoolMatchesReference() {
        // Without recording, max pooling skips the arg-max; the values must not change. 72 channels run the
        // four-vector kernel plus a partial vector, 3 the planar one.
        for channels in [72, 3] {
            let x = distinctValues([2, channels, 11, 10], seed: 33)
            for (k, s, p) in settings {
                let (rows, cols) = (slidingWindows(11, k, s, p), slidingWindows(10, k, s, p))
                let ref = referencePool(x, rows: rows, columns: cols, h: 11, w: 10, isMax: true) { _, _, _ in 1 }
                for input in [x, x.channelsLast()] {
                    let y = withoutGradients { input.maxPool2d(kernel: k, stride: s, padding: p) }
                    assertClose(y, ref.values, shape: [2, channels, rows.count, cols.count], tolerance: 0,
                                "C \(channels) k\(k) s\(s) p\(p) channels-last \(input.isChannelsLast)")
                }
            }
        }
    }

    func testMaxPoolTiesSendGradientToFirstElement() throws {
        let x = Tensor(shape: [1, 1, 2, 4], scalars: [1, 5, 5, 2,
                                                      5, 0, 2, 5]).requiringGradient()
        for input in [x, x.channelsLast()] {
            let y = input.maxPool2d(kernel: 2)
            XCTAssertEqual(y.scalars, [5, 5])
            let dx = try gradients(of: y.sum(), withRespectTo: [x])[0]
            XCTAssertEqual(dx.scalars, [0, 1, 1, 0,
                                        0, 0, 0, 0])
        }
    }

    func testMaxPoolPropagatesNaN() {
        let x = Tensor(shape: [1, 1, 2, 2], scalars: [1, .nan, 3, 2])
        XCTAssertTrue(x.maxPool2d(kernel: 2).scalar.isNaN)
        XCTAssertTrue(x.channelsLast().maxPool2d(kernel: 2).scalar.isNaN)
        // 64 channels take the four-vector kernels, recorded (with arg-max) and not: a NaN anywhere in a window
        // wins in its channel only, wherever it comes in the window.
        for position in 0..<4 {
            var values = [Float](repeating: 0, count: 64 * 4)
            for ch in 0..<64 { for p in 0..<4 { values[ch * 4 + p] = Float(ch + p) } }
            for ch in [0, 17, 63] { values[ch * 4 + position] = .nan }
            let planar = Tensor(shape: [1, 64, 2, 2], scalars: values)
            for recording in [false, true] {
                let input = recording ? planar.channelsLast().requiringGradient() : planar.channelsLast()
                let y = recording ? input.maxPool2d(kernel: 2) : withoutGradients { input.maxPool2d(kernel: 2) }
                let out = y.scalars
                for ch in 0..<64 {
                    if [0, 17, 63].contains(ch) { XCTAssertTrue(out[ch].isNaN, "channel \(ch), NaN at \(position)") }
                    else { XCTAssertEqual(out[ch], Float(ch + 3), "channel \(ch), NaN at \(position)") }
                }
            }
        }
    }

    func testAvgPoolMatchesReference() throws {
        let x = randomNormal([2, 19, 11, 10], seed: 33)
        for (k, s, p) in settings {
            let (rows, cols) = (slidingWindows(11, k, s, p), slidingWindows(10, k, s, p))
            for includePad in [true, false] {
                let ref = referencePool(x, rows: rows, columns: cols, h: 11, w: 10, isMax: false) { i, j, covered in
                    // PyTorch's divisor with padding counted: the window clipped to the padded input.
                    let hh = Swift.min(rows[i].1, 11 + p) - rows[i].0, ww = Swift.min(cols[j].1, 10 + p) - cols[j].0
                    return includePad ? hh * ww : covered
                }
                for input in [x, x.channelsLast()] {
                    let y = input.avgPool2d(kernel: k, stride: s, padding: p, countIncludePad: includePad)
                    assertClose(y, ref.values, shape: [2, 19, rows.count, cols.count], tolerance: 1e-6,
                                "k\(k) s\(s) p\(p) includePad \(includePad)")
                    try checkGradients(at: [input], "k\(k) s\(s) p\(p) includePad \(includePad)") {
                        $0[0].avgPool2d(kernel: k, stride: s, padding: p, countIncludePad: includePad)
                    }
                }
            }
        }
    }

    func testAdaptiveAvgPoolMatchesReference() throws {
        let x = randomNormal([2, 17, 11, 10], seed: 34)
        for (oh, ow) in [(3, 4), (11, 10), (13, 7), (1, 1)] {
            let bins = { (size: Int, out: Int) in (0..<out).map { ($0 * size / out, (($0 + 1) * size + out - 1) / out) } }
            let ref = referencePool(x, rows: bins(11, oh), columns: bins(10, ow), h: 11, w: 10, isMax: false) { _, _, c in c }
            for input in [x, x.channelsLast()] {
                let y = input.adaptiveAvgPool2d(outputSize: (oh, ow))
                assertClose(y, ref.values, shape: [2, 17, oh, ow], tolerance: 1e-6, "\(oh)×\(ow)")
                try checkGradients(at: [input], "\(oh)×\(ow)") { $0[0].adaptiveAvgPool2d(outputSize: (oh, ow)) }
            }
        }
        XCTAssertEqual(x.adaptiveAvgPool2d(outputSize: 3).shape, [2, 17, 3, 3])
    }

    func testGlobalAvgPool() throws {
        let x = randomNormal([3, 40, 9, 12], seed: 35)
        var expected: [Double] = []
        for b in 0..<3 {
            for c in 0..<40 {
                var s = 0.0
                for y in 0..<9 { for xx in 0..<12 { s += Double(x[b, c, y, xx]) } }
                expected.append(s / 108)
            }
        }
        for input in [x, x.channelsLast()] {
            assertClose(input.globalAvgPool2d(), expected, shape: [3, 40], tolerance: 1e-6)
            try checkGradients(at: [input]) { $0[0].globalAvgPool2d() }
        }
    }

    func testMatchesPyTorch() throws {
        let fixture = try OpsFixture("ops_pool")
        let x = try fixture.tensor("x")
        let cases = try fixture.cases
        XCTAssertEqual(cases.count, 8)
        for (name, s) in cases {
            let op: (Tensor) -> Tensor
            switch s["op"] as! String {
            case "max": op = { $0.maxPool2d(kernel: s["kernel"] as! Int, stride: s["stride"] as? Int, padding: s["padding"] as! Int) }
            case "avg":
                op = { $0.avgPool2d(kernel: s["kernel"] as! Int, stride: s["stride"] as? Int, padding: s["padding"] as! Int,
                                    countIncludePad: s["countIncludePad"] as! Bool) }
            case "adaptive": op = { $0.adaptiveAvgPool2d(outputSize: (s["height"] as! Int, s["width"] as! Int)) }
            default: op = { $0.globalAvgPool2d() }
            }
            try fixture.check(name, input: x, tolerance: 1e-6, op)
            try fixture.check(name, input: x.channelsLast(), tolerance: 1e-6, op)
        }
    }
}
