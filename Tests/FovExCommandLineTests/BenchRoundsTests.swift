import XCTest
@testable import FovExBench

/// How `fovex bench models` combines alternating Swift and PyTorch rounds: ratios are the medians of each
/// round's ratio, so that a round where the machine ran slow for both sides does not tilt the comparison.
final class BenchRoundsTests: XCTestCase {
    private func swiftRow(_ ms: Double, peak: Double) -> BenchModels.Row {
        BenchModels.Row(model: "resnet50", batch: 1, mode: "forward", precision: "fp32", swiftMsPerImage: ms,
                        swiftPeakRSSMB: peak, primitiveMsPerImage: ms / 2, primitiveRatio: 2)
    }

    private func torchRound(_ ms: Double, setting: String) -> TorchBench.Combined {
        let fast = TorchBench.Result.Row(model: "resnet50", batch: 1, mode: "forward", setting: setting, msPerImage: ms,
                                         peakRSSMB: 700)
        let slow = TorchBench.Result.Row(model: "resnet50", batch: 1, mode: "forward", setting: "other", msPerImage: 10 * ms,
                                         peakRSSMB: 900)
        return TorchBench.Combined(version: "test", rows: [slow, fast])
    }

    func testRatioIsTheMedianOfTheRoundsRatios() throws {
        // Round 2 ran 3× slower for Swift and 6× slower for PyTorch: round ratios 2, 1 and 2.
        let rows = BenchModels.combined([[swiftRow(10, peak: 300)], [swiftRow(30, peak: 320)], [swiftRow(12, peak: 310)]],
                                        torch: [torchRound(5, setting: "a"), torchRound(30, setting: "b"),
                                                torchRound(6, setting: "a")])
        XCTAssertEqual(rows.count, 1)
        let row = rows[0]
        XCTAssertEqual(row.swiftMsPerImage, 12)
        XCTAssertEqual(row.torchMsPerImage, 6)
        XCTAssertEqual(try XCTUnwrap(row.ratio), 2, accuracy: 1e-12)  // the ratio of the medians would also be 2 here
        XCTAssertEqual(row.swiftPeakRSSMB, 300)  // the first round's
        XCTAssertEqual(row.torchPeakRSSMB, 700)
        XCTAssertEqual(row.torchSetting, "a")
        XCTAssertEqual(row.primitiveMsPerImage, 6)
    }

    func testRatioOfTwoRoundsIsTheMeanOfTheirRatios() throws {
        // Round ratios 2 and 1: the median is 1.5, while the ratio of the medians, 20 / 17.5, would be 1.14.
        let row = BenchModels.combined([[swiftRow(10, peak: 1)], [swiftRow(30, peak: 1)]],
                                       torch: [torchRound(5, setting: "a"), torchRound(30, setting: "a")])[0]
        XCTAssertEqual(try XCTUnwrap(row.ratio), 1.5, accuracy: 1e-12)
        XCTAssertEqual(row.swiftMsPerImage, 20)
        XCTAssertEqual(row.torchMsPerImage, 17.5)
    }

    func testWithoutPyTorchTheRowsKeepTheirSwiftMedians() {
        let row = BenchModels.combined([[swiftRow(10, peak: 1)], [swiftRow(14, peak: 2)], [swiftRow(11, peak: 3)]],
                                       torch: [])[0]
        XCTAssertEqual(row.swiftMsPerImage, 11)
        XCTAssertNil(row.ratio)
        XCTAssertNil(row.torchMsPerImage)
    }

    func testBF16SpeedupIsTheMedianOfEachRoundsRatio() throws {
        // fp32 and bf16 alternate; the machine slowed fp32 in round 2 and bf16 in round 3. Round ratios 1, 3 and 1:
        // the median is 1, while the ratio of the medians, 3 / 1, would be 3.
        let speedup = try XCTUnwrap(medianOfRatios([1, 3, 3], over: [1, 1, 3]))
        XCTAssertEqual(speedup, 1, accuracy: 1e-12)
        // Two rounds (bench fovex): the mean of their ratios, 2 and 4.
        XCTAssertEqual(try XCTUnwrap(medianOfRatios([2, 4], over: [1, 1])), 3, accuracy: 1e-12)
        XCTAssertNil(medianOfRatios([], over: []))
    }
}
