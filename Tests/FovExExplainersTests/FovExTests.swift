import XCTest
import FovExModels
@testable import FovExExplainers
import FovExTensor

final class FovExTests: XCTestCase {
    func testBlobMatchesHandComputedValues() {
        // Grid of 5: coordinates −1, −0.5, 0, 0.5, 1.  p = (0.5, −1), σ = 0.15.
        let w = FovEx.blob(at: Tensor(shape: [1, 2], scalars: [0.5, -1]), size: 5, sigma: 0.15)
        XCTAssertEqual(w.shape, [1, 5, 5])
        XCTAssertEqual(w[0, 3, 0], 1, accuracy: 1e-6)  // exactly at p
        XCTAssertEqual(w[0, 2, 0], exp(-0.25 / 0.15), accuracy: 1e-6)
        XCTAssertEqual(w[0, 4, 2], exp(-(0.25 + 1) / 0.15), accuracy: 1e-6)
        XCTAssertEqual(w[0, 0, 4], exp(-(2.25 + 4) / 0.15), accuracy: 1e-9)
    }

    func testFoveationBlendsBlurOutsideTheFovea() {
        // x = 0, B = 1 everywhere, memory 0: x_fov = clip(1 − W_p, 0, 1).
        let x = Tensor(zeros: [1, 3, 5, 5]), b = Tensor(repeating: 1, shape: [1, 3, 5, 5])
        let memory = Tensor(shape: [1, 5, 5], scalars: (0..<25).map { $0 == 0 ? 0.5 : 0 })
        let fov = FovEx.foveate(x, peripheral: b, memory: memory, positions: Tensor(shape: [1, 2], scalars: [0, 0]), sigma: 0.15)
        XCTAssertEqual(fov[0, 1, 2, 2], 0, accuracy: 1e-6)                       // fully foveated centre
        XCTAssertEqual(fov[0, 0, 2, 3], 1 - exp(-0.25 / 0.15), accuracy: 1e-6)   // half a unit away
        XCTAssertEqual(fov[0, 2, 0, 0], 1 - (0.5 + exp(-2 / 0.15)), accuracy: 1e-6)  // memory adds to the fovea
        XCTAssertEqual(fov[0, 0, 4, 4], 1 - exp(-2 / 0.15), accuracy: 1e-6)
    }

    func testPositionGradientMatchesFiniteDifferences() throws {
        let model = TinyConvNet(seed: 3)
        var g = SeededGenerator(seed: 9)
        let x = Tensor(randomUniform: [2, 3, 32, 32], generator: &g)
        let peripheral = withoutGradients { x.gaussianBlurred(kernelSize: 41, sigma: 10) - x }
        let memory = withoutGradients { FovEx.blob(at: Tensor(shape: [2, 2], scalars: [0.3, -0.2, -0.5, 0.6]), size: 32, sigma: 0.15) * 0.4 }
        let labels = [1, 3]
        func loss(_ p: Tensor) -> Tensor {
            model.logits(FovEx.foveate(x, peripheral: peripheral, memory: memory, positions: p, sigma: 0.15))
                .crossEntropy(labels: labels).sum()
        }
        let p0: [Float] = [0.1, -0.35, 0.42, 0.05]
        let p = Tensor(shape: [2, 2], scalars: p0).requiringGradient()
        let analytic = try gradients(of: loss(p), withRespectTo: [p])[0].scalars
        let eps: Float = 2e-3
        for k in 0..<4 {
            var plus = p0, minus = p0
            plus[k] += eps; minus[k] -= eps
            let fd = (loss(Tensor(shape: [2, 2], scalars: plus)).scalar - loss(Tensor(shape: [2, 2], scalars: minus)).scalar) / (2 * eps)
            XCTAssertEqual(analytic[k], fd, accuracy: 2e-3 + 2e-2 * abs(fd), "component \(k)")
        }
    }

    func testSearchFindsTheSpotThatRaisesTheLogit() throws {
        let model = SpotClassifier(spot: (row: 8, col: 22))
        var options = FovEx.Options()
        options.fixations = 3
        options.stepsPerFixation = 20
        options.blurKernelSize = 9
        options.blurSigma = 3
        options.foveaSigma = 0.1
        options.variant = .refined
        let result = try FovEx(options: options).explain(model.image(), model: model, classes: nil)[0]
        XCTAssertEqual(result.classIndex, 0)
        let target = (row: -1 + 2 * Float(8) / 31, col: -1 + 2 * Float(22) / 31)
        let first = result.scanpath[0]
        XCTAssertLessThan(hypot(first.row - target.row, first.col - target.col), 0.2, "first fixation \(first)")
        // With one fixation, the map peaks at it.
        options.fixations = 1
        let single = try FovEx(options: options).explain(model.image(), model: model, classes: nil)[0]
        let flat = single.map.scalars
        let peak = flat.indices.max { flat[$0] < flat[$1] }!
        XCTAssertLessThanOrEqual(abs(peak / 32 - 8) + abs(peak % 32 - 22), 6)
        XCTAssertEqual(flat.max()!, 1, accuracy: 1e-6)
        XCTAssertEqual(flat.min()!, 0, accuracy: 1e-6)
    }

    func testBatchGivesWhatSingleImagesGiveAndIsDeterministic() throws {
        let model = TinyConvNet(seed: 5)
        var g = SeededGenerator(seed: 11)
        let x = Tensor(randomUniform: [3, 3, 32, 32], generator: &g)
        var options = FovEx.Options()
        options.fixations = 3
        options.stepsPerFixation = 5
        let fovex = try FovEx(options: options)
        let batch = try fovex.explain(x, model: model, classes: nil)
        for i in 0..<3 {
            let single = try fovex.explain(x.sliced(axis: 0, i..<(i + 1)), model: model, classes: nil)[0]
            XCTAssertEqual(single.scanpath, batch[i].scanpath, "image \(i)")
            XCTAssertEqual(single.map.scalars, batch[i].map.scalars)
        }
        let again = try fovex.explain(x, model: model, classes: nil)
        XCTAssertEqual(again.map(\.scanpath), batch.map(\.scanpath))
    }

    func testPaperVariantStoresThePositionOneStepPastTheEvaluatedPoint() throws {
        // With one step per fixation the only evaluated point is the centre; paper mode records
        // the position after the first signed step, so each coordinate is 0 or ±λ.
        let model = TinyConvNet(seed: 7)
        var g = SeededGenerator(seed: 1)
        let x = Tensor(randomUniform: [1, 3, 32, 32], generator: &g)
        var options = FovEx.Options()
        options.fixations = 2
        options.stepsPerFixation = 1
        let paper = try FovEx(options: options).explain(x, model: model, classes: [2])[0]
        for f in paper.scanpath {
            XCTAssertTrue([0, 0.1, -0.1].contains(f.row) && [0, 0.1, -0.1].contains(f.col), "\(f)")
            XCTAssertNotEqual(abs(f.row) + abs(f.col), 0)
        }
        options.variant = .refined
        let refined = try FovEx(options: options).explain(x, model: model, classes: [2])[0]
        XCTAssertEqual(refined.scanpath.map(\.row), [0, 0])
        XCTAssertEqual(refined.scanpath.map(\.col), [0, 0])
    }

    func testHeatmapForgettingWeightsEarlierFixations() throws {
        var options = FovEx.Options()
        options.fixations = 2
        options.heatmapForgetting = [1, 0]  // h ← 0·h + G_2: only the last fixation remains
        let path = [Fixation(row: -0.5, col: -0.5, loss: 1), Fixation(row: 0.5, col: 0.5, loss: 1)]
        let map = try FovEx(options: options).attributionMap(path, size: 9)
        XCTAssertEqual(map[6, 6], 1, accuracy: 1e-6)
        XCTAssertEqual(map[2, 2], 0, accuracy: 1e-4)
        let plain = FovEx().attributionMap(path, size: 9)
        XCTAssertEqual(plain[2, 2], plain[6, 6], accuracy: 1e-6)
    }
}

extension Explanation {
    /// FovEx's scanpath, from its attachment (empty for other methods).
    var scanpath: [Fixation] { attachment(Scanpath.self)?.fixations ?? [] }
}
