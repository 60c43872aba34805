import Foundation
import XCTest
@testable import FovExTensor

/// `PrimitiveClock` splits a pass into time inside oneDNN and the rest (`fovex bench models`' "/ oneDNN").
final class PrimitiveClockTests: XCTestCase {
    func testCountsOnlyTimeInsidePrimitives() throws {
        let x = randomNormal([1, 16, 32, 32], seed: 1)
        let w = randomNormal([16, 16, 3, 3], seed: 2)
        // Element-wise work runs in Swift: no primitive time at all.
        let (_, swiftOnly) = PrimitiveClock.measuring { _ = (x * x).gelu().softmax() }
        XCTAssertEqual(swiftOnly, 0)
        // A convolution runs in oneDNN: some primitive time, and no more than the wall time around it.
        let start = DispatchTime.now().uptimeNanoseconds
        let (y, convolution) = PrimitiveClock.measuring { withoutGradients { x.conv2d(weight: w, padding: .symmetric(1)) } }
        let wall = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        XCTAssertEqual(y.shape, [1, 16, 32, 32])
        XCTAssertGreaterThan(convolution, 0)
        XCTAssertLessThanOrEqual(convolution, wall)
        // Outside a measurement nothing accumulates: a later measurement of Swift-only work is 0 again.
        _ = withoutGradients { x.conv2d(weight: w, padding: .symmetric(1)) }
        XCTAssertEqual(PrimitiveClock.measuring { _ = x + x }.primitiveSeconds, 0)
    }
}
