import XCTest
import FovExModels
@testable import FovExMetrics
import FovExTensor

/// A classifier whose class-0 logit is a fixed linear function of the pixels, so probabilities
/// under any masking can be computed by hand.
final class LinearToy: ImageClassifier {
    let weights: Tensor
    init(weights: [Float], size: Int) { self.weights = Tensor(shape: [1, 3, size, size], scalars: weights) }
    var identity: ModelIdentity { ModelIdentity(architecture: "linear-toy", weights: "fixed") }
    var preprocessing: Preprocessing {
        Preprocessing(geometry: .direct(size: weights.shape[2]), interpolation: .bilinear, antialias: false,
                      mean: [0.5, 0.5, 0.5], std: [1, 1, 1])
    }
    var classNames: [String] { ["a", "b"] }
    var innerPoints: [String] { [] }
    var defaultCAMPoint: String { "" }
    func forward(_ pixels: Tensor, capturing points: Set<String>) -> ClassifierOutput {
        let n = pixels.shape[0]
        let z = (pixels * weights).sum(alongAxes: [1, 2, 3]).reshaped([n, 1])
        return ClassifierOutput(logits: Tensor.concatenate([z, Tensor(zeros: [n, 1])], axis: 1), captured: [:])
    }
}

func sigmoid(_ x: Double) -> Double { 1 / (1 + Foundation.exp(-x)) }

final class GoldenMetricTests: XCTestCase {
    func testNSSOnA4x4MapWithTwoFixations() {
        let map = Tensor(shape: [4, 4], scalars: [0, 0, 0, 0,
                                                  0, 1, 0, 0,
                                                  0, 0, 0, 0,
                                                  0, 0, 0, 3])
        // mean = 4/16 = 0.25; population variance = (1 + 9)/16 − 0.0625 = 0.5625 → std 0.75.
        // z(1) = 1, z(3) = 11/3 → NSS = (1 + 11/3) / 2 = 7/3.
        let r = NSS(convention: .pysaliency).evaluate(map: map, fixations: [PixelPoint(x: 1, y: 1), PixelPoint(x: 3, y: 3)], otherFixations: [])
        XCTAssertEqual(r.value, 7.0 / 3.0, accuracy: 1e-6)
        XCTAssertEqual(NSS().evaluate(map: Tensor(zeros: [4, 4]), fixations: [PixelPoint(x: 0, y: 0)], otherFixations: []).value, 0)
    }

    func testAUCJuddOnA4x4MapWithTwoFixations() {
        // Normalised map: values 0 (13 pixels), 1/3, 2/3 and 1. Fixations on 1 and 1/3.
        let map = Tensor(shape: [4, 4], scalars: [0, 0, 0, 0,
                                                  0, 1, 0, 0,
                                                  0, 0, 2, 0,
                                                  0, 0, 0, 3])
        let fix = [PixelPoint(x: 3, y: 3), PixelPoint(x: 1, y: 1)]
        // thr 1: 1 pixel ≥ → TP 1/2, FP (1−1)/14 = 0; thr 1/3: 3 pixels ≥ → TP 1, FP (3−2)/14.
        // Points (0,0) (0,.5) (1/14,1) (1,1): area = (1/14)(0.75) + (13/14)(1) = 0.982142857…
        let r = AUCJudd(convention: .mit, jitter: 0).evaluate(map: map, fixations: fix, otherFixations: [])
        XCTAssertEqual(r.value, 0.75 / 14 + 13.0 / 14, accuracy: 1e-9)
        XCTAssertEqual(AUCJudd(jitter: 0).evaluate(map: Tensor(zeros: [4, 4]), fixations: fix, otherFixations: []).value, 0.5)
        // Jitter of 1e-7 breaks the ties among the zeros but moves no value across another: same area.
        let jittered = AUCJudd(convention: .mit, jitter: 1e-7, seed: 3).evaluate(map: map, fixations: fix, otherFixations: [])
        XCTAssertEqual(jittered.value, 0.75 / 14 + 13.0 / 14, accuracy: 1e-9)
    }

    func testShuffledAUCCountsTiesAsHalf() {
        let map = Tensor(shape: [2, 2], scalars: [0.9, 0.1, 0.5, 0.5])
        // Positives 0.9, 0.5; negatives 0.1, 0.5 → (2 + (1 + 0.5)) / 4 = 0.875.
        let r = ShuffledAUC().evaluate(map: map, fixations: [PixelPoint(x: 0, y: 0), PixelPoint(x: 0, y: 1)],
                                       otherFixations: [PixelPoint(x: 1, y: 0), PixelPoint(x: 1, y: 1)])
        XCTAssertEqual(r.value, 0.875, accuracy: 1e-12)
    }

    func testCCAndKLDAgainstTheBinaryFixationMapByHand() {
        // σ 0: the fixation density is the binary fixation map. Map a = [4, 1, 2, 3] (row-major 2×2),
        // fixations on pixels 0 and 3 → b = [1, 0, 0, 1]. Deviations: a − 2.5 = [1.5, −1.5, −0.5, 0.5],
        // b − 0.5 = [0.5, −0.5, −0.5, 0.5]: Σab = 2, Σa² = 5, Σb² = 1 → CC = 2/√5.
        let map = Tensor(shape: [2, 2], scalars: [4, 1, 2, 3])
        let fix = [PixelPoint(x: 0, y: 0), PixelPoint(x: 1, y: 1)]
        let cc = CorrelationCoefficient(fixationSigma: 0).evaluate(map: map, fixations: fix, otherFixations: [])
        XCTAssertEqual(cc.value, 2 / 5.0.squareRoot(), accuracy: 1e-9)
        // P = [½, 0, 0, ½], Q = [0.4, 0.1, 0.2, 0.3] → KL = ½ ln(½/0.4) + ½ ln(½/0.3).
        let kld = KLDivergence(fixationSigma: 0).evaluate(map: map, fixations: fix, otherFixations: [])
        XCTAssertEqual(kld.value, 0.5 * log(0.5 / 0.4) + 0.5 * log(0.5 / 0.3), accuracy: 1e-9)
        // A map uncorrelated with the fixations: a = [1, 2, 3, 4] against b = [1, 0, 0, 1].
        let flat = Tensor(shape: [2, 2], scalars: [1, 2, 3, 4])
        XCTAssertEqual(CorrelationCoefficient(fixationSigma: 0).evaluate(map: flat, fixations: fix, otherFixations: []).value,
                       0, accuracy: 1e-9)
    }

    func testCCAndKLDAgainstABlurredFixationByHand() {
        // One fixation in the centre of a 3×3 image, σ 1: the kernel's radius is capped at 1, so the density is
        // k_i·k_j with k = [e^−½, 1, e^−½] / (1 + 2e^−½), exactly what the MIT benchmark's blur gives there.
        let a = exp(-0.5), k = [a, 1, a].map { $0 / (1 + 2 * a) }
        let density = (0..<9).map { k[$0 / 3] * k[$0 % 3] }
        let centre = [PixelPoint(x: 1, y: 1)]
        // Map: one-hot at the centre. With means 1/9: Σab = d_centre − 1/9, Σa² = 8/9, Σb² = (Σk²)² − 1/9.
        let oneHot = Tensor(shape: [3, 3], scalars: [0, 0, 0, 0, 1, 0, 0, 0, 0])
        let sumK2 = k.map { $0 * $0 }.reduce(0, +)
        let expectedCC = (density[4] - 1.0 / 9) / (8.0 / 9 * (sumK2 * sumK2 - 1.0 / 9)).squareRoot()
        XCTAssertEqual(CorrelationCoefficient(fixationSigma: 1).evaluate(map: oneHot, fixations: centre, otherFixations: []).value,
                       expectedCC, accuracy: 1e-6)
        // Map 1…9 (row-major): Q_i = i/45 → KL = Σ d_i ln(d_i / Q_i).
        let ramp = Tensor(shape: [3, 3], scalars: (1...9).map(Float.init))
        let expectedKL = (0..<9).map { density[$0] * log(density[$0] / (Double($0 + 1) / 45)) }.reduce(0, +)
        XCTAssertEqual(KLDivergence(fixationSigma: 1).evaluate(map: ramp, fixations: centre, otherFixations: []).value,
                       expectedKL, accuracy: 1e-6)
    }

    func testEBPGWithABoxHoldingHalfTheEnergy() {
        var v = [Float](repeating: 0, count: 16)
        v[0] = 1; v[1] = 1; v[10] = 2  // box covers rows 0..<1, cols 0..<2: energy 2 of 4
        let r = EnergyPointingGame().evaluate(map: Tensor(shape: [4, 4], scalars: v), boxes: [BoxRegion(x0: 0, y0: 0, x1: 2.7, y1: 1.2)])
        XCTAssertEqual(r.value, 50, accuracy: 1e-9)
        let none = EnergyPointingGame().evaluate(map: Tensor(zeros: [4, 4]), boxes: [BoxRegion(x0: 0, y0: 0, x1: 2, y1: 2)])
        XCTAssertTrue(none.value.isNaN, "a map with no energy has no value, not 0")
        XCTAssertEqual(none.missingReason, "the map has no energy inside or outside the boxes")
    }

    func testPointingGameToleranceEdge() {
        var v = [Float](repeating: 0, count: 40 * 40)
        v[20 * 40 + 30] = 1  // maximum at pixel (x 30, y 20): centre (30.5, 20.5)
        let map = Tensor(shape: [40, 40], scalars: v)
        let box = BoxRegion(x0: 0, y0: 0, x1: 15.5, y1: 40)  // 15 px to the left of the centre
        XCTAssertEqual(PointingGame(tolerance: 15).evaluate(map: map, boxes: [box]).value, 100)
        XCTAssertEqual(PointingGame(tolerance: 14.9).evaluate(map: map, boxes: [box]).value, 0)
        XCTAssertEqual(PointingGame().evaluate(map: Tensor(zeros: [40, 40]), boxes: [box]).value, 0)
    }

    func testNaNMapsGiveAResultAndAWarning() {
        var v = [Float](repeating: 0.2, count: 16)
        v[5] = .nan; v[6] = 1
        let r = NSS().evaluate(map: Tensor(shape: [4, 4], scalars: v), fixations: [PixelPoint(x: 2, y: 1)], otherFixations: [])
        XCTAssertTrue(r.value.isFinite)
        XCTAssertTrue(r.warnings.contains { $0.contains("NaN") })
    }

    func testThreeStepDeletionCurveByHand() {
        // 2×2 image (4 pixels), step 2 → n = 2 steps, 3 scores. Class-0 logit = Σ w·x with w on
        // channel 0 only; the substrate is the mean colour 0.5.
        let w: [Float] = [2, 1, 0, -1] + [Float](repeating: 0, count: 8)
        let model = LinearToy(weights: w, size: 2)
        let x = Tensor(shape: [1, 3, 2, 2], scalars: [1, 1, 1, 1] + [Float](repeating: 0, count: 8))
        let saliency = Tensor(shape: [1, 2, 2], scalars: [0.9, 0.8, 0.1, 0.2])  // order: 0, 1, 3, 2
        let r = DeletionMetric(step: 2, batchSize: 2).evaluate(model: model, pixels: x, maps: saliency, classes: [0])[0]
        // s0: z = 2+1+0−1 = 2; s1: pixels 0,1 → 0.5: z = 1 + 0.5 + 0 − 1 = 0.5; s2: all 0.5 → z = 1.
        let s = [sigmoid(2), sigmoid(0.5), sigmoid(1)]
        XCTAssertEqual(r.curve!.count, 3)
        for (a, b) in zip(r.curve!, s) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        XCTAssertEqual(r.value, (s[0] + s[1] + s[2] - s[0] / 2 - s[2] / 2) / 2, accuracy: 1e-6)
    }

    func testAverageDropAndIncreaseByHand() {
        let w: [Float] = [1, 1, 1, 1] + [Float](repeating: 0, count: 8)
        let model = LinearToy(weights: w, size: 2)
        let x = Tensor(shape: [2, 3, 2, 2], scalars: ([1, 1, 1, 1] + [Float](repeating: 0, count: 8)) + ([-1, -1, -1, -1] + [Float](repeating: 0, count: 8)))
        let maps = Tensor(shape: [2, 2, 2], scalars: [1, 1, 0, 0, 0.5, 0.5, 0.5, 0.5])
        // Image 0: Y = σ(4), O = σ(2) → drop 100(σ4 − σ2)/σ4; no increase.
        // Image 1: Y = σ(−4), O = σ(−2) > Y → drop 0, increase 100.
        let drop = AverageDrop().evaluate(model: model, pixels: x, maps: maps, classes: [0, 0])
        let inc = AverageIncrease().evaluate(model: model, pixels: x, maps: maps, classes: [0, 0])
        XCTAssertEqual(drop[0].value, 100 * (sigmoid(4) - sigmoid(2)) / sigmoid(4), accuracy: 1e-4)
        XCTAssertEqual(drop[1].value, 0)
        XCTAssertEqual(inc.map(\.value), [0, 100])
    }

    func testDirectionsAndExpansion() throws {
        XCTAssertEqual(try MetricRegistry.expand("paper"), MetricRegistry.paper)
        XCTAssertEqual(try MetricRegistry.expand("nss,deletion,nss"), ["nss", "deletion"])
        XCTAssertThrowsError(try MetricRegistry.expand("accuracy"))
        XCTAssertEqual(DeletionMetric().direction, .lowerIsBetter)
        XCTAssertEqual(InsertionMetric().direction, .higherIsBetter)
        XCTAssertEqual(MetricRegistry.direction("kld"), .lowerIsBetter)
    }
}
