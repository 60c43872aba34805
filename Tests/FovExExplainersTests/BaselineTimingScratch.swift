import XCTest
import Foundation
import FovExModels
@testable import FovExExplainers
import FovExTensor

final class BaselineTimingScratch: XCTestCase {
    func testTiming() throws {
        guard ProcessInfo.processInfo.environment["BASELINE_TIMING"] != nil else { return }
        var g = SeededGenerator(seed: 4)
        let t = 197
        let identity = Tensor(shape: [1, t, t], scalars: (0..<(t * t)).map { $0 / t == $0 % t ? 1 : 0 })
        let u1 = Tensor(randomUniform: [1, t, t], generator: &g)
        let u2 = Tensor(randomUniform: [1, t, t], generator: &g)
        let u3 = Tensor(shape: [1, t, t], scalars: (u1 * 0.01).scalars)
        let u4 = u1 * 0.01
        let u5 = u4.reshaped([1, t, t])
        print("TIMING strides", u4.strides, u5.strides)
        withoutGradients {
            for _ in 0..<2 {
                for (name, a, b) in [("u1 u2", u1, u2), ("u4 u2", u4, u2), ("u5 u2", u5, u2), ("u3 u2", u3, u2), ("u1 id", u1, identity), ("id u1", identity, u1), ("u1 u2 2d", u1.reshaped([t, t]), u2.reshaped([t, t]))] {
                    let t0 = Date()
                    _ = a.matmul(b)
                    print("TIMING", name, Date().timeIntervalSince(t0))
                }
            }
        }
    }
}
