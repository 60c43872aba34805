import Foundation
import XCTest
@testable import FovExMetrics

/// The sanity check's similarities: hand-computed golden cases, and parity with SciPy and scikit-image
/// on seeded random maps (tools/make_sanity_fixtures.py).
final class MapSimilarityTests: XCTestCase {
    struct Pipeline: Decodable { var spearman: Double, spearman_abs: Double, ssim: Double, hog: Double }
    struct Case: Decodable {
        var width: Int, height: Int
        var a: [Double], b: [Double]
        var spearman: Double, pearson: Double, ssim: Double, hog_pearson: Double
        var pipeline: Pipeline
        var hog_descriptor: [Double]?
    }
    struct Fixture: Decodable { var cases: [Case] }

    func fixture() throws -> Fixture {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: dir.appendingPathComponent("sanity_similarity_reference.json")))
    }

    func testSpearmanGoldenCases() throws {
        // One swap of neighbours among 4: ρ = 1 − 6·Σd² / (n(n² − 1)) = 1 − 6·2/60 = 0.8.
        XCTAssertEqual(try XCTUnwrap(MapSimilarity.spearman([1, 2, 3, 4], [10, 30, 20, 40])), 0.8, accuracy: 1e-12)
        // Reversed order: −1; any increasing transform keeps 1.
        XCTAssertEqual(try XCTUnwrap(MapSimilarity.spearman([1, 2, 3, 4], [4, 3, 2, 1])), -1, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(MapSimilarity.spearman([0.1, 0.5, 0.2], [1, 100, 3])), 1, accuracy: 1e-12)
        // Ties take their average rank: [1, 2, 2, 3] ranks as [1, 2.5, 2.5, 4]; with [1, 2, 3, 4] Pearson of the
        // ranks is 4.5 / √(4.5 · 5) = 0.9486832980505138.
        XCTAssertEqual(MapSimilarity.ranks([5, 7, 7, 9]), [1, 2.5, 2.5, 4])
        XCTAssertEqual(try XCTUnwrap(MapSimilarity.spearman([5, 7, 7, 9], [1, 2, 3, 4])), 0.9486832980505138, accuracy: 1e-12)
    }

    func testDegenerateMapsIdenticalIsOneOtherwiseUndefined() {
        let flat = [Double](repeating: 0.25, count: 64)
        XCTAssertEqual(MapSimilarity.spearman(flat, flat), 1)
        XCTAssertEqual(MapSimilarity.ssim(flat, flat, width: 8, height: 8), 1)
        XCTAssertEqual(MapSimilarity.hogSimilarity(flat + flat + flat + flat + flat + flat + flat + flat + flat,
                                                   flat + flat + flat + flat + flat + flat + flat + flat + flat, width: 24, height: 24), 1)
        let ramp = (0..<64).map(Double.init)
        XCTAssertNil(MapSimilarity.spearman(flat, ramp), "a constant map has no ranks")
        XCTAssertNil(MapSimilarity.pearson(ramp, flat))
        XCTAssertNil(MapSimilarity.hog(ramp, width: 8, height: 8), "smaller than one 3×3-cell block")
        XCTAssertEqual(MapSimilarity.normalisedByMax([0, -4, 2]), [0, -1, 0.5])
        XCTAssertEqual(MapSimilarity.normalisedByMax([0, 0]), [0, 0])
    }

    func testSSIMGoldenCase() throws {
        // 7×7 maps: one window. x = 0…48 (row-major), y = 48 − x: μx = μy = 24, sample variances
        // σx² = σy² = (49² − 1)/12 · 49/48 = 204.1666…, σxy = −σx²; data range 48, C1 = 0.48², C2 = 1.44².
        let x = (0..<49).map(Double.init), y = x.map { 48 - $0 }
        let v = 200.0 * 49 / 48, c1 = 0.48 * 0.48, c2 = 1.44 * 1.44
        let expected = (2 * 24 * 24 + c1) * (-2 * v + c2) / ((24 * 24 * 2 + c1) * (2 * v + c2))
        XCTAssertEqual(try XCTUnwrap(MapSimilarity.ssim(x, y, width: 7, height: 7)), expected, accuracy: 1e-12)
    }

    func testHOGGoldenCase() throws {
        // A horizontal ramp: every inner pixel has gx = 2 (central difference), gy = 0, so orientation 0 (bin 0),
        // except the first and last columns (gx = 0). The one 3×3 block holds 9 cells with only bin 0 set, each
        // above 0.2 after the L2 norm, so all are clipped to 0.2 and renormalised to 1/3.
        let (w, h) = (24, 24)
        let ramp = (0..<(w * h)).map { Double($0 % w) }
        let d = try XCTUnwrap(MapSimilarity.hog(ramp, width: w, height: h))
        XCTAssertEqual(d.count, 1 * 1 * 9 * 9)
        for cell in 0..<9 {
            for bin in 0..<9 {
                XCTAssertEqual(d[cell * 9 + bin], bin == 0 ? 1.0 / 3 : 0, accuracy: 1e-6, "cell \(cell) bin \(bin)")
            }
        }
    }

    func testMatchesSciPyAndScikitImage() throws {
        for (k, c) in try fixture().cases.enumerated() {
            XCTAssertEqual(try XCTUnwrap(MapSimilarity.spearman(c.a, c.b)), c.spearman, accuracy: 1e-10, "case \(k) spearman")
            XCTAssertEqual(try XCTUnwrap(MapSimilarity.pearson(c.a, c.b)), c.pearson, accuracy: 1e-10, "case \(k) pearson")
            XCTAssertEqual(try XCTUnwrap(MapSimilarity.ssim(c.a, c.b, width: c.width, height: c.height)), c.ssim,
                           accuracy: 1e-9, "case \(k) ssim")
            // skimage accumulates cell histograms in single precision.
            XCTAssertEqual(try XCTUnwrap(MapSimilarity.hogSimilarity(c.a, c.b, width: c.width, height: c.height)), c.hog_pearson,
                           accuracy: 1e-5, "case \(k) hog")
            if let reference = c.hog_descriptor {
                let d = try XCTUnwrap(MapSimilarity.hog(c.a, width: c.width, height: c.height))
                XCTAssertEqual(d.count, reference.count)
                XCTAssertLessThan(zip(d, reference).map { abs($0 - $1) }.max()!, 1e-5, "case \(k) descriptor")
            }
            let s = SanitySimilarities(trained: c.a, randomised: c.b, width: c.width, height: c.height)
            XCTAssertEqual(try XCTUnwrap(s.spearman), c.pipeline.spearman, accuracy: 1e-10, "case \(k)")
            XCTAssertEqual(try XCTUnwrap(s.spearmanAbs), c.pipeline.spearman_abs, accuracy: 1e-10, "case \(k)")
            XCTAssertEqual(try XCTUnwrap(s.ssim), c.pipeline.ssim, accuracy: 1e-9, "case \(k)")
            XCTAssertEqual(try XCTUnwrap(s.hog), c.pipeline.hog, accuracy: 1e-5, "case \(k)")
        }
    }
}
