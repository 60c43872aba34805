/// How scanpath markers and the lines between them look.
public struct ScanpathStyle: Sendable, Equatable {
    /// Radius of a fixation's disc, in pixels.
    public var markerRadius: Float
    /// Colour of the discs; the numbers are drawn in its contrasting colour.
    public var markerFill: RGBColor
    /// Colour of the discs' outlines.
    public var markerOutline: RGBColor
    /// Width of the outlines, in pixels.
    public var outlineWidth: Float
    /// Colour of the lines joining consecutive fixations.
    public var lineColor: RGBColor
    /// Thickness of those lines, in pixels.
    public var lineThickness: Float

    /// A style with discs of `markerRadius`; the outline and the line thickness default to sizes that scale with it.
    public init(markerRadius: Float, markerFill: RGBColor = .yellow, markerOutline: RGBColor = .black,
                outlineWidth: Float? = nil, lineColor: RGBColor = .yellow, lineThickness: Float? = nil) {
        self.markerRadius = markerRadius
        self.markerFill = markerFill
        self.markerOutline = markerOutline
        self.outlineWidth = outlineWidth ?? max(1, markerRadius / 6)
        self.lineColor = lineColor
        self.lineThickness = lineThickness ?? max(1.5, markerRadius / 4)
    }

    /// Markers sized to the image: radius max(7, short side / 30).
    public static func scaled(toWidth width: Int, height: Int) -> ScanpathStyle {
        ScanpathStyle(markerRadius: max(7, Float(min(width, height)) / 30))
    }
}

extension RGBImage {
    /// Draws a circular marker with `number` written inside it, the digits as large as fit.
    public mutating func drawMarker(at point: ImagePoint, number: Int, style: ScanpathStyle) {
        drawCircle(center: point, radius: style.markerRadius, fill: style.markerFill, outline: style.markerOutline,
                   outlineWidth: style.outlineWidth)
        let digits = String(number).count
        let textUnits = Float(digits * (DigitFont.glyphWidth + 1) - 1)
        let fit = min(1.2 * style.markerRadius / Float(DigitFont.glyphHeight), 1.5 * style.markerRadius / textUnits)
        let textColor = style.markerFill.contrasting
        drawNumber(number, centeredAt: point, scale: max(1, Int(fit)), color: textColor, outline: textColor.contrasting)
    }

    /// Draws a scanpath: the points joined in order by lines, then a marker numbered 1…N at each
    /// point (later markers on top of earlier ones).
    public mutating func drawScanpath(_ points: [ImagePoint], style: ScanpathStyle? = nil) {
        let style = style ?? .scaled(toWidth: width, height: height)
        for (a, b) in zip(points, points.dropFirst()) {
            drawLine(from: a, to: b, color: style.lineColor, thickness: style.lineThickness)
        }
        for (i, p) in points.enumerated() {
            drawMarker(at: p, number: i + 1, style: style)
        }
    }
}
