import XCTest
@testable import FovExTensor

final class BlurTests: XCTestCase {
    /// A direct 2-D convolution with the K×K outer-product Gaussian, padding each plane by K/2
    /// (reflected without repeating the edge, or zeros), in Float64.
    private func referenceBlur(_ x: Tensor, _ k: Int, _ sigma: Double, reflect: Bool) -> [Double] {
        let half = k / 2
        let g = (0..<k).map { Foundation.exp(-0.5 * Foundation.pow((Double($0) - Double(half)) / sigma, 2)) }
        let total = g.reduce(0, +)
        let kernel = g.map { $0 / total }
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        func source(_ i: Int, _ size: Int) -> Int? {
            if i >= 0 && i < size { return i }
            if !reflect { return nil }
            return i < 0 ? -i : 2 * (size - 1) - i
        }
        var out: [Double] = []
        for b in 0..<n { for ch in 0..<c { for i in 0..<h { for j in 0..<w {
            var s = 0.0
            for u in 0..<k {
                guard let y = source(i + u - half, h) else { continue }
                for v in 0..<k {
                    guard let xx = source(j + v - half, w) else { continue }
                    s += kernel[u] * kernel[v] * Double(x[b, ch, y, xx])
                }
            }
            out.append(s)
        }}}}
        return out
    }

    func testKernelIsTorchvisions() {
        let k = Tensor.gaussianKernel(size: 5, sigma: 1.2)
        XCTAssertEqual(Double(k.reduce(0, +)), 1, accuracy: 1e-6)
        let raw = [-2.0, -1, 0, 1, 2].map { Foundation.exp(-0.5 * $0 * $0 / (1.2 * 1.2)) }
        for (a, b) in zip(k, raw) { XCTAssertEqual(Double(a), b / raw.reduce(0, +), accuracy: 1e-7) }
    }

    func testForwardMatchesReference() {
        let x = randomNormal([2, 3, 17, 14], seed: 21)
        for (k, sigma) in [(3, 0.8), (7, 1.5), (11, 5.0)] {
            assertClose(x.gaussianBlurred(kernelSize: k, sigma: Float(sigma)), referenceBlur(x, k, sigma, reflect: true),
                        shape: x.shape, tolerance: 1e-6, "reflect K \(k)")
            assertClose(x.gaussianBlurred(kernelSize: k, sigma: Float(sigma), padding: .zeros),
                        referenceBlur(x, k, sigma, reflect: false), shape: x.shape, tolerance: 1e-6, "zeros K \(k)")
        }
        let big = randomNormal([1, 1, 45, 50], seed: 22)
        assertClose(big.gaussianBlurred(kernelSize: 41, sigma: 10), referenceBlur(big, 41, 10, reflect: true),
                    shape: big.shape, tolerance: 1e-6, "K 41")
    }

    func testConstantImageIsUnchanged() {
        let flat = Tensor(repeating: 0.25, shape: [1, 3, 30, 30])
        let y = flat.gaussianBlurred(kernelSize: 41, sigma: 10)
        XCTAssertLessThan(y.scalars.map { Swift.abs($0 - 0.25) }.max()!, 1e-6)
    }

    func testGradients() throws {
        let x = randomNormal([2, 2, 15, 12], seed: 23)
        try checkGradients(at: [x], "reflect") { $0[0].gaussianBlurred(kernelSize: 9, sigma: 2) }
        try checkGradients(at: [x], "zeros") { $0[0].gaussianBlurred(kernelSize: 5, sigma: 1, padding: .zeros) }
        try checkGradients(at: [x.channelsLast()], "channels-last input") { $0[0].gaussianBlurred(kernelSize: 11, sigma: 5) }
    }

    func testMatchesPyTorch() throws {
        let fixture = try OpsFixture("ops_blur")
        let cases = try fixture.cases
        XCTAssertEqual(cases.count, 3)
        for (name, s) in cases {
            let x = try fixture.tensor(s["input"] as! String)
            let (k, sigma) = (s["kernel"] as! Int, Float(s["sigma"] as! Double))
            try fixture.check(name, input: x, tolerance: 2e-6) { $0.gaussianBlurred(kernelSize: k, sigma: sigma) }
        }
    }
}
