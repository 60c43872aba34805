import Foundation
import XCTest
@testable import FovExImaging

/// The animated scanpath's timeline and SVG structure.
final class ScanpathAnimationTests: XCTestCase {
    let points: [(x: Float, y: Float)] = [(10, 10), (90, 20), (50, 70), (20, 60)]

    func testTimelineHoldsEachFixationThenMoves() {
        var a = ScanpathAnimation(fixations: points, title: "t")
        a.secondsPerFixation = 1
        a.saccadeSeconds = 0.5
        a.endPause = 2
        let (starts, period) = a.timeline
        XCTAssertEqual(starts, [0, 1.5, 3, 4.5])  // exact in binary
        XCTAssertEqual(period, 7.5)
        a.durations = [0.2, 0.3, 0.01, 0.4]  // a human's recorded durations; very short ones are shown for 0.05 s
        for (t, expected) in zip(a.timeline.starts, [0, 0.7, 1.5, 2.05]) { XCTAssertEqual(t, expected, accuracy: 1e-12) }
    }

    func attribute(_ name: String, in element: Substring) -> String? {
        guard let r = element.range(of: name + "=\"") else { return nil }
        return String(element[r.upperBound...].prefix { $0 != "\"" })
    }

    func testSVGHasOneMarkerPerFixationAndAFadingMemory() throws {
        var a = ScanpathAnimation(fixations: points, title: "a <b>")
        a.forgetting = 0.5
        a.embeddedMaxSide = 50
        let svg = try a.svg(photo: RGBImage(width: 100, height: 80, color: .white))
        XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1, 4)
        XCTAssertEqual(svg.components(separatedBy: "<line").count - 1, 3)
        XCTAssertTrue(svg.contains("<title>a &lt;b&gt;</title>"))
        // Memory discs: fixation 1's shows at weights 1, β, β² during fixations 2, 3, 4.
        let ellipses = svg.components(separatedBy: "<ellipse").dropFirst().map { Substring($0) }
        XCTAssertEqual(ellipses.count, 4)  // three memory discs and the fovea
        let firstValues = try XCTUnwrap(ellipses[0].components(separatedBy: "values=\"").dropFirst().first?.prefix { $0 != "\"" })
        XCTAssertEqual(String(firstValues), "0;1.0000;0.5000;0.2500")
        // Every keyTimes list starts at 0, rises, and stays within the loop.
        for chunk in svg.components(separatedBy: "keyTimes=\"").dropFirst() {
            let keys = chunk.prefix { $0 != "\"" }.split(separator: ";").compactMap { Double($0) }
            XCTAssertEqual(keys.first, 0)
            XCTAssertEqual(keys, keys.sorted())
            XCTAssertLessThanOrEqual(keys.last!, 1)
        }
        // The fovea's own keyTimes end at 1 (it holds the last fixation to the loop's end).
        let fovea = ellipses[3]
        XCTAssertEqual(attribute("keyTimes", in: fovea)?.split(separator: ";").last, "1.0000")
        XCTAssertEqual(attribute("values", in: fovea), "10.0000;10.0000;90.0000;90.0000;50.0000;50.0000;20.0000;20.0000")
        // The photo is embedded downscaled to 50 px on its longer side.
        let base64 = try XCTUnwrap(svg.components(separatedBy: "data:image/jpeg;base64,").dropFirst().first?.prefix { $0 != "\"" })
        let jpeg = try XCTUnwrap(Data(base64Encoded: String(base64)))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("anim-\(UUID().uuidString).jpg")
        try jpeg.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let embedded = try RGBImage(contentsOf: file)
        XCTAssertEqual([embedded.width, embedded.height], [50, 40])
    }
}
