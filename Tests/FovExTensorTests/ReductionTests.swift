import Foundation
import XCTest
@testable import FovExTensor

final class ReductionTests: XCTestCase {
    /// Reference reduction: groups the elements of `x` by their index on the kept axes and folds each group.
    private func reference(_ x: Tensor, axes: [Int], keep: Bool,
                           _ fold: ([Double]) -> Double) -> (shape: [Int], values: [Double]) {
        let red = Set(axes.isEmpty ? Array(0..<x.rank) : axes.map { $0 < 0 ? $0 + x.rank : $0 })
        let keptAxes = (0..<x.rank).filter { !red.contains($0) }
        let keptShape = keptAxes.map { x.shape[$0] }
        let values = x.scalars
        var groups = [[Double]](repeating: [], count: keptShape.reduce(1, *))
        forEachIndex(x.shape) { i in
            groups[flatIndex(keptAxes.map { i[$0] }, keptShape)].append(Double(values[flatIndex(i, x.shape)]))
        }
        let shape = keep ? x.shape.enumerated().map { red.contains($0.offset) ? 1 : $0.element } : keptShape
        return (shape, groups.map(fold))
    }

    private let axisSets: [[Int]] = [[], [0], [1], [3], [-1], [0, 2], [1, 3], [0, 1, 2, 3], [3, 1]]

    func testSumMeanMaxMinVariance() {
        let x = randomNormal([3, 4, 5, 6], seed: 1)
        for axes in axisSets {
            for keep in [false, true] {
                let label = "axes \(axes) keep \(keep)"
                let sum = reference(x, axes: axes, keep: keep) { $0.reduce(0, +) }
                assertClose(x.sum(alongAxes: axes, keepingDimensions: keep), sum.values, shape: sum.shape,
                            tolerance: 1e-6, "sum " + label)
                let mean = reference(x, axes: axes, keep: keep) { $0.reduce(0, +) / Double($0.count) }
                assertClose(x.mean(alongAxes: axes, keepingDimensions: keep), mean.values, shape: mean.shape,
                            tolerance: 1e-6, "mean " + label)
                let mx = reference(x, axes: axes, keep: keep) { $0.max()! }
                assertClose(x.max(alongAxes: axes, keepingDimensions: keep), mx.values, shape: mx.shape,
                            tolerance: 0, "max " + label)
                let mn = reference(x, axes: axes, keep: keep) { $0.min()! }
                assertClose(x.min(alongAxes: axes, keepingDimensions: keep), mn.values, shape: mn.shape,
                            tolerance: 0, "min " + label)
                let v = reference(x, axes: axes, keep: keep) { g in
                    let m = g.reduce(0, +) / Double(g.count)
                    return g.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(g.count)
                }
                assertClose(x.variance(alongAxes: axes, keepingDimensions: keep), v.values, shape: v.shape,
                            tolerance: 1e-5, "variance " + label)
            }
        }
    }

    func testReductionsOfViews() {
        let base = randomNormal([4, 6, 5], seed: 2)
        let x = base.permuted(2, 0, 1).sliced(axis: 2, 1..<5)  // [5, 4, 4], strided
        let dense = Tensor(shape: x.shape, scalars: x.scalars)
        for axes in [[0], [1, 2], [-1]] {
            assertClose(x.sum(alongAxes: axes), dense.sum(alongAxes: axes), tolerance: 1e-6)
            assertClose(x.max(alongAxes: axes), dense.max(alongAxes: axes), tolerance: 0)
        }
        let cl = randomNormal([2, 3, 4, 5], seed: 3)
        assertClose(cl.channelsLast().mean(alongAxes: [2, 3]), cl.mean(alongAxes: [2, 3]), tolerance: 1e-6)
    }

    /// Running sums in all four directions against sums written out, on a view, with finite-difference gradients.
    func testCumulativeSum() throws {
        let x = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(x.cumulativeSum(alongAxis: 1).scalars, [1, 3, 6, 4, 9, 15])
        XCTAssertEqual(x.cumulativeSum(alongAxis: 1, exclusive: true).scalars, [0, 1, 3, 0, 4, 9])
        XCTAssertEqual(x.cumulativeSum(alongAxis: 1, reverse: true).scalars, [6, 5, 3, 15, 11, 6])
        XCTAssertEqual(x.cumulativeSum(alongAxis: -1, exclusive: true, reverse: true).scalars, [5, 3, 0, 11, 6, 0])
        XCTAssertEqual(x.cumulativeSum(alongAxis: 0).scalars, [1, 2, 3, 5, 7, 9])
        XCTAssertEqual(x.transposed().cumulativeSum(alongAxis: 1).scalars, [1, 5, 2, 7, 3, 9])
        let y = randomNormal([3, 4, 5], seed: 31)
        for axis in 0..<3 {
            for (exclusive, reverse) in [(false, false), (true, false), (false, true), (true, true)] {
                try checkGradients(at: [y], "cumulative sum axis \(axis) exclusive \(exclusive) reverse \(reverse)") {
                    $0[0].cumulativeSum(alongAxis: axis, exclusive: exclusive, reverse: reverse).tanh()
                }
            }
        }
    }

    func testArgmaxArgmin() {
        let x = randomNormal([4, 7, 3], seed: 4)
        for axis in [0, 1, 2] {
            let am = x.argmax(alongAxis: axis), an = x.argmin(alongAxis: axis)
            let kept = (0..<3).filter { $0 != axis }
            let keptShape = kept.map { x.shape[$0] }
            XCTAssertEqual(am.count, keptShape.reduce(1, *))
            forEachIndex(keptShape) { k in
                let values = (0..<x.shape[axis]).map { j -> Float in
                    var i = [0, 0, 0]
                    i[kept[0]] = k[0]; i[kept[1]] = k[1]; i[axis] = j
                    return x[i[0], i[1], i[2]]
                }
                let o = flatIndex(k, keptShape)
                XCTAssertEqual(am[o], values.indices.max { values[$0] < values[$1] }, "argmax axis \(axis)")
                XCTAssertEqual(an[o], values.indices.min { values[$0] < values[$1] }, "argmin axis \(axis)")
            }
        }
        XCTAssertEqual(Tensor(shape: [2, 3], scalars: [1, 5, 5, 2, 2, 0]).argmax(alongAxis: 1), [1, 0], "first on ties")
    }

    func testLogSumExp() {
        let x = randomNormal([3, 5, 8], seed: 5, scale: 4)
        for axes in [[2], [0, 2], [1]] {
            for keep in [false, true] {
                let ref = reference(x, axes: axes, keep: keep) { g in
                    let m = g.max()!
                    return m + Foundation.log(g.reduce(0) { $0 + Foundation.exp($1 - m) })
                }
                assertClose(x.logSumExp(alongAxes: axes, keepingDimensions: keep), ref.values, shape: ref.shape,
                            tolerance: 1e-6, "axes \(axes) keep \(keep)")
            }
        }
        // Stable for values whose exponentials overflow Float.
        let big = Tensor(shape: [1, 3], scalars: [1000, 999, -1000])
        XCTAssertEqual(Double(big.logSumExp(alongAxes: [1]).scalar), 1000 + Foundation.log(1 + Foundation.exp(-1.0)),
                       accuracy: 1e-3)
    }

    private func referenceSoftmax(_ row: [Double]) -> [Double] {
        let m = row.max()!
        let e = row.map { Foundation.exp($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    func testSoftmaxFamily() {
        // 2·3·61 rows of 37: the row length is not a multiple of 16, and softmax splits rows over threads.
        for shape in [[2, 3, 37], [366, 37], [4, 200]] {
            let x = randomNormal(shape, seed: 6, scale: 3)
            let n = shape.last!
            let xs = doubles(x)
            let rows = stride(from: 0, to: x.count, by: n).map { Array(xs[$0..<($0 + n)]) }
            let soft = rows.flatMap(referenceSoftmax)
            assertElementwiseClose(x.softmax(), soft, rtol: 1e-5, atol: 1e-8, "softmax \(shape)")
            let logSoft = rows.flatMap { r -> [Double] in
                let m = r.max()!
                let lse = m + Foundation.log(r.reduce(0) { $0 + Foundation.exp($1 - m) })
                return r.map { $0 - lse }
            }
            assertClose(x.logSoftmax(), logSoft, shape: shape, tolerance: 1e-6, "log-softmax \(shape)")
        }
        let transposed = randomNormal([9, 4], seed: 7).transposed()
        assertClose(transposed.softmax(), transposed.contiguous().softmax(), tolerance: 1e-7)
        let extreme = Tensor(shape: [1, 3], scalars: [1000, 0, -1000]).softmax().scalars
        XCTAssertEqual(extreme, [1, 0, 0])
        // A NaN anywhere in a row (in the vector part or the tail) makes the row NaN, and only that row.
        for position in [3, 18] {
            var scalars = (0..<40).map { Float($0) / 10 }
            scalars[position] = .nan
            let rows = Tensor(shape: [2, 20], scalars: scalars).softmax().scalars
            XCTAssertTrue(rows[0..<20].allSatisfy(\.isNaN), "NaN at \(position)")
            XCTAssertTrue(rows[20..<40].allSatisfy(\.isFinite), "NaN at \(position)")
        }
    }

    /// Softmax's input gradient, dx = y ⊙ (g − Σ g⊙y), against the formula in Float64 on rows as long as
    /// ViT-B/16's attention rows (197: twelve vectors and a tail) and enough of them to be split over threads.
    func testSoftmaxGradientOnAttentionRows() throws {
        let x = randomNormal([3, 4, 60, 197], seed: 12, scale: 3).requiringGradient()
        let g = randomNormal([3, 4, 60, 197], seed: 13)
        let y = x.softmax()
        let dx = try gradients(of: y, withRespectTo: [x], seed: g)[0]
        let (ys, gs) = (doubles(y), doubles(g))
        var expected = [Double](repeating: 0, count: ys.count)
        for start in stride(from: 0, to: ys.count, by: 197) {
            let dot = (start..<(start + 197)).reduce(0.0) { $0 + gs[$1] * ys[$1] }
            for i in start..<(start + 197) { expected[i] = ys[i] * (gs[i] - dot) }
        }
        assertElementwiseClose(dx, expected, rtol: 1e-4, atol: 1e-7, "softmax gradient")
    }

    func testCrossEntropy() {
        let logits = randomNormal([6, 11], seed: 8, scale: 3)
        let labels = [0, 10, 3, 3, 7, 5]
        let ce = logits.crossEntropy(labels: labels)
        let expected = labels.enumerated().map { i, l -> Double in
            let r = (0..<11).map { Double(logits[i, $0]) }
            let m = r.max()!
            return m + Foundation.log(r.reduce(0) { $0 + Foundation.exp($1 - m) }) - r[l]
        }
        assertClose(ce, expected, shape: [6], tolerance: 1e-6)
    }

    func testReductionGradients() throws {
        let x = randomNormal([3, 4, 5], seed: 9)
        for axes in [[], [0], [2], [0, 2], [-2]] {
            try checkGradients(at: [x], "sum \(axes)") { ($0[0].sum(alongAxes: axes) * 0.2).tanh() }
            try checkGradients(at: [x], "mean \(axes) keep") { $0[0].mean(alongAxes: axes, keepingDimensions: true) * $0[0] }
            try checkGradients(at: [x], "variance \(axes)") { $0[0].variance(alongAxes: axes) }
            try checkGradients(at: [x], "max \(axes)") { $0[0].max(alongAxes: axes) }
            try checkGradients(at: [x], "min \(axes) keep") { $0[0].min(alongAxes: axes, keepingDimensions: true) }
        }
        for axes in [[2], [0, 1]] {
            try checkGradients(at: [x], "logsumexp \(axes)") { $0[0].logSumExp(alongAxes: axes) }
        }
        let wide = randomNormal([5, 3, 19], seed: 10, scale: 2)
        try checkGradients(at: [wide], "softmax") { $0[0].softmax() }
        try checkGradients(at: [wide], "log-softmax") { $0[0].logSoftmax() }
        try checkGradients(at: [wide.transposed()], "softmax of a transposed view") { $0[0].softmax() }
        try checkGradients(at: [randomNormal([6, 11], seed: 11, scale: 3)], "cross-entropy") {
            $0[0].crossEntropy(labels: [0, 10, 3, 3, 7, 5])
        }
    }

    func testMaxGradientGoesToTheFirstMaximum() throws {
        let x = Tensor(shape: [2, 3], scalars: [1, 4, 4, -2, -5, -2]).requiringGradient()
        let g = try gradients(of: x.max(alongAxes: [1]).sum(), withRespectTo: [x])[0]
        XCTAssertEqual(g.scalars, [0, 1, 0, 1, 0, 0])
        let gm = try gradients(of: x.min(alongAxes: [0]).sum(), withRespectTo: [x])[0]
        XCTAssertEqual(gm.scalars, [0, 0, 0, 1, 1, 1])
    }
}
