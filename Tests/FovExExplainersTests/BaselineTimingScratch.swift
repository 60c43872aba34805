import XCTest
import Foundation
import FovExModels
@testable import FovExExplainers
import FovExTensor

final class BaselineTimingScratch: XCTestCase {
    func testTiming() throws {
        guard ProcessInfo.processInfo.environment["BASELINE_TIMING"] != nil else { return }
        var g = SeededGenerator(seed: 4)
        let x = Tensor(randomUniform: [1, 3, 224, 224], generator: &g)
        let model = try ModelRegistry.randomModel("vit-b16", seed: 1) as! TokenClassifier
        let points = (0..<12).map { model.attentionProbabilitiesPoint(block: $0) }
        for _ in 0..<3 {
            var t0 = Date()
            let f = try TargetedForward(x, model: model, classes: nil, capturing: Set(points), recording: true, method: "t")
            print("TIMING fwd rec", Date().timeIntervalSince(t0)); t0 = Date()
            let gr = try gradients(of: f.targetLogitSum, withRespectTo: points.map { f.captured[$0]! })
            print("TIMING bwd 12 targets", Date().timeIntervalSince(t0), gr.count); t0 = Date()
            let f2 = try TargetedForward(x, model: model, classes: nil, capturing: [points[0]], recording: true, method: "t")
            print("TIMING fwd rec", Date().timeIntervalSince(t0)); t0 = Date()
            _ = try gradients(of: f2.targetLogitSum, withRespectTo: [f2.captured[points[0]]!])
            print("TIMING bwd 1 target", Date().timeIntervalSince(t0)); t0 = Date()
            let xt = x.requiringGradient()
            _ = try gradients(of: model.logits(xt).sum(), withRespectTo: [xt])
            print("TIMING fwd+bwd input", Date().timeIntervalSince(t0)); t0 = Date()
            let attentions = points.map { f.captured[$0]! }
            try withoutGradients {
                let (n, t) = (attentions[0].shape[0], attentions[0].shape[2])
                let identity = Tensor(shape: [t, t], scalars: (0..<(t * t)).map { $0 / t == $0 % t ? 1 : 0 })
                var r = identity.broadcast(to: [n, t, t]).contiguous()
                print("TIMING id", Date().timeIntervalSince(t0), gr[0].shape, gr[0].strides, attentions[0].strides); t0 = Date()
                for (a, g) in zip(attentions, gr) {
                    let prod = g * a.detached()
                    print("TIMING prod", Date().timeIntervalSince(t0), prod.strides); t0 = Date()
                    let c = prod.clamped(min: 0)
                    print("TIMING clamp", Date().timeIntervalSince(t0)); t0 = Date()
                    let mixed = c.mean(alongAxes: [1])
                    print("TIMING mean", Date().timeIntervalSince(t0)); t0 = Date()
                    r = r + mixed.matmul(r)
                    print("TIMING mm", Date().timeIntervalSince(t0)); t0 = Date()
                }
                _ = try CAMSupport.patchMaps(r.selecting(axis: 1, index: 0).sliced(axis: 1, 1..<t), size: 224, method: "x")
                print("TIMING patch", Date().timeIntervalSince(t0)); t0 = Date()
            }
        }
    }
}
