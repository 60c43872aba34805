import XCTest
import FovExTensor

/// The median filter reproduces OpenCV's `medianBlur` on an 8-bit image: replicated border, values on
/// the 256 levels.
final class MedianFilterTests: XCTestCase {
    func testThreeByThreeMediansComputedByHand() {
        // Levels (×1/255) of a 3×4 plane; the border is replicated.
        let levels: [Float] = [10, 200, 30, 40,
                               50, 60, 250, 80,
                               90, 100, 110, 0]
        let x = Tensor(shape: [1, 3, 4], scalars: levels.map { $0 / 255 })
        let y = x.medianFiltered(kernelSize: 3).scalars.map { ($0 * 255).rounded() }
        // (0, 0): window rows {10,10,200 | 10,10,200 | 50,50,60} → sorted 10,10,10,10,50,50,60,200,200 → 50.
        // (1, 1): 10,200,30,50,60,250,90,100,110 → sorted 10,30,50,60,90,100,110,200,250 → 90.
        // (2, 3): rows {250,80,80 | 110,0,0 | 110,0,0} → 0,0,0,0,80,80,110,110,250 → 80.
        XCTAssertEqual(y[0], 50)
        XCTAssertEqual(y[5], 90)
        XCTAssertEqual(y[11], 80)
        // (0, 2): {200,30,40 | 200,30,40 | 60,250,80} → 30,30,40,40,60,80,200,200,250 → 60.
        XCTAssertEqual(y[2], 60)
    }

    func testEveryPixelMatchesASortedWindowWithReplicatedBorder() {
        var g = SeededGenerator(seed: 3)
        let (h, w, k) = (9, 13, 5)
        let x = Tensor(randomUniform: [2, h, w], generator: &g)
        let y = x.medianFiltered(kernelSize: k).scalars
        let v = x.scalars.map { ($0 * 255).rounded() }
        for p in 0..<2 { for r in 0..<h { for c in 0..<w {
            var window: [Float] = []
            for dr in -(k / 2)...(k / 2) { for dc in -(k / 2)...(k / 2) {
                window.append(v[p * h * w + min(max(r + dr, 0), h - 1) * w + min(max(c + dc, 0), w - 1)])
            }}
            XCTAssertEqual(y[p * h * w + r * w + c] * 255, window.sorted()[k * k / 2], accuracy: 1e-3)
        }}}
    }

    func testValuesAreRoundedToTheEightBitLevelsAndAKernelOfOneKeepsThem() {
        let x = Tensor(shape: [2, 2], scalars: [0.5, 1.5, -0.2, 0.1])
        XCTAssertEqual(x.medianFiltered(kernelSize: 1).scalars, [128 / 255, 1, 0, 26 / 255])
    }
}
