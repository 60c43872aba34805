/// Colormaps for showing a map of values in [0, 1] as colours, with matplotlib's 256-entry tables.
public enum Colormap: String, Sendable, CaseIterable {
    /// matplotlib's `jet`: blue through cyan, yellow and red (the paper's figures).
    case jet
    /// Google's `turbo`: a smoother, perceptually more even rainbow.
    case turbo
    /// matplotlib's `viridis`: perceptually uniform, dark blue to yellow, readable in grey.
    case viridis
    /// matplotlib's `inferno`: perceptually uniform, black through red to pale yellow.
    case inferno

    /// The table entry matplotlib picks for `value`: ⌊value·256⌋ clamped to 0…255, so 1 picks the
    /// last entry, values below 0 the first and above 1 the last. NaN gives `nil` (matplotlib's
    /// "bad" colour).
    public func index(for value: Float) -> Int? {
        guard !value.isNaN else { return nil }
        let scaled = value * 256
        if scaled < 0 { return 0 }
        if scaled >= 255 { return 255 }
        return Int(scaled)
    }

    /// The colour of `value` with components in [0, 1]; NaN maps to black.
    public func color(for value: Float) -> (red: Float, green: Float, blue: Float) {
        guard let i = index(for: value) else { return (0, 0, 0) }
        let t = table
        return (t[3 * i], t[3 * i + 1], t[3 * i + 2])
    }

    /// The 8-bit colour of `value`, converted as matplotlib's `cmap(x, bytes=True)` does (component
    /// × 255, truncated); NaN maps to black.
    public func rgbColor(for value: Float) -> RGBColor {
        guard let i = index(for: value) else { return .black }
        return rgbColor(entry: i, of: table)
    }

    private func rgbColor(entry i: Int, of t: [Float]) -> RGBColor {
        RGBColor(red: UInt8(Double(t[3 * i]) * 255), green: UInt8(Double(t[3 * i + 1]) * 255),
                 blue: UInt8(Double(t[3 * i + 2]) * 255))
    }

    /// Colours every value of `map`.
    public func apply(to map: FloatMap) -> RGBImage {
        let t = table
        let lut = (0..<256).map { rgbColor(entry: $0, of: t) }
        var bytes = [UInt8](repeating: 0, count: 3 * map.values.count)
        for (i, v) in map.values.enumerated() {
            guard let k = index(for: v) else { continue }
            bytes[3 * i] = lut[k].red
            bytes[3 * i + 1] = lut[k].green
            bytes[3 * i + 2] = lut[k].blue
        }
        return RGBImage(width: map.width, height: map.height, pixels: bytes)
    }
}
