import Foundation
import XCTest
@testable import FovExTensor

final class AutodiffTests: XCTestCase {
    func testGradientWithRespectToAnIntermediateTensor() throws {
        let x = randomNormal([3, 4], seed: 1).requiringGradient()
        let h = x.tanh()        // intermediate
        let y = (h * h).sum()   // dy/dh = 2h
        let (gx, gh) = try { () throws -> (Tensor, Tensor) in
            let g = try gradients(of: y, withRespectTo: [x, h])
            return (g[0], g[1])
        }()
        let hs = doubles(h)
        assertClose(gh, hs.map { 2 * $0 }, shape: [3, 4], tolerance: 1e-6)
        assertClose(gx, hs.map { 2 * $0 * (1 - $0 * $0) }, shape: [3, 4], tolerance: 1e-5)
    }

    func testIntermediateAloneDoesNotNeedTheInput() throws {
        // Asking only for an activation's gradient: the chain below it is never run.
        let x = randomNormal([2, 5], seed: 2).requiringGradient()
        let a = x.exp()
        let y = (a * 3).sum()
        let ga = try gradients(of: y, withRespectTo: [a])[0]
        XCTAssertEqual(ga.scalars, [Float](repeating: 3, count: 10))
    }

    func testTensorUsedTwiceAccumulates() throws {
        let x = randomNormal([6], seed: 3).requiringGradient()
        // y = Σ x·x + Σ 3x + Σ x³: dy/dx = 2x + 3 + 3x²
        let y = (x * x).sum() + (x * 3).sum() + x.pow(3).sum()
        let g = try gradients(of: y, withRespectTo: [x])[0]
        assertClose(g, doubles(x).map { 2 * $0 + 3 + 3 * $0 * $0 }, shape: [6], tolerance: 1e-6)
        // Reuse through views: a slice and the whole tensor both feed the output.
        let z = randomNormal([4, 3], seed: 4).requiringGradient()
        let w = (z.sliced(axis: 0, 1..<3).sum() + z.transposed().sum()) * 2
        let gz = try gradients(of: w, withRespectTo: [z])[0]
        XCTAssertEqual(gz.scalars, [2, 2, 2, 4, 4, 4, 4, 4, 4, 2, 2, 2])
    }

    func testUnrelatedBranchesArePruned() throws {
        let x = randomNormal([4], seed: 5).requiringGradient()
        let other = randomNormal([4], seed: 6).requiringGradient()
        var unrelatedBackwardRan = false
        // A branch that depends only on `other`; its backward must not run for d/dx.
        let side = (other * 2).recorded(from: [other]) { g in
            unrelatedBackwardRan = true
            return [g * 2]
        }
        let y = (x * x).sum() + side.sum()
        let g = try gradients(of: y, withRespectTo: [x])[0]
        XCTAssertFalse(unrelatedBackwardRan, "a branch that does not lead to x was differentiated")
        assertClose(g, doubles(x).map { 2 * $0 }, shape: [4], tolerance: 1e-6)
    }

    func testGradientIsZeroForATensorTheOutputDoesNotUse() throws {
        let x = randomNormal([3], seed: 7).requiringGradient()
        let unused = randomNormal([2, 2], seed: 8).requiringGradient()
        let gs = try gradients(of: x.sum(), withRespectTo: [x, unused])
        XCTAssertEqual(gs[0].scalars, [1, 1, 1])
        XCTAssertEqual(gs[1].shape, [2, 2])
        XCTAssertEqual(gs[1].scalars, [0, 0, 0, 0])
        // An output that is a constant: every gradient is zero.
        let constant = withoutGradients { x.sum() }
        XCTAssertEqual(try gradients(of: constant, withRespectTo: [x])[0].scalars, [0, 0, 0])
    }

    func testWithoutGradientsRecordsNothing() throws {
        let x = randomNormal([3, 3], seed: 9).requiringGradient()
        let y = withoutGradients { x.tanh().matmul(x).sum() }
        XCTAssertFalse(y.requiresGradient)
        XCTAssertFalse(GradientMode.isEnabled == false, "the scope is restored afterwards")
        let nested = withoutGradients { withoutGradients { x * 2 } + x }
        XCTAssertFalse(nested.requiresGradient)
        XCTAssertTrue((x * 2).requiresGradient)
        XCTAssertFalse((randomNormal([2], seed: 10) * 2).requiresGradient, "constants record nothing")
        XCTAssertFalse(x.detached().exp().requiresGradient)
    }

    func testWithoutGradientsOnOneThreadLeavesAnotherThreadRecording() throws {
        // Thread A sits inside withoutGradients while thread B records and differentiates; with a
        // process-wide mode B would record nothing and find its input untracked.
        final class Observations: @unchecked Sendable {
            var insideA: Bool?, afterB: Bool?, recordsOnB = false, gradient: [Float] = []
        }
        let seen = Observations()
        let x = randomNormal([4], seed: 11)
        let entered = DispatchSemaphore(value: 0), recorded = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        let a = Thread {
            withoutGradients {
                entered.signal()
                recorded.wait()
                seen.insideA = GradientMode.isEnabled
            }
            done.signal()
        }
        a.start()
        entered.wait()
        let b = Thread {
            let xt = x.requiringGradient()
            let y = (xt * xt).sum()
            seen.recordsOnB = y.requiresGradient
            seen.gradient = (try? gradients(of: y, withRespectTo: [xt])[0].scalars) ?? []
            seen.afterB = GradientMode.isEnabled
            recorded.signal()
        }
        b.start()
        done.wait()
        XCTAssertTrue(seen.recordsOnB, "thread B recorded while thread A was inside withoutGradients")
        XCTAssertEqual(seen.gradient, x.scalars.map { 2 * $0 })
        XCTAssertEqual(seen.afterB, true)
        XCTAssertEqual(seen.insideA, false, "thread A's scope held while thread B recorded")
        XCTAssertTrue(GradientMode.isEnabled)
    }

    func testGraphIsReleasedAfterBackward() throws {
        let x = randomNormal([4], seed: 11).requiringGradient()
        let y = x.exp().sum()
        _ = try gradients(of: y, withRespectTo: [x])
        XCTAssertThrowsError(try gradients(of: y, withRespectTo: [x])) { error in
            guard case AutodiffError.graphReleased = error else { return XCTFail("unexpected error \(error)") }
        }
    }

    func testRetainGraphAllowsASecondBackward() throws {
        let x = randomNormal([4], seed: 12).requiringGradient()
        let y = x.exp().sum()
        let first = try gradients(of: y, withRespectTo: [x], retainGraph: true)[0]
        let second = try gradients(of: y, withRespectTo: [x])[0]
        XCTAssertEqual(first.scalars, second.scalars)
        assertClose(first, doubles(x).map { Foundation.exp($0) }, shape: [4], tolerance: 1e-6)
    }

    func testSavedTensorsAreFreedAfterBackward() throws {
        weak var saved: TensorStorage?
        let x = randomNormal([64], seed: 13).requiringGradient()
        var y: Tensor
        do {
            let h = x.exp()         // the exp node keeps its output for backward
            saved = h.storage
            y = (h * 2).sum()
        }
        XCTAssertNotNil(saved, "the tape keeps the saved activation alive before backward")
        _ = try gradients(of: y, withRespectTo: [x])
        XCTAssertNil(saved, "backward released the activation saved by the tape")
        _ = y
    }

    func testNonTrackedTensorThrows() throws {
        let x = randomNormal([3], seed: 14).requiringGradient()
        let constant = randomNormal([3], seed: 15)
        let y = (x * constant).sum()
        XCTAssertThrowsError(try gradients(of: y, withRespectTo: [x, constant])) { error in
            guard case AutodiffError.notTracked(let i) = error else { return XCTFail("unexpected error \(error)") }
            XCTAssertEqual(i, 1)
            XCTAssertTrue("\(error)".contains("#1"), "the message names the tensor: \(error)")
        }
        let inside = withoutGradients { x * 2 }
        XCTAssertThrowsError(try gradients(of: y, withRespectTo: [inside]))
    }

    func testNonScalarOutputNeedsASeed() throws {
        let x = randomNormal([2, 3], seed: 16).requiringGradient()
        let y = x * 3
        XCTAssertThrowsError(try gradients(of: y, withRespectTo: [x])) { error in
            guard case AutodiffError.notScalar(let shape) = error else { return XCTFail("unexpected error \(error)") }
            XCTAssertEqual(shape, [2, 3])
        }
        let seed = randomNormal([2, 3], seed: 17)
        let g = try gradients(of: y, withRespectTo: [x], seed: seed)[0]
        assertClose(g, doubles(seed).map { 3 * $0 }, shape: [2, 3], tolerance: 1e-7)
    }

    func testValueWithGradient() throws {
        let x = randomNormal([5], seed: 18)
        let (value, gradient) = try valueWithGradient(at: x) { ($0 * $0).sum() }
        XCTAssertFalse(value.requiresGradient)
        XCTAssertEqual(Double(value.scalar), doubles(x).reduce(0) { $0 + $1 * $1 }, accuracy: 1e-5)
        assertClose(gradient, doubles(x).map { 2 * $0 }, shape: [5], tolerance: 1e-7)
    }

    /// The graph of a deep chain is walked without recursion, so long tapes cannot overflow the stack.
    func testLongChain() throws {
        let x = Tensor(shape: [1], scalars: [0.5]).requiringGradient()
        var h = x
        for _ in 0..<5_000 { h = h * 1.0001 }
        let g = try gradients(of: h.sum(), withRespectTo: [x])[0]
        let expected = Foundation.pow(Double(Float(1.0001)), 5_000)
        XCTAssertEqual(Double(g.scalar), expected, accuracy: 1e-3 * expected)
    }
}
