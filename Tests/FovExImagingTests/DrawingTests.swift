import XCTest
@testable import FovExImaging

final class DrawingTests: XCTestCase {
    func testMarkerChangesPixelsOnlyAroundItsCentre() {
        let blank = RGBImage(width: 60, height: 40, color: .white)
        var image = blank
        let style = ScanpathStyle(markerRadius: 8, markerFill: .red, markerOutline: .black, outlineWidth: 2)
        image.drawMarker(at: ImagePoint(x: 20, y: 15), number: 3, style: style)
        let changed = changedPixels(blank, image)
        XCTAssertFalse(changed.isEmpty)
        for p in changed {
            let d = (Float(p.x - 20) * Float(p.x - 20) + Float(p.y - 15) * Float(p.y - 15)).squareRoot()
            XCTAssertLessThan(d, 8 + 1.5, "pixel \(p) changed")
        }
        // Outline at the rim, fill between rim and digit, digit in the contrasting colour at the centre.
        XCTAssertEqual(image[20, 15 - 7], .black)
        XCTAssertEqual(image[20 - 5, 15], .red)
        let inkColour = RGBColor.red.contrasting
        XCTAssertTrue((12...18).contains { y in (17...23).contains { x in image[x, y] == inkColour } })
    }

    func testDigitGlyphsAreDistinct() {
        let masks = (0...9).map { DigitFont.mask(for: $0, scale: 1).ink }
        for a in 0...9 {
            XCTAssertEqual(masks[a].count, DigitFont.glyphWidth * DigitFont.glyphHeight)
            XCTAssertTrue(masks[a].contains(true))
            for b in (a + 1)..<10 { XCTAssertNotEqual(masks[a], masks[b], "digits \(a) and \(b)") }
        }
        // Drawn on an image, different digits give different pictures.
        let drawn = (0...9).map { d -> [UInt8] in
            var image = RGBImage(width: 20, height: 20, color: .black)
            image.drawNumber(d, centeredAt: ImagePoint(x: 10, y: 10), scale: 2, color: .white, outline: .black)
            return image.pixels
        }
        XCTAssertEqual(Set(drawn).count, 10)
    }

    func testNumbersScaleAndHaveAContrastingOutline() {
        let mask = DigitFont.mask(for: 12, scale: 3)
        XCTAssertEqual(mask.width, (2 * 6 - 1) * 3)
        XCTAssertEqual(mask.height, 21)
        var image = RGBImage(width: 50, height: 40, color: RGBColor(red: 128, green: 128, blue: 128))
        image.drawNumber(12, centeredAt: ImagePoint(x: 25, y: 20), scale: 3, color: .white)
        let colours = Set((0..<40).flatMap { y in (0..<50).map { image[$0, y] } })
        XCTAssertEqual(colours, [RGBColor(red: 128, green: 128, blue: 128), .white, .black])
    }

    func testLineCoversItsPathWithTheGivenThickness() {
        var image = RGBImage(width: 40, height: 40, color: .black)
        image.drawLine(from: ImagePoint(x: 5, y: 20), to: ImagePoint(x: 35, y: 20), color: .white, thickness: 4)
        // The line spans y 18…22; pixels 19–21 lie wholly inside, 18 and 22 half (anti-aliased).
        for y in 19...21 { XCTAssertEqual(image[20, y], .white) }
        XCTAssertEqual(image[20, 22].red, 128, accuracy: 1)
        XCTAssertEqual(image[20, 18].red, 128, accuracy: 1)
        XCTAssertEqual(image[20, 23], .black)
        XCTAssertEqual(image[1, 20], .black)
        var diagonal = RGBImage(width: 30, height: 30, color: .black)
        diagonal.drawLine(from: ImagePoint(x: 2, y: 2), to: ImagePoint(x: 27, y: 27), color: .white, thickness: 2)
        XCTAssertEqual(diagonal[15, 15], .white)
        XCTAssertEqual(diagonal[25, 5], .black)
    }

    func testScanpathDrawsNumberedMarkersJoinedInOrder() {
        let blank = RGBImage(width: 120, height: 80, color: .black)
        let points = [ImagePoint(x: 20, y: 20), ImagePoint(x: 100, y: 20), ImagePoint(x: 60, y: 65)]
        var image = blank
        let style = ScanpathStyle(markerRadius: 9, markerFill: .yellow, lineColor: .cyan, lineThickness: 3)
        image.drawScanpath(points, style: style)
        XCTAssertEqual(image[60, 20], .cyan)   // between markers 1 and 2
        XCTAssertEqual(image[80, 42], .cyan)   // between markers 2 and 3
        XCTAssertEqual(image[40, 42], .black)  // 3 is not joined back to 1
        // Each marker is the one for its number in the sequence (compared inside its anti-aliased rim).
        for (i, p) in points.enumerated() {
            var alone = blank
            alone.drawMarker(at: p, number: i + 1, style: style)
            for y in Int(p.y) - 8...Int(p.y) + 8 {
                for x in Int(p.x) - 8...Int(p.x) + 8
                where (Float(x) - p.x) * (Float(x) - p.x) + (Float(y) - p.y) * (Float(y) - p.y) <= 64 {
                    XCTAssertEqual(image[x, y], alone[x, y], "marker \(i + 1) at (\(x), \(y))")
                }
            }
        }
        // Default style fits the image and draws inside it.
        var defaulted = blank
        defaulted.drawScanpath(points)
        XCTAssertNotEqual(defaulted, blank)
    }

    func testDrawingOutsideTheImageIsClipped() {
        var image = RGBImage(width: 10, height: 10, color: .black)
        image.drawMarker(at: ImagePoint(x: -3, y: 12), number: 7, style: ScanpathStyle(markerRadius: 6))
        image.drawLine(from: ImagePoint(x: -50, y: -50), to: ImagePoint(x: -40, y: 60), color: .white, thickness: 3)
        XCTAssertNotEqual(image[0, 9], .black)
        XCTAssertEqual(image[9, 0], .black)
    }
}
