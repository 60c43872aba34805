import Foundation
import XCTest
@testable import FovExImaging

final class BilinearTests: XCTestCase {
    private struct Case: Decodable {
        var width: Int
        var height: Int
        var values: [Float]
        var outWidth: Int
        var outHeight: Int
        var expected: [Float]
    }

    /// Reference: torch.nn.functional.interpolate(mode="bilinear", align_corners=False).
    func testMatchesPyTorch() throws {
        let cases = try JSONDecoder().decode([Case].self, from: Data(contentsOf: try fixtureURL("bilinear.json")))
        XCTAssertEqual(cases.count, 4)
        for c in cases {
            let out = FloatMap(width: c.width, height: c.height, values: c.values)
                .resized(width: c.outWidth, height: c.outHeight)
            XCTAssertEqual(out.width, c.outWidth)
            XCTAssertEqual(out.height, c.outHeight)
            let worst = zip(out.values, c.expected).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst, 1e-5, "\(c.width)×\(c.height) → \(c.outWidth)×\(c.outHeight)")
        }
    }

    func testConstantMapsStayConstantAndSameSizeIsIdentity() {
        let constant = FloatMap(width: 3, height: 5, repeating: 0.25).resized(width: 17, height: 2)
        XCTAssertTrue(constant.values.allSatisfy { abs($0 - 0.25) < 1e-7 })
        let map = FloatMap(width: 2, height: 2, values: [1, 2, 3, 4])
        XCTAssertEqual(map.resized(width: 2, height: 2), map)
    }

    func testDoublingInterpolatesBetweenPixelCentres() {
        // Output pixel centres fall at input positions −0.25, 0.25, 0.75, 1.25 (clamped at the edges).
        let row = FloatMap(width: 2, height: 1, values: [0, 1]).resized(width: 4, height: 1)
        XCTAssertEqual(row.values, [0, 0.25, 0.75, 1])
    }
}
