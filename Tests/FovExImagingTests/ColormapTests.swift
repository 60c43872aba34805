import XCTest
@testable import FovExImaging

final class ColormapTests: XCTestCase {
    private func assertColor(_ map: Colormap, _ value: Float, _ expected: (Float, Float, Float),
                             file: StaticString = #filePath, line: UInt = #line) {
        let c = map.color(for: value)
        XCTAssertEqual(c.red, expected.0, accuracy: 1e-6, "\(map)(\(value)) red", file: file, line: line)
        XCTAssertEqual(c.green, expected.1, accuracy: 1e-6, "\(map)(\(value)) green", file: file, line: line)
        XCTAssertEqual(c.blue, expected.2, accuracy: 1e-6, "\(map)(\(value)) blue", file: file, line: line)
    }

    /// Values printed by matplotlib 3.x (`matplotlib.colormaps[name](x)`).
    func testMatplotlibReferenceValues() {
        assertColor(.viridis, 0, (0.267004, 0.004874, 0.329415))
        assertColor(.viridis, 0.5, (0.127568, 0.566949, 0.550556))
        assertColor(.viridis, 1, (0.993248, 0.906157, 0.143936))
        assertColor(.inferno, 0, (0.001462, 0.000466, 0.013866))
        assertColor(.inferno, 1, (0.988362, 0.998364, 0.644924))
        assertColor(.turbo, 0, (0.18995, 0.07176, 0.23217))
        assertColor(.turbo, 1, (0.4796, 0.01583, 0.01055))
        assertColor(.jet, 0, (0, 0, 0.5))
        assertColor(.jet, 0.5, (0.49019608, 1, 0.47754586))
        assertColor(.jet, 1, (0.5, 0, 0))
    }

    func testIndexFollowsMatplotlib() {
        let map = Colormap.viridis
        XCTAssertEqual(map.index(for: 0), 0)
        XCTAssertEqual(map.index(for: 1.0 / 256 - 1e-4), 0)
        XCTAssertEqual(map.index(for: 1.0 / 256 + 1e-4), 1)
        XCTAssertEqual(map.index(for: 0.5), 128)
        XCTAssertEqual(map.index(for: 1), 255)
        XCTAssertEqual(map.index(for: -3), 0)
        XCTAssertEqual(map.index(for: 7), 255)
        XCTAssertNil(map.index(for: .nan))
    }

    func testTablesHave256EntriesInUnitRange() {
        for map in Colormap.allCases {
            XCTAssertEqual(map.table.count, 768, "\(map)")
            XCTAssertTrue(map.table.allSatisfy { (0...1).contains($0) }, "\(map)")
        }
        // viridis and inferno grow brighter monotonically (perceptually uniform maps).
        for map in [Colormap.viridis, .inferno] {
            let luma = (0..<256).map { i in map.rgbColor(for: (Float(i) + 0.5) / 256).luma }
            XCTAssertTrue(zip(luma, luma.dropFirst()).allSatisfy { $0 <= $1 + 0.6 }, "\(map)")
        }
    }

    func testBytesTruncateLikeMatplotlib() {
        // matplotlib: (0.993248·255, 0.906157·255, 0.143936·255) → (253, 231, 36) with bytes=True.
        XCTAssertEqual(Colormap.viridis.rgbColor(for: 1), RGBColor(red: 253, green: 231, blue: 36))
        XCTAssertEqual(Colormap.jet.rgbColor(for: 0), RGBColor(red: 0, green: 0, blue: 127))
        XCTAssertEqual(Colormap.jet.rgbColor(for: .nan), .black)
    }

    func testApplyColoursEveryValue() {
        let map = FloatMap(width: 3, height: 1, values: [0, 0.5, 1])
        let image = Colormap.inferno.apply(to: map)
        XCTAssertEqual(image.width, 3)
        for x in 0..<3 { XCTAssertEqual(image[x, 0], Colormap.inferno.rgbColor(for: map[x, 0])) }
    }

    func testOverlayBlendsAndResizes() {
        let image = RGBImage(width: 8, height: 6, color: RGBColor(red: 100, green: 100, blue: 100))
        let heat = FloatMap(width: 2, height: 2, values: [0, 0, 1, 1])  // bottom half hot
        XCTAssertEqual(overlay(heatmap: heat, on: image, alpha: 0), image)
        let full = overlay(heatmap: heat, on: image, alpha: 1, colormap: .jet)
        XCTAssertEqual(full[0, 0], RGBColor(red: 0, green: 0, blue: 128))  // jet(0) = (0, 0, 0.5)
        XCTAssertEqual(full[7, 5], RGBColor(red: 128, green: 0, blue: 0))  // jet(1) = (0.5, 0, 0)
        let half = overlay(heatmap: heat, on: image, alpha: 0.5, colormap: .jet)
        XCTAssertEqual(half[0, 0], RGBColor(red: 50, green: 50, blue: 114))
        // The middle rows are interpolated: neither end of the map.
        XCTAssertNotEqual(full[3, 2], full[3, 0])
        XCTAssertNotEqual(full[3, 2], full[3, 5])
    }
}
