import XCTest
@testable import FovExExplainers
import FovExTensor

/// The calibration rows: a constant map and the centre-bias Gaussian.
final class ImageIndependentMapsTests: XCTestCase {
    func testUniformIsConstantAndExplainsThePrediction() throws {
        let model = TinyConvNet(seed: 4)
        var g = SeededGenerator(seed: 1)
        let x = Tensor(randomUniform: [2, 3, 32, 32], generator: &g)
        let results = try UniformMap().explain(x, model: model, classes: nil)
        XCTAssertEqual(results.map(\.classIndex), model.probabilities(x).argmax(alongAxis: 1))
        for r in results {
            XCTAssertEqual(r.map.shape, [32, 32])
            XCTAssertTrue(r.map.scalars.allSatisfy { $0 == 1 })
        }
    }

    func testCentreIsClarkAndTatlersGaussianComputedByHand() throws {
        let centre = try CentreBiasMap()
        let m = centre.map(size: 4).scalars
        // Pixel centres at ±0.25 and ±0.75; σ²x = 0.22, σ²y = 0.45 · 0.22 = 0.099.
        func expected(_ x: Double, _ y: Double) -> Float { Float(exp(-x * x / 0.44 - y * y / 0.198)) }
        XCTAssertEqual(m[1 * 4 + 1], expected(-0.25, -0.25), accuracy: 1e-6)
        XCTAssertEqual(m[0 * 4 + 3], expected(0.75, -0.75), accuracy: 1e-6)
        XCTAssertEqual(m[1 * 4 + 3], expected(0.75, -0.25), accuracy: 1e-6)
        // Narrower vertically: a step along y costs more than the same step along x.
        XCTAssertGreaterThan(m[1 * 4 + 3], m[3 * 4 + 1])
        XCTAssertEqual(centre.settings, ["variance_x": "0.22", "anisotropy": "0.45"])
        let map = try centre.explain(Tensor(repeating: 0.3, shape: [1, 3, 32, 32]), model: TinyConvNet(seed: 4), classes: [3])[0]
        XCTAssertEqual(map.classIndex, 3)
        let v = map.map.scalars
        let peak = v.indices.max { v[$0] < v[$1] }!
        XCTAssertTrue([15, 16].contains(peak / 32) && [15, 16].contains(peak % 32), "peak at \(peak / 32), \(peak % 32)")
    }

    func testCentreRefusesANonPositiveSpread() {
        var o = CentreBiasMap.Options()
        o.varianceX = 0
        XCTAssertThrowsError(try CentreBiasMap(options: o)) { XCTAssertEqual(($0 as? InvalidOptionError)?.option, "variance_x") }
    }
}
