import XCTest
@testable import FovExTensor

final class SmokeTests: XCTestCase {
    func testConvAgainstNaive() throws {
        var g = SeededGenerator(seed: 1)
        let x = Tensor(randomNormal: [2, 4, 7, 6], generator: &g)
        let w = Tensor(randomNormal: [6, 2, 3, 3], generator: &g)
        let b = Tensor(randomNormal: [6], generator: &g)
        let y = x.conv2d(weight: w, bias: b, stride: 2, padding: .zeros(top: 1, bottom: 0, left: 2, right: 1), groups: 2)
        XCTAssertEqual(y.shape, [2, 6, 3, 4])
        // naive
        var maxErr: Float = 0
        for n in 0..<2 { for o in 0..<6 { for i in 0..<3 { for j in 0..<4 {
            var s = b[o]
            let grp = o / 3
            for c in 0..<2 { for ki in 0..<3 { for kj in 0..<3 {
                let r = i * 2 - 1 + ki, q = j * 2 - 2 + kj
                if r >= 0 && r < 7 && q >= 0 && q < 6 { s += x[n, grp * 2 + c, r, q] * w[o, c, ki, kj] }
            }}}
            maxErr = max(maxErr, abs(s - y[n, o, i, j]))
        }}}}
        XCTAssertLessThan(maxErr, 1e-4)
        // gradient: adjoint identity <r, conv(v)> = <conv^T r, v>
        let xt = x.requiringGradient()
        let yt = xt.conv2d(weight: w, stride: 2, padding: .zeros(top: 1, bottom: 0, left: 2, right: 1), groups: 2)
        let r = Tensor(randomNormal: yt.shape, generator: &g)
        let loss = (yt * r).sum()
        let gx = try gradients(of: loss, withRespectTo: [xt])[0]
        let eps: Float = 1e-2
        let v = Tensor(randomNormal: x.shape, generator: &g)
        let lp = (x + v * eps).conv2d(weight: w, stride: 2, padding: .zeros(top: 1, bottom: 0, left: 2, right: 1), groups: 2)
        let lm = (x - v * eps).conv2d(weight: w, stride: 2, padding: .zeros(top: 1, bottom: 0, left: 2, right: 1), groups: 2)
        let fd = (((lp - lm) * r).sum().scalar) / (2 * eps)
        let an = (gx * v).sum().scalar
        XCTAssertEqual(fd, an, accuracy: 1e-3 * max(1, abs(an)))
    }

    func testMatmulAndSoftmaxGrad() throws {
        var g = SeededGenerator(seed: 2)
        let a = Tensor(randomNormal: [3, 5, 4], generator: &g).requiringGradient()
        let b = Tensor(randomNormal: [3, 4, 6], generator: &g).requiringGradient()
        let c = a.matmul(b)
        XCTAssertEqual(c[1, 2, 3], (0..<4).map { a[1, 2, $0] * b[1, $0, 3] }.reduce(0, +), accuracy: 1e-5)
        let loss = c.softmax().pow(2).sum()
        let (ga, gb) = try { let r = try gradients(of: loss, withRespectTo: [a, b]); return (r[0], r[1]) }()
        let eps: Float = 1e-2
        func f(_ a: Tensor, _ b: Tensor) -> Float { a.matmul(b).softmax().pow(2).sum().scalar }
        var e = [Float](repeating: 0, count: a.count); e[7] = eps
        let da = Tensor(shape: a.shape, scalars: e)
        XCTAssertEqual((f(a + da, b) - f(a - da, b)) / (2 * eps), ga.scalars[7], accuracy: 2e-3)
        var e2 = [Float](repeating: 0, count: b.count); e2[11] = eps
        let db = Tensor(shape: b.shape, scalars: e2)
        XCTAssertEqual((f(a, b + db) - f(a, b - db)) / (2 * eps), gb.scalars[11], accuracy: 2e-3)
        let lin = a.linear(weight: Tensor(randomNormal: [7, 4], generator: &g), bias: Tensor(randomNormal: [7], generator: &g))
        XCTAssertEqual(lin.shape, [3, 5, 7])
    }
}
