import Foundation
import XCTest
import FovExExplainers
import FovExModels
import FovExTensor

/// Two threads explaining at once share the process's kernels, caches and buffer pool, and each has its own
/// gradient mode: their results must be exactly the ones each gets alone.
final class ConcurrentExplainTests: XCTestCase {
    func testTwoThreadsExplainingAtOnceGetTheSingleThreadResults() throws {
        let model = TinyConvNet(seed: 21)
        var g = SeededGenerator(seed: 22)
        let first = Tensor(randomUniform: [1, 3, 32, 32], generator: &g)
        let second = Tensor(randomUniform: [1, 3, 32, 32], generator: &g)
        var options = FovEx.Options()
        options.fixations = 3
        options.stepsPerFixation = 6
        options.blurKernelSize = 9
        options.blurSigma = 3
        let fovex = try FovEx(options: options)
        let gradCAM = GradCAM()

        let aloneFovEx = try fovex.explain(first, model: model, classes: nil)[0]
        let aloneGradCAM = try gradCAM.explain(second, model: model, classes: nil)[0]

        // FovEx goes in and out of withoutGradients all the time; Grad-CAM records and differentiates over and over
        // meanwhile, so the two threads' scopes overlap again and again, and both share the oneDNN primitives,
        // packed weights and buffers.
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var fovex: [Explanation] = [], gradCAM: [Explanation] = [], failures: [String] = []
            var fovexDone = false
            func add(_ body: (Results) -> Void) { lock.lock(); body(self); lock.unlock() }
        }
        let results = Results()
        let finished = DispatchSemaphore(value: 0)
        let threads = (0..<2).map { worker in
            Thread {
                do {
                    if worker == 0 {
                        for _ in 0..<2 {
                            let e = try fovex.explain(first, model: model, classes: nil)[0]
                            results.add { $0.fovex.append(e) }
                        }
                        results.add { $0.fovexDone = true }
                    } else {
                        // Grad-CAM runs for as long as FovEx does, so the two overlap whatever the scheduling.
                        var runs = 0, fovexDone = false
                        while runs < 40 || !fovexDone {
                            let e = try gradCAM.explain(second, model: model, classes: nil)[0]
                            runs += 1
                            results.add { $0.gradCAM.append(e); fovexDone = $0.fovexDone }
                        }
                    }
                } catch {
                    results.add { $0.failures.append("worker \(worker): \(error)") }
                }
                finished.signal()
            }
        }
        threads.forEach { $0.start() }
        finished.wait()
        finished.wait()
        XCTAssertEqual(results.failures, [])
        XCTAssertEqual(results.fovex.count, 2)
        XCTAssertGreaterThanOrEqual(results.gradCAM.count, 40)
        for e in results.fovex {
            XCTAssertEqual(e.map.scalars, aloneFovEx.map.scalars)
            XCTAssertEqual(e.classIndex, aloneFovEx.classIndex)
        }
        for e in results.gradCAM {
            XCTAssertEqual(e.map.scalars, aloneGradCAM.map.scalars)
            XCTAssertEqual(e.probability, aloneGradCAM.probability)
        }
        // The maps are not trivially equal: Grad-CAM's varies over the image.
        XCTAssertGreaterThan(Set(aloneGradCAM.map.scalars).count, 10)
    }
}
