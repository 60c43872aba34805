/// A 5×7 bitmap font for the digits 0–9, for numbering markers without a font library.
enum DigitFont {
    static let glyphWidth = 5
    static let glyphHeight = 7

    private static let rows: [[String]] = [
        [".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."],
        ["..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."],
        [".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"],
        ["#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."],
        ["...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."],
        ["#####", "#....", "####.", "....#", "....#", "#...#", ".###."],
        ["..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."],
        ["#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."],
        [".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."],
        [".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."],
    ]

    /// Whether the glyph of `digit` has ink at column `x`, row `y`.
    static func ink(_ digit: Int, x: Int, y: Int) -> Bool {
        Array(rows[digit][y].utf8)[x] == UInt8(ascii: "#")
    }

    /// The ink of the decimal digits of `number`, each font pixel a `scale`×`scale` block, glyphs one
    /// font pixel apart: (width, height, row-major mask).
    static func mask(for number: Int, scale: Int) -> (width: Int, height: Int, ink: [Bool]) {
        precondition(number >= 0, "only non-negative numbers can be drawn, got \(number)")
        precondition(scale >= 1, "font scale must be at least 1, got \(scale)")
        let digits = String(number).utf8.map { Int($0 - UInt8(ascii: "0")) }
        let w = (digits.count * (glyphWidth + 1) - 1) * scale, h = glyphHeight * scale
        var ink = [Bool](repeating: false, count: w * h)
        for (k, d) in digits.enumerated() {
            for gy in 0..<glyphHeight {
                for gx in 0..<glyphWidth where self.ink(d, x: gx, y: gy) {
                    let ox = (k * (glyphWidth + 1) + gx) * scale
                    for y in gy * scale..<(gy + 1) * scale {
                        for x in ox..<ox + scale { ink[y * w + x] = true }
                    }
                }
            }
        }
        return (w, h, ink)
    }
}

extension RGBImage {
    /// Draws the decimal digits of `number` centred at `center`, each font pixel `scale`×`scale`
    /// image pixels, with an outline `max(1, scale / 2)` pixels wide in `outline` (by default the
    /// colour contrasting with `color`) so the digits read on any background.
    public mutating func drawNumber(_ number: Int, centeredAt center: ImagePoint, scale: Int = 2,
                                    color: RGBColor = .white, outline: RGBColor? = nil) {
        let glyphs = DigitFont.mask(for: number, scale: scale)
        let left = Int((center.x - Float(glyphs.width - 1) / 2).rounded())
        let top = Int((center.y - Float(glyphs.height - 1) / 2).rounded())
        let r = max(1, scale / 2)
        let edge = outline ?? color.contrasting
        // The outline is the ink grown by r pixels in every direction, drawn under the ink.
        for y in -r..<glyphs.height + r {
            for x in -r..<glyphs.width + r {
                let inked = (max(y - r, 0)...min(y + r, glyphs.height - 1)).contains { yy in
                    (max(x - r, 0)...min(x + r, glyphs.width - 1)).contains { glyphs.ink[yy * glyphs.width + $0] }
                }
                if inked { blend(x: left + x, y: top + y, color: edge, coverage: 1) }
            }
        }
        for y in 0..<glyphs.height {
            for x in 0..<glyphs.width where glyphs.ink[y * glyphs.width + x] {
                blend(x: left + x, y: top + y, color: color, coverage: 1)
            }
        }
    }
}
