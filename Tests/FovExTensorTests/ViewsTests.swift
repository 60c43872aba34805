import Foundation
import XCTest
@testable import FovExTensor

final class ViewsTests: XCTestCase {
    func testReshapeKeepsRowMajorOrder() {
        let x = randomNormal([2, 3, 4], seed: 1)
        let r = x.reshaped([4, -1])
        XCTAssertEqual(r.shape, [4, 6])
        XCTAssertEqual(r.scalars, x.scalars)
        XCTAssertTrue(r.storage === x.storage, "reshaping a row-major tensor is a view")
        // A non-contiguous source is reshaped in its logical (row-major) order.
        let t = x.transposed(0, 2)  // [4, 3, 2]
        let rt = t.reshaped(6, 4)
        XCTAssertEqual(rt.scalars, t.contiguous().scalars)
        XCTAssertEqual(rt.shape, [6, 4])
        XCTAssertEqual(x.expandingShape(at: 1).shape, [2, 1, 3, 4])
        XCTAssertEqual(x.expandingShape(at: -1).shape, [2, 3, 4, 1])
        XCTAssertEqual(x.expandingShape(at: 0).squeezingShape().shape, [2, 3, 4])
        XCTAssertEqual(x.reshaped([1, 2, 1, 12]).squeezingShape(at: [0]).shape, [2, 1, 12])
    }

    /// Transposed views large enough for the tiled copy: sides that are not multiples of the tile, a stack of
    /// matrices whose outer axis is not the slowest in memory, a transposed slice (an offset and a column
    /// stride longer than the rows), a broadcast column, and sizes that split across the threads. Every
    /// element is checked against the view's own indexing.
    func testTransposedCopiesInTiles() {
        func check(_ v: Tensor, _ what: String) {
            var expected = [Float]()
            expected.reserveCapacity(v.count)
            if v.rank == 2 {
                for i in 0..<v.shape[0] { for j in 0..<v.shape[1] { expected.append(v[i, j]) } }
            } else {
                forEachIndex(v.shape) { i in expected.append(v[i[0], i[1], i[2]]) }
            }
            XCTAssertEqual(v.contiguous().scalars, expected, what)
        }
        check(randomNormal([130, 70], seed: 3).transposed(), "70 × 130")
        check(randomNormal([500, 300], seed: 4).transposed(), "300 × 500, two threads")
        check(randomNormal([64, 128], seed: 5).transposed(), "whole tiles")
        check(randomNormal([5, 90, 40], seed: 6).permuted(1, 2, 0), "[90, 40, 5] → [40, 5, 90]: outer stride 1 < 90")
        check(randomNormal([3, 90, 40], seed: 7).permuted(0, 2, 1), "a stack of three")
        check(randomNormal([100, 200], seed: 8).sliced(axis: 0, 10..<90).sliced(axis: 1, 7..<187).transposed(),
              "a transposed slice")
        check(randomNormal([40, 1], seed: 9).broadcast(to: [40, 33]), "a broadcast column")
    }

    func testPermuteAndTransposeIndexing() {
        let x = randomNormal([2, 3, 4, 5], seed: 2)
        let p = x.permuted(2, 0, 3, 1)
        XCTAssertEqual(p.shape, [4, 2, 5, 3])
        XCTAssertTrue(p.storage === x.storage, "permute is a view")
        forEachIndex(p.shape) { i in XCTAssertEqual(p[i[0], i[1], i[2], i[3]], x[i[1], i[3], i[0], i[2]]) }
        var expected = [Float]()
        forEachIndex(p.shape) { i in expected.append(x[i[1], i[3], i[0], i[2]]) }
        XCTAssertEqual(p.contiguous().scalars, expected)

        let t = x.transposed()  // last two axes
        XCTAssertEqual(t.shape, [2, 3, 5, 4])
        forEachIndex(t.shape) { i in XCTAssertEqual(t[i[0], i[1], i[2], i[3]], x[i[0], i[1], i[3], i[2]]) }
        let t02 = x.transposed(0, -2)
        XCTAssertEqual(t02.shape, [4, 3, 2, 5])
        XCTAssertEqual(t02[3, 1, 0, 4], x[0, 1, 3, 4])
    }

    func testSliceAndSelect() {
        let x = randomNormal([5, 6, 3], seed: 3)
        let s = x.sliced(axis: 1, 2..<5)
        XCTAssertEqual(s.shape, [5, 3, 3])
        var expected = [Float]()
        forEachIndex(s.shape) { i in expected.append(x[i[0], i[1] + 2, i[2]]) }
        XCTAssertEqual(s.scalars, expected)
        let last = x.sliced(axis: -1, 1..<3).sliced(axis: 0, 4..<5)
        XCTAssertEqual(last.shape, [1, 6, 2])
        XCTAssertEqual(last[0, 5, 1], x[4, 5, 2])
        let row = x.selecting(axis: 0, index: 3)
        XCTAssertEqual(row.shape, [6, 3])
        XCTAssertEqual(row.scalars, Array(x.scalars[54..<72]))
        let column = x.selecting(axis: 1, index: 4)
        XCTAssertEqual(column.shape, [5, 3])
        XCTAssertEqual(column[2, 1], x[2, 4, 1])
    }

    func testBroadcastIsAStrideZeroView() {
        let x = randomNormal([3, 1], seed: 4)
        let b = x.broadcast(to: [2, 3, 4])
        XCTAssertEqual(b.shape, [2, 3, 4])
        XCTAssertTrue(b.storage === x.storage)
        forEachIndex(b.shape) { i in XCTAssertEqual(b[i[0], i[1], i[2]], x[i[1], 0]) }
        XCTAssertEqual(Tensor.broadcastShape([3, 1, 5], [4, 1]), [3, 4, 5])
        XCTAssertNil(Tensor.broadcastShape([3, 2], [4, 3]))
        // summed(toShape:) is the adjoint of broadcasting.
        let g = randomNormal([2, 3, 4], seed: 5)
        var sums = [Double](repeating: 0, count: 3)
        forEachIndex(g.shape) { i in sums[i[1]] += Double(g[i[0], i[1], i[2]]) }
        assertClose(g.summed(toShape: [3, 1]), sums, shape: [3, 1], tolerance: 1e-6)
    }

    func testConcatenate() {
        let a = randomNormal([2, 3, 4], seed: 6), b = randomNormal([2, 1, 4], seed: 7), c = randomNormal([2, 2, 4], seed: 8)
        let cat = Tensor.concatenate([a, b, c], axis: 1)
        XCTAssertEqual(cat.shape, [2, 6, 4])
        forEachIndex(cat.shape) { i in
            let j = i[1]
            let v = j < 3 ? a[i[0], j, i[2]] : (j < 4 ? b[i[0], 0, i[2]] : c[i[0], j - 4, i[2]])
            XCTAssertEqual(cat[i[0], i[1], i[2]], v)
        }
        let first = Tensor.concatenate([a, a.sliced(axis: 0, 1..<2)], axis: 0)
        XCTAssertEqual(first.shape, [3, 3, 4])
        XCTAssertEqual(first.scalars, a.scalars + Array(a.scalars[12..<24]))
        // Non-contiguous parts along the last axis.
        let t = a.transposed(1, 2)  // [2, 4, 3]
        let lastAxis = Tensor.concatenate([t, t], axis: -1)
        XCTAssertEqual(lastAxis.shape, [2, 4, 6])
        XCTAssertEqual(lastAxis[1, 2, 4], a[1, 1, 2])
    }

    /// NumPy-style reference padding of the last two axes of a [N, C, H, W] tensor.
    private func referencePad(_ x: Tensor, top: Int, bottom: Int, left: Int, right: Int, reflect: Bool) -> [Double] {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        func source(_ i: Int, _ size: Int) -> Int? {
            if i >= 0 && i < size { return i }
            guard reflect else { return nil }
            return i < 0 ? -i : 2 * (size - 1) - i
        }
        var out = [Double]()
        forEachIndex([n, c, h + top + bottom, w + left + right]) { i in
            if let r = source(i[2] - top, h), let q = source(i[3] - left, w) {
                out.append(Double(x[i[0], i[1], r, q]))
            } else {
                out.append(0)
            }
        }
        return out
    }

    func testPadZerosAndReflect() {
        let x = randomNormal([2, 3, 5, 6], seed: 9)
        for (t, b, l, r) in [(1, 1, 1, 1), (0, 2, 3, 1), (4, 0, 0, 5)] {
            let z = x.padded([(t, b), (l, r)], mode: .zeros)
            assertClose(z, referencePad(x, top: t, bottom: b, left: l, right: r, reflect: false),
                        shape: [2, 3, 5 + t + b, 6 + l + r], tolerance: 0, "zeros \(t),\(b),\(l),\(r)")
            if t < 5 && b < 5 && l < 6 && r < 6 {
                let m = x.padded([(t, b), (l, r)], mode: .reflect)
                assertClose(m, referencePad(x, top: t, bottom: b, left: l, right: r, reflect: true),
                            shape: [2, 3, 5 + t + b, 6 + l + r], tolerance: 0, "reflect \(t),\(b),\(l),\(r)")
            }
        }
        // Reflect mirrors without repeating the edge: [a b c d] -> [c b | a b c d | c b].
        let row = Tensor(shape: [4], scalars: [1, 2, 3, 4]).padded([(2, 2)], mode: .reflect)
        XCTAssertEqual(row.scalars, [3, 2, 1, 2, 3, 4, 3, 2])
        // Padding one axis of a non-contiguous tensor.
        let p = x.transposed(2, 3).padded([(1, 0)])
        XCTAssertEqual(p.shape, [2, 3, 6, 6])
        XCTAssertEqual(p[1, 2, 4, 0], 0)
        XCTAssertEqual(p[1, 2, 4, 3], x[1, 2, 2, 4])
    }

    func testGatherRows() {
        let table = randomNormal([6, 2, 3], seed: 10)
        let g = table.gatheringRows([4, 0, 4, 5])
        XCTAssertEqual(g.shape, [4, 2, 3])
        for (k, i) in [4, 0, 4, 5].enumerated() {
            XCTAssertEqual(g.selecting(axis: 0, index: k).scalars, table.selecting(axis: 0, index: i).scalars)
        }
    }

    func testContiguousAndChannelsLastCopies() {
        let x = randomNormal([2, 3, 4, 5], seed: 11)
        let cl = x.channelsLast()
        XCTAssertTrue(cl.isChannelsLast && cl.isDense && !cl.isContiguous)
        XCTAssertEqual(cl.strides, Tensor.channelsLastStrides(x.shape))
        forEachIndex(x.shape) { i in XCTAssertEqual(cl[i[0], i[1], i[2], i[3]], x[i[0], i[1], i[2], i[3]]) }
        let back = cl.contiguous()
        XCTAssertTrue(back.isContiguous)
        XCTAssertEqual(back.scalars, x.scalars)
        XCTAssertTrue(x.contiguous().storage === x.storage, "contiguous() of a row-major tensor is itself")
    }

    /// Tensors of 4096 elements or more go through oneDNN's reorder: from row-major, from a cropped
    /// view, and from a batch-1 tensor whose unit axis has an arbitrary stride.
    func testLargeChannelsLastCopies() throws {
        let x = randomNormal([2, 3, 40, 50], seed: 13)
        let crop = randomNormal([2, 5, 45, 52], seed: 14).sliced(axis: 1, 1..<4).sliced(axis: 2, 3..<43).sliced(axis: 3, 0..<50)
        let single = Tensor(shape: [1, 4, 32, 40], strides: [7, 32 * 40, 40, 1],
                            storage: randomNormal([4 * 32 * 40], seed: 15).storage)
        for (name, t) in [("row-major", x), ("cropped view", crop), ("unit batch axis", single)] {
            let cl = t.channelsLast()
            XCTAssertTrue(cl.isChannelsLast, name)
            XCTAssertEqual(cl.strides, Tensor.channelsLastStrides(t.shape), name)
            XCTAssertEqual(cl.contiguous().scalars, t.contiguous().scalars, name)
        }
        try checkGradients(at: [x], "large channels-last") { $0[0].channelsLast().sigmoid() }
    }

    func testViewGradients() throws {
        let x = randomNormal([2, 3, 4, 5], seed: 12)
        try checkGradients(at: [x], "reshape") { $0[0].reshaped([6, -1]).tanh() }
        try checkGradients(at: [x], "permute") { $0[0].permuted(3, 1, 0, 2).tanh() }
        try checkGradients(at: [x], "transpose then reshape") { $0[0].transposed(1, 3).reshaped(10, 12) }
        try checkGradients(at: [x], "slice") { $0[0].sliced(axis: 2, 1..<3).sliced(axis: -1, 0..<4).exp() }
        try checkGradients(at: [x], "select") { $0[0].selecting(axis: 1, index: 2).pow(2) }
        try checkGradients(at: [x], "expand and squeeze") { ($0[0].expandingShape(at: 2).squeezingShape() * 0.7 + 0.3).tanh() }
        try checkGradients(at: [x], "contiguous of a view") { $0[0].permuted(0, 2, 3, 1).contiguous().tanh() }
        try checkGradients(at: [x], "channels-last") { $0[0].channelsLast().sigmoid() }
        try checkGradients(at: [randomNormal([3, 1, 5], seed: 13)], "broadcast") { $0[0].broadcast(to: [2, 3, 4, 5]).tanh() }
        let y = randomNormal([2, 1, 4, 5], seed: 14)
        try checkGradients(at: [x, y], "concatenate") { Tensor.concatenate([$0[0], $0[1], $0[0]], axis: 1).tanh() }
        try checkGradients(at: [x], "pad zeros") { $0[0].padded([(1, 2), (0, 3)]).tanh() }
        try checkGradients(at: [x], "pad reflect") { $0[0].padded([(3, 2), (4, 1)], mode: .reflect).tanh() }
        try checkGradients(at: [randomNormal([5, 3], seed: 15)], "gather rows, repeated") {
            $0[0].gatheringRows([1, 4, 1, 0, 1]).tanh()
        }
    }
}

/// `gatheringElements` picks by flat position and adds gradients of repeated picks.
final class ElementGatherTests: XCTestCase {
    func testPicksAndGradients() throws {
        let x = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let y = x.gatheringElements([5, 0, 0, 3], shape: [2, 2])
        XCTAssertEqual(y.shape, [2, 2])
        XCTAssertEqual(y.scalars, [6, 1, 1, 4])
        let t = x.requiringGradient()
        let g = try gradients(of: (t.gatheringElements([5, 0, 0, 3], shape: [4]) * Tensor(shape: [4], scalars: [1, 2, 3, 4])).sum(),
                              withRespectTo: [t])[0]
        XCTAssertEqual(g.scalars, [5, 0, 0, 4, 0, 1])
        try checkGradients(at: [randomNormal([3, 4], seed: 3)], "gatheringElements") {
            $0[0].permuted(1, 0).gatheringElements([11, 2, 2, 7, 0, 5], shape: [3, 2]).tanh()
        }
    }

}

/// Copy-free reshapes of strided views, the one-pass slice gradient, threaded strided copies and same-layout sums.
final class StridedViewTests: XCTestCase {
    func testReshapedAsViewSplitsASliceWithoutCopying() throws {
        // A slice of a packed [T, N, 3C] projection split into heads: the layout of ONNX attention graphs.
        let qkv = randomNormal([5, 1, 12], seed: 40)
        let k = qkv.sliced(axis: 2, 4..<8)
        let heads = k.reshapedAsView([5, 2, 2])
        XCTAssertTrue(heads.storage === qkv.storage, "splitting the sliced axis needs no copy")
        XCTAssertEqual(heads.strides, [12, 2, 1])
        XCTAssertEqual(heads.scalars, k.reshaped([5, 2, 2]).scalars)
        try checkGradients(at: [qkv], "slice split into heads") {
            $0[0].sliced(axis: 2, 4..<8).reshapedAsView([5, 2, 2]).transposed(0, 1).tanh()
        }
    }

    func testReshapedAsViewMatchesReshapeOnStridedTensors() throws {
        // Views where the strides allow one, copies elsewhere; the values always those of the row-major reshape.
        let x = randomNormal([3, 4, 5], seed: 41)
        let cases: [(Tensor, [Int], Bool)] = [
            (x.permuted(1, 0, 2), [2, 2, 3, 5], true),     // splits the outer axis: a view
            (x.permuted(1, 0, 2), [4, 15], false),         // merges axes that are not nested: a copy
            (x.permuted(1, 0, 2), [-1], false),
            (x.sliced(axis: 2, 1..<4), [3, 2, 2, 3], true),
            (x.sliced(axis: 2, 1..<4), [12, 3], true),       // merges nested rows: a view
            (x.sliced(axis: 1, 0..<2), [3, 10], true),     // merges the slice with the axis inside it
            (x.sliced(axis: 1, 0..<2), [6, 5], false),     // rows 0, 5, 20, 25… have no single stride
            (x.transposed(), [3, 5, 2, 2], true),
            (x.transposed(), [1, 3, 1, 20, 1], false),
            (x.sliced(axis: 0, 1..<2), [4, 1, 5], true),
            (x.permuted(1, 0, 2).expandingShape(at: 1), [4, 1, 3, 5], true),
        ]
        for (t, shape, isView) in cases {
            let v = t.reshapedAsView(shape)
            let what = "\(t.shape) strides \(t.strides) to \(shape)"
            XCTAssertEqual(v.scalars, t.reshaped(shape).scalars, what)
            XCTAssertEqual(v.storage === t.storage, isView, "view: " + what)
        }
        try checkGradients(at: [x], "permuted then split") { $0[0].permuted(1, 0, 2).reshapedAsView([2, 2, 3, 5]).exp() }
        try checkGradients(at: [x], "permuted then merged (copied)") { $0[0].permuted(1, 0, 2).reshapedAsView([4, 15]).exp() }
    }

    func testSliceGradientFillsZerosAroundTheSlice() throws {
        // The one-pass slice gradient against its definition (zeros concatenated around the incoming gradient),
        // on a first, a middle and a last axis; the large case splits its rows across the threads.
        for (shape, axis, range) in [([4, 5, 6], 0, 1..<3), ([4, 5, 6], 1, 2..<5), ([4, 5, 6], 2, 0..<4),
                                     ([300, 1, 768], 2, 256..<512)] {
            let x = randomNormal(shape, seed: 42).requiringGradient()
            let y = x.sliced(axis: axis, range)
            let g = randomNormal(y.shape, seed: 43)
            let dx = try gradients(of: y, withRespectTo: [x], seed: g)[0]
            var before = shape, after = shape
            before[axis] = range.lowerBound
            after[axis] = shape[axis] - range.upperBound
            let parts = [Tensor(zeros: before), g, Tensor(zeros: after)].filter { $0.count > 0 }
            XCTAssertEqual(dx.scalars, Tensor.concatenate(parts, axis: axis).scalars, "\(shape) axis \(axis) \(range)")
        }
        try checkGradients(at: [randomNormal([4, 5, 6], seed: 44)], "middle-axis slice") { $0[0].sliced(axis: 1, 2..<5).tanh() }
    }

    func testLargeStridedCopiesAndSameLayoutSums() throws {
        // Large enough that contiguous() splits its rows across the threads.
        let x = randomNormal([48, 64, 50], seed: 45)
        let p = x.permuted(2, 0, 1)
        var expected: [Float] = []
        forEachIndex(p.shape) { i in expected.append(x[i[1], i[2], i[0]]) }
        XCTAssertEqual(p.contiguous().scalars, expected)
        // A transposed [T, 1, C] view and a fresh [1, T, C] tensor differ only in the stride of the extent-1 axis:
        // the sum takes the same-layout path and must equal the element-wise sum.
        let a = randomNormal([7, 1, 5], seed: 46).transposed(0, 1), b = randomNormal([1, 7, 5], seed: 47)
        XCTAssertNotEqual(a.strides, b.strides)
        XCTAssertEqual((a + b).scalars, zip(a.scalars, b.scalars).map { $0 + $1 })
        try checkGradients(at: [randomNormal([7, 1, 5], seed: 46), b], "sum of a transposed view") {
            ($0[0].transposed(0, 1) + $0[1]).tanh()
        }
    }
}
