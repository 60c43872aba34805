import Foundation
import XCTest
@testable import FovExMetrics

/// Parity of the scanpath metrics with their sources' own code on seeded random scanpaths
/// (tools/make_scanpath_fixtures.py): FixaTons' string edit distance and scaled time-delay embedding,
/// FixaTons/GazeParser's ScanMatch, multimatch-gaze 0.1.3 and dtw-python.
final class ScanpathParityTests: XCTestCase {
    struct Case: Decodable {
        var a: [[Double]], b: [[Double]]
        var width: Int, height: Int
        var sed_2: Int, sed_4: Int, sed_5: Int
        var tde: Double
        var scanmatch_0: Double, scanmatch_50: Double
        var multimatch: [Double?]
        var dtw: Double
    }
    struct Edit: Decodable { var s1: String, s2: String, distance: Int }
    struct Fixture: Decodable { var cases: [Case]; var edit_distances: [Edit] }

    func fixture() throws -> Fixture {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: dir.appendingPathComponent("scanpath_reference.json")))
    }

    func path(_ rows: [[Double]], durations: Bool) -> [ScanpathPoint] {
        rows.map { ScanpathPoint(x: $0[0], y: $0[1], duration: durations ? $0[2] : nil) }
    }

    func testStringEditDistanceMatchesFixaTons() throws {
        let f = try fixture()
        for (k, c) in f.cases.enumerated() {
            let (a, b) = (path(c.a, durations: false), path(c.b, durations: false))
            for (grid, expected) in [(2, c.sed_2), (4, c.sed_4), (5, c.sed_5)] {
                let v = StringEditDistance(gridSize: grid).compare(a, with: b, width: c.width, height: c.height).value
                XCTAssertEqual(v, Double(expected), "case \(k), grid \(grid)")
            }
        }
    }

    func testEditDistanceMatchesNLTKWithTranspositions() throws {
        for e in try fixture().edit_distances {
            let code = { (s: String) in s.unicodeScalars.map { Int($0.value) } }
            XCTAssertEqual(StringEditDistance.editDistance(code(e.s1), code(e.s2)), e.distance, "\(e.s1) → \(e.s2)")
        }
    }

    func testTimeDelayEmbeddingMatchesFixaTons() throws {
        for (k, c) in try fixture().cases.enumerated() {
            let v = TimeDelayEmbedding().compare(path(c.a, durations: false), with: path(c.b, durations: false),
                                                 width: c.width, height: c.height).value
            XCTAssertEqual(v, c.tde, accuracy: 1e-12, "case \(k)")
        }
    }

    func testScanMatchMatchesGazeParserSpatialAndTemporal() throws {
        for (k, c) in try fixture().cases.enumerated() {
            let spatial = ScanMatch().compare(path(c.a, durations: false), with: path(c.b, durations: false),
                                              width: c.width, height: c.height).value
            XCTAssertEqual(spatial, c.scanmatch_0, accuracy: 1e-12, "case \(k), spatial")
            let temporal = ScanMatch(temporalBin: 50).compare(path(c.a, durations: true), with: path(c.b, durations: true),
                                                              width: c.width, height: c.height).value
            XCTAssertEqual(temporal, c.scanmatch_50, accuracy: 1e-12, "case \(k), temporal")
        }
    }

    func testMultiMatchMatchesMultimatchGaze() throws {
        var compared = 0
        for (k, c) in try fixture().cases.enumerated() {
            let (a, b) = (path(c.a, durations: true), path(c.b, durations: true))
            for (d, expected) in zip(MultiMatch.Dimension.allCases, c.multimatch) {
                let v = MultiMatchMetric(dimension: d).compare(a, with: b, width: c.width, height: c.height)
                if let expected {
                    XCTAssertEqual(v.value, expected, accuracy: 1e-12, "case \(k), \(d)")
                    compared += 1
                } else {
                    XCTAssertTrue(v.value.isNaN, "case \(k), \(d): the package gives NaN")
                    XCTAssertFalse(v.warnings.isEmpty)
                }
            }
        }
        XCTAssertGreaterThan(compared, 40)
    }

    func testDynamicTimeWarpingMatchesDtwPython() throws {
        for (k, c) in try fixture().cases.enumerated() {
            let v = DynamicTimeWarping().compare(path(c.a, durations: false), with: path(c.b, durations: false),
                                                 width: c.width, height: c.height).value
            XCTAssertEqual(v, c.dtw, accuracy: 1e-9 * max(1, c.dtw), "case \(k)")
        }
    }
}
