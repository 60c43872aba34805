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
        let identity = Tensor(shape: [t, t], scalars: (0..<(t * t)).map { $0 / t == $0 % t ? 1 : 0 })
        let rb = identity.broadcast(to: [1, t, t]).contiguous()
        let rc = Tensor(shape: [1, t, t], scalars: identity.scalars)
        let m = Tensor(randomUniform: [1, t, t], generator: &g) * 0.01
        withoutGradients {
            for _ in 0..<3 {
                var t0 = Date()
                let p1 = m.matmul(rb)
                print("TIMING mm broadcast r", Date().timeIntervalSince(t0), rb.strides); t0 = Date()
                let p2 = m.matmul(rc)
                print("TIMING mm contiguous r", Date().timeIntervalSince(t0)); t0 = Date()
                let s = rc + p2
                print("TIMING add", Date().timeIntervalSince(t0), s.strides, p1.strides); t0 = Date()
                _ = m.matmul(s)
                print("TIMING mm sum", Date().timeIntervalSince(t0)); t0 = Date()
                let r2 = Tensor(shape: [1, t, t], scalars: s.scalars)
                _ = m.matmul(r2)
                print("TIMING mm fresh", Date().timeIntervalSince(t0)); t0 = Date()
            }
        }
    }
}
