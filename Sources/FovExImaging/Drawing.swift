/// A position on an image in pixels: x to the right, y down, (0, 0) the centre of the top-left
/// pixel (so integer coordinates are pixel indices, as in fixation data).
public struct ImagePoint: Sendable, Hashable {
    /// Pixels to the right of the top-left pixel's centre.
    public var x: Float
    /// Pixels below the top-left pixel's centre.
    public var y: Float

    /// The point at column `x`, row `y`.
    public init(x: Float, y: Float) {
        self.x = x
        self.y = y
    }
}

extension RGBImage {
    /// Mixes `color` into the pixel at (`x`, `y`) with weight `coverage` in [0, 1]; points outside
    /// the image are ignored.
    mutating func blend(x: Int, y: Int, color: RGBColor, coverage: Float) {
        guard coverage > 0, x >= 0, x < width, y >= 0, y < height else { return }
        let a = min(coverage, 1)
        let i = 3 * (y * width + x)
        pixels[i] = mix(pixels[i], color.red, a)
        pixels[i + 1] = mix(pixels[i + 1], color.green, a)
        pixels[i + 2] = mix(pixels[i + 2], color.blue, a)
    }

    /// Paints every pixel whose distance `d` (from `distance`) to a shape is below `halfWidth`, with
    /// one-pixel anti-aliased edges: coverage = clamp(halfWidth + ½ − d, 0, 1).
    private mutating func paint(xs: ClosedRange<Float>, ys: ClosedRange<Float>, color: RGBColor, halfWidth: Float,
                                distance: (Float, Float) -> Float) {
        let x0 = max(Int((xs.lowerBound - halfWidth - 1).rounded(.down)), 0)
        let x1 = min(Int((xs.upperBound + halfWidth + 1).rounded(.up)), width - 1)
        let y0 = max(Int((ys.lowerBound - halfWidth - 1).rounded(.down)), 0)
        let y1 = min(Int((ys.upperBound + halfWidth + 1).rounded(.up)), height - 1)
        guard x0 <= x1, y0 <= y1 else { return }
        for y in y0...y1 {
            for x in x0...x1 {
                blend(x: x, y: y, color: color, coverage: halfWidth + 0.5 - distance(Float(x), Float(y)))
            }
        }
    }

    /// Fills a disc, anti-aliased.
    public mutating func fillCircle(center: ImagePoint, radius: Float, color: RGBColor) {
        guard radius > 0 else { return }
        paint(xs: center.x...center.x, ys: center.y...center.y, color: color, halfWidth: radius) { x, y in
            ((x - center.x) * (x - center.x) + (y - center.y) * (y - center.y)).squareRoot()
        }
    }

    /// Draws a filled circle with an outline `outlineWidth` pixels wide inside its `radius`.
    public mutating func drawCircle(center: ImagePoint, radius: Float, fill: RGBColor, outline: RGBColor,
                                    outlineWidth: Float = 1) {
        fillCircle(center: center, radius: radius, color: outline)
        fillCircle(center: center, radius: radius - outlineWidth, color: fill)
    }

    /// Draws a straight line `thickness` pixels wide with round ends, anti-aliased.
    public mutating func drawLine(from a: ImagePoint, to b: ImagePoint, color: RGBColor, thickness: Float = 1) {
        guard thickness > 0 else { return }
        let (dx, dy) = (b.x - a.x, b.y - a.y)
        let lengthSquared = dx * dx + dy * dy
        paint(xs: min(a.x, b.x)...max(a.x, b.x), ys: min(a.y, b.y)...max(a.y, b.y), color: color,
              halfWidth: thickness / 2) { x, y in
            // Distance to the segment: project onto it, clamp to its ends.
            let t = lengthSquared > 0 ? min(max(((x - a.x) * dx + (y - a.y) * dy) / lengthSquared, 0), 1) : 0
            let (px, py) = (a.x + t * dx - x, a.y + t * dy - y)
            return (px * px + py * py).squareRoot()
        }
    }
}

@inline(__always)
private func mix(_ old: UInt8, _ new: UInt8, _ a: Float) -> UInt8 {
    // Spelled out step by step: as one expression it took the type checker over a second.
    let from = Float(old), to = Float(new)
    let blended: Float = from + (to - from) * a
    return UInt8(blended + 0.5)
}
