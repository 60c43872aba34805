import Foundation
import XCTest
@testable import FovExModels
import FovExTensor

final class ZZScratchSpeedTests: XCTestCase {
    func testSpeed() throws {
        guard ProcessInfo.processInfo.environment["FOVEX_SCRATCH_BENCH"] != nil else { return }
        for name in (ProcessInfo.processInfo.environment["FOVEX_SCRATCH_BENCH"] ?? "").split(separator: ",").map(String.init) {
            let model = try ModelRegistry.randomModel(name, seed: 1)
            let s = model.preprocessing.inputSize
            let x = generatedInput([1, 3, s, s], seed: 1)
            func time(_ body: () throws -> Void) rethrows -> Double {
                var ts: [Double] = []
                for _ in 0..<6 { let t0 = Date(); try body(); ts.append(Date().timeIntervalSince(t0) * 1000) }
                return ts.dropFirst().sorted()[2]
            }
            let f = time { _ = withoutGradients { model.logits(x) } }
            let fb = try time {
                let xt = x.requiringGradient()
                let l = model.logits(xt)
                _ = try gradients(of: l.sliced(axis: 1, 7..<8).sum(), withRespectTo: [xt])
            }
            print(String(format: "BENCH %@ fwd %.1f ms, fwd+grad %.1f ms", name, f, fb))
        }
    }
}
