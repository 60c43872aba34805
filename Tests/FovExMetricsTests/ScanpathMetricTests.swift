import XCTest
import FovExModels
import FovExTensor
@testable import FovExMetrics

/// Hand-checked cases and properties of the scanpath metrics and baselines.
final class ScanpathMetricTests: XCTestCase {
    let square = [ScanpathPoint(x: 10, y: 10), ScanpathPoint(x: 90, y: 10), ScanpathPoint(x: 90, y: 90), ScanpathPoint(x: 10, y: 90)]

    func testIdenticalScanpathsScoreBest() {
        XCTAssertEqual(StringEditDistance().compare(square, with: square, width: 100, height: 100).value, 0)
        XCTAssertEqual(TimeDelayEmbedding().compare(square, with: square, width: 100, height: 100).value, 1)
        XCTAssertEqual(ScanMatch().compare(square, with: square, width: 100, height: 100).value, 1)
        XCTAssertEqual(DynamicTimeWarping().compare(square, with: square, width: 100, height: 100).value, 0)
        for d in MultiMatch.Dimension.allCases where d != .duration {
            XCTAssertEqual(MultiMatchMetric(dimension: d).compare(square, with: square, width: 100, height: 100).value, 1, "\(d)")
        }
    }

    func testStringEditDistanceCountsCellChanges() {
        // 4×4 grid of a 100×100 image: cells 25 px. Reversing the square's corners costs two swaps' worth.
        XCTAssertEqual(StringEditDistance.string(square, width: 100, height: 100, gridSize: 4), [0, 3, 15, 12])
        let reversed = Array(square.reversed())
        XCTAssertEqual(StringEditDistance().compare(square, with: reversed, width: 100, height: 100).value, 3)
        XCTAssertEqual(StringEditDistance().compare(square, with: Array(square.prefix(2)), width: 100, height: 100).value, 2)
    }

    func testDynamicTimeWarpingAbsorbsRepeatedFixations() {
        let a = [ScanpathPoint(x: 0, y: 0), ScanpathPoint(x: 10, y: 0)]
        let b = [ScanpathPoint(x: 0, y: 0), ScanpathPoint(x: 0, y: 0), ScanpathPoint(x: 10, y: 0)]
        XCTAssertEqual(DynamicTimeWarping().compare(a, with: b, width: 20, height: 20).value, 0)
        let c = [ScanpathPoint(x: 0, y: 3), ScanpathPoint(x: 10, y: 4)]
        XCTAssertEqual(DynamicTimeWarping().compare(a, with: c, width: 20, height: 20).value, 7, accuracy: 1e-12)
    }

    func testUndefinedComparisonsSayWhy() {
        let two = Array(square.prefix(2))
        let r = MultiMatchMetric(dimension: .shape).compare(two, with: square, width: 100, height: 100)
        XCTAssertTrue(r.value.isNaN)
        XCTAssertTrue(r.warnings.first?.contains("3 fixations") ?? false)
        XCTAssertTrue(ScanMatch(temporalBin: 50).compare(square, with: square, width: 100, height: 100).value.isNaN)
        XCTAssertTrue(DynamicTimeWarping().compare([], with: square, width: 100, height: 100).value.isNaN)
    }

    func testRegistryKnowsEveryNameAndDirection() {
        for n in ScanpathMetricRegistry.names {
            XCTAssertEqual(ScanpathMetricRegistry.metric(named: n)?.name, n)
        }
        XCTAssertEqual(ScanpathMetricRegistry.metric(named: "sed")?.direction, .lowerIsBetter)
        XCTAssertEqual(ScanpathMetricRegistry.metric(named: "mm_position")?.direction, .higherIsBetter)
        XCTAssertNil(ScanpathMetricRegistry.metric(named: "mm_speed"))
    }

    func testRandomBaselinesAreSeededAndInside() {
        var g1 = SeededGenerator(seed: 3), g2 = SeededGenerator(seed: 3), g3 = SeededGenerator(seed: 4)
        let a = ScanpathBaseline.uniform(count: 50, width: 800, height: 600, generator: &g1)
        XCTAssertEqual(a, ScanpathBaseline.uniform(count: 50, width: 800, height: 600, generator: &g2))
        XCTAssertNotEqual(a, ScanpathBaseline.uniform(count: 50, width: 800, height: 600, generator: &g3))
        XCTAssertTrue(a.allSatisfy { $0.x >= 0 && $0.x <= 799 && $0.y >= 0 && $0.y <= 599 })
        var g = SeededGenerator(seed: 5)
        let c = ScanpathBaseline.centreBiased(count: 2000, width: 800, height: 600, sigmaX: 0.1, sigmaY: 0.1, generator: &g)
        XCTAssertTrue(c.allSatisfy { $0.x >= 0 && $0.x <= 799 && $0.y >= 0 && $0.y <= 599 })
        let mx = c.map(\.x).reduce(0, +) / 2000, my = c.map(\.y).reduce(0, +) / 2000
        XCTAssertEqual(mx, 399.5, accuracy: 6)
        XCTAssertEqual(my, 299.5, accuracy: 5)
        let sx = (c.map { ($0.x - mx) * ($0.x - mx) }.reduce(0, +) / 1999).squareRoot()
        XCTAssertEqual(sx, 80, accuracy: 5)
    }

    func testSaliencyPeaksAreTakenGreedilyWithInhibitionOfReturn() {
        // 20×20 map with a strong peak at (15, 4), a second one right next to it (16, 4) and a weaker one at (3, 12).
        var v = [Float](repeating: 0, count: 400)
        v[4 * 20 + 15] = 1; v[4 * 20 + 16] = 0.9; v[12 * 20 + 3] = 0.5
        let map = Tensor(shape: [20, 20], scalars: v)
        let p = ScanpathBaseline.saliencyPeaks(map: map, count: 2, width: 40, height: 20, inhibitionRadius: 0.1)
        // The neighbour lies within the 2-pixel inhibition radius, so the second fixation is the weaker peak.
        XCTAssertEqual(p.count, 2)
        XCTAssertEqual(p[0].x, 30.5, accuracy: 1e-9)  // (15 + 0.5) · 40/20 − 0.5
        XCTAssertEqual(p[0].y, 4, accuracy: 1e-9)
        XCTAssertEqual(p[1].x, 6.5, accuracy: 1e-9)
        XCTAssertEqual(p[1].y, 12, accuracy: 1e-9)
        // A radius that covers the whole map leaves one fixation.
        XCTAssertEqual(ScanpathBaseline.saliencyPeaks(map: map, count: 5, width: 20, height: 20, inhibitionRadius: 2).count, 1)
    }
}

/// Scanpath metrics as metrics of the evaluation harness: one sample's own scanpath against every observer.
final class ScanpathSampleTests: XCTestCase {
    func sample(predicted: [HumanFixation]?, observers: [ObserverScanpath]?) throws -> MetricSample {
        let model = try ModelRegistry.randomModel("efficientnet-lite0", seed: 1)
        let gaze = HumanGaze(width: 448, height: 448, fixatedPixels: [], scanpaths: observers)
        return MetricSample(model: model, pixels: Tensor(zeros: [1, 3, 224, 224]), map: Tensor(zeros: [224, 224]), classIndex: 0,
                            annotations: SampleAnnotations(gaze: gaze), predictedScanpath: predicted)
    }

    func testTheSampleScanpathIsScaledToTheImageAndAveragedOverObservers() throws {
        // Input pixel 10 covers image pixels [20, 22) of the 448-pixel image: centre 20.5.
        let own = [HumanFixation(x: 10, y: 10), HumanFixation(x: 100, y: 10)]
        let exact = ObserverScanpath(observer: "a", fixations: [HumanFixation(x: 20.5, y: 20.5), HumanFixation(x: 200.5, y: 20.5)])
        let shifted = ObserverScanpath(observer: "b", fixations: [HumanFixation(x: 20.5, y: 30.5), HumanFixation(x: 200.5, y: 30.5)])
        let r = DynamicTimeWarping().measure(try sample(predicted: own, observers: [exact, shifted]))
        XCTAssertEqual(r.value, (0 + 20) / 2, accuracy: 1e-9)
        XCTAssertEqual(DynamicTimeWarping().needs, .observerScanpaths)
    }

    func testSamplesWithoutScanpathsGiveMissingResults() throws {
        let obs = [ObserverScanpath(observer: "a", fixations: [HumanFixation(x: 1, y: 1)])]
        XCTAssertTrue(ScanMatch().measure(try sample(predicted: nil, observers: obs)).missingReason?.contains("own scanpath") ?? false)
        XCTAssertTrue(ScanMatch().measure(try sample(predicted: [HumanFixation(x: 1, y: 1)], observers: nil)).isMissing)
        // MultiMatch is undefined for every observer here (fewer than 3 fixations): missing, with the reason.
        let mm = MultiMatchMetric(dimension: .shape).measure(try sample(predicted: [HumanFixation(x: 1, y: 1)], observers: obs))
        XCTAssertTrue(mm.isMissing)
        XCTAssertTrue(mm.warnings.contains { $0.contains("3 fixations") })
    }
}
