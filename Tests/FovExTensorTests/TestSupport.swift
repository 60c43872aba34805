import Foundation
import XCTest
@testable import FovExTensor

// Shared helpers for the numeric-core tests: seeded inputs, error measures and a directional
// finite-difference gradient checker whose reference sums are accumulated in Float64.

/// A tensor of normally distributed values from a fixed seed.
func randomNormal(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var g = SeededGenerator(seed: seed)
    return Tensor(randomNormal: shape, standardDeviation: scale, generator: &g)
}

/// A tensor whose elements all lie at least `margin` away from every point in `kinks`, so that
/// finite differences with a small step never straddle a non-differentiable point.
func randomAwayFrom(_ kinks: [Float], _ shape: [Int], seed: UInt64, in range: ClosedRange<Float> = -3...3,
                    margin: Float = 0.2) -> Tensor {
    var g = SeededGenerator(seed: seed)
    let values = (0..<shape.reduce(1, *)).map { _ -> Float in
        while true {
            let v = range.lowerBound + (range.upperBound - range.lowerBound) * g.nextUniform()
            if kinks.allSatisfy({ Swift.abs(v - $0) >= margin }) { return v }
        }
    }
    return Tensor(shape: shape, scalars: values)
}

/// The row-major elements of `t` widened to `Double`.
func doubles(_ t: Tensor) -> [Double] { t.scalars.map(Double.init) }

/// max |actual − expected| / max |expected| (absolute error when the reference is all zeros).
func relativeError(_ actual: [Float], _ expected: [Double]) -> Double {
    precondition(actual.count == expected.count, "comparing \(actual.count) values with \(expected.count)")
    var maxErr = 0.0, maxRef = 0.0
    for (a, e) in zip(actual, expected) {
        maxErr = Swift.max(maxErr, Swift.abs(Double(a) - e))
        maxRef = Swift.max(maxRef, Swift.abs(e))
    }
    return maxRef > 0 ? maxErr / maxRef : maxErr
}

/// Asserts that `actual` has `shape` and matches `expected` (row-major) to `tolerance` in the
/// max-norm relative error of ``relativeError(_:_:)``.
func assertClose(_ actual: Tensor, _ expected: [Double], shape: [Int]? = nil, tolerance: Double = 1e-5,
                 _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    if let shape { XCTAssertEqual(actual.shape, shape, "shape: " + message(), file: file, line: line) }
    guard actual.count == expected.count else {
        XCTFail("\(actual.count) values, expected \(expected.count): \(message())", file: file, line: line)
        return
    }
    let err = relativeError(actual.scalars, expected)
    XCTAssertLessThanOrEqual(err, tolerance, "relative error \(err): \(message())", file: file, line: line)
}

/// Asserts that two tensors have the same shape and values to `tolerance` (relative max-norm).
func assertClose(_ actual: Tensor, _ expected: Tensor, tolerance: Double = 1e-5,
                 _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    assertClose(actual, doubles(expected), shape: expected.shape, tolerance: tolerance, message(), file: file, line: line)
}

/// Element-wise check |a − e| ≤ atol + rtol·|e|, for transcendental functions whose values span
/// several orders of magnitude.
func assertElementwiseClose(_ actual: Tensor, _ expected: [Double], rtol: Double, atol: Double,
                            _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    let a = actual.scalars
    guard a.count == expected.count else {
        XCTFail("\(a.count) values, expected \(expected.count): \(message())", file: file, line: line)
        return
    }
    var worst = 0, worstRatio = 0.0
    for i in 0..<a.count {
        let ratio = Swift.abs(Double(a[i]) - expected[i]) / (atol + rtol * Swift.abs(expected[i]))
        if !(ratio <= worstRatio) { worst = i; worstRatio = ratio }
    }
    XCTAssertLessThanOrEqual(worstRatio, 1, "element \(worst): \(a[worst]) vs \(expected[worst]): \(message())",
                             file: file, line: line)
}

/// ⟨a, b⟩ accumulated in Float64.
func dot(_ a: Tensor, _ b: Tensor) -> Double {
    precondition(a.shape == b.shape, "dot of \(a.shape) and \(b.shape)")
    var s = 0.0
    for (x, y) in zip(a.scalars, b.scalars) { s += Double(x) * Double(y) }
    return s
}

/// Checks reverse-mode gradients of `f` at `inputs` against a central finite difference along a
/// random direction.
///
/// A non-scalar output is reduced to the scalar ⟨f(x), r⟩ for a random `r`, so that every output
/// element contributes. The analytic side is Σᵢ ⟨∇ᵢ, vᵢ⟩; the numerical side is
/// (⟨f(x + εv), r⟩ − ⟨f(x − εv), r⟩) / 2ε with both inner products summed in Float64, which keeps
/// Float32 rounding in the outputs from swamping the difference. The error is measured against
/// |analytic|, or against a tenth of Σ|∇ᵢ·vᵢ| when the terms happen to cancel.
func checkGradients(at inputs: [Tensor], epsilon: Float = 1e-2, tolerance: Double = 1e-3, seed: UInt64 = 99,
                    _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line,
                    _ f: ([Tensor]) -> Tensor) throws {
    let tracked = inputs.map { $0.requiringGradient() }
    let y = f(tracked)
    let r = y.count == 1 ? Tensor(repeating: 1, shape: y.shape) : randomNormal(y.shape, seed: seed)
    let grads = try gradients(of: (y * r).sum(), withRespectTo: tracked)
    let directions = inputs.enumerated().map { randomNormal($0.element.shape, seed: seed &+ 1 &+ UInt64($0.offset)) }

    var analytic = 0.0, magnitude = 0.0
    for (g, v) in zip(grads, directions) {
        XCTAssertEqual(g.shape, v.shape, "gradient shape: " + message(), file: file, line: line)
        for (a, b) in zip(g.scalars, v.scalars) {
            analytic += Double(a) * Double(b)
            magnitude += Swift.abs(Double(a) * Double(b))
        }
    }
    let numeric = withoutGradients { () -> Double in
        let plus = f(zip(inputs, directions).map { $0 + $1 * epsilon })
        let minus = f(zip(inputs, directions).map { $0 - $1 * epsilon })
        return (dot(plus, r) - dot(minus, r)) / (2 * Double(epsilon))
    }
    let scale = Swift.max(Swift.abs(analytic), 0.1 * magnitude, 1e-12)
    let err = Swift.abs(numeric - analytic) / scale
    XCTAssertLessThanOrEqual(err, tolerance, "gradient: analytic \(analytic), finite difference \(numeric): \(message())",
                             file: file, line: line)
}

/// Runs `body` for every multi-index of `shape` in row-major order.
func forEachIndex(_ shape: [Int], _ body: ([Int]) -> Void) {
    let n = shape.reduce(1, *)
    guard n > 0 else { return }
    var idx = [Int](repeating: 0, count: shape.count)
    for _ in 0..<n {
        body(idx)
        var k = shape.count - 1
        while k >= 0 {
            idx[k] += 1
            if idx[k] < shape[k] { break }
            idx[k] = 0
            k -= 1
        }
    }
}

/// Row-major flat index of `idx` in `shape`.
func flatIndex(_ idx: [Int], _ shape: [Int]) -> Int {
    var o = 0
    for (i, d) in zip(idx, shape) { o = o * d + i }
    return o
}

/// A convolution's input gradient by the definition, in Float64: the transposed convolution of the NCHW output
/// gradient `g` with OIHW weights `w`, dx[b, c, y, x] = Σ w[o, c, a, e] · g[b, o, i, j] over
/// s·i + d·a − top = y and s·j + d·e − left = x.
func naiveConvInputGradient(_ g: Tensor, _ w: Tensor, inputShape: [Int], stride s: Int = 1, dilation d: Int = 1,
                            top: Int, left: Int) -> [Double] {
    let (n, c, h, wd) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
    let (o, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
    let (oh, ow) = (g.shape[2], g.shape[3])
    let gs = g.contiguous().scalars, ws = w.scalars
    var dx = [Double](repeating: 0, count: n * c * h * wd)
    for b in 0..<n { for oc in 0..<o { for i in 0..<oh { for j in 0..<ow {
        let gv = Double(gs[((b * o + oc) * oh + i) * ow + j])
        for ci in 0..<c { for a in 0..<kh { for e in 0..<kw {
            let (y, x) = (s * i + d * a - top, s * j + d * e - left)
            guard y >= 0 && y < h && x >= 0 && x < wd else { continue }
            dx[((b * c + ci) * h + y) * wd + x] += gv * Double(ws[((oc * c + ci) * kh + a) * kw + e])
        }}}
    }}}}
    return dx
}
