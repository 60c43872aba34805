/// An 8-bit sRGB colour.
public struct RGBColor: Sendable, Hashable {
    /// Red, 0…255.
    public var red: UInt8
    /// Green, 0…255.
    public var green: UInt8
    /// Blue, 0…255.
    public var blue: UInt8

    /// The colour with these channel values.
    public init(red: UInt8, green: UInt8, blue: UInt8) {
        self.red = red
        self.green = green
        self.blue = blue
    }

    /// Black.
    public static let black = RGBColor(red: 0, green: 0, blue: 0)
    /// White.
    public static let white = RGBColor(red: 255, green: 255, blue: 255)
    /// A strong red (230, 25, 25).
    public static let red = RGBColor(red: 230, green: 25, blue: 25)
    /// The yellow of scanpath markers and lines.
    public static let yellow = RGBColor(red: 255, green: 220, blue: 0)
    /// Cyan.
    public static let cyan = RGBColor(red: 0, green: 220, blue: 255)

    /// Rec. 601 luma in [0, 255], used to pick a readable contrasting colour.
    public var luma: Float { 0.299 * Float(red) + 0.587 * Float(green) + 0.114 * Float(blue) }

    /// Black on light colours, white on dark ones.
    public var contrasting: RGBColor { luma > 140 ? .black : .white }
}

/// An RGB image with 8 bits per channel.
///
/// Storage is interleaved and row-major: the pixel at column `x`, row `y` occupies
/// `pixels[3 * (y * width + x) ..< 3 * (y * width + x) + 3]` as red, green, blue. Values are sRGB
/// encoded as decoders deliver them (no gamma conversion); ``tensor()`` maps them to [0, 1] by
/// dividing by 255.
public struct RGBImage: Sendable, Equatable {
    /// Columns.
    public let width: Int
    /// Rows.
    public let height: Int
    /// Interleaved R, G, B bytes, `3 * width * height` of them.
    public var pixels: [UInt8]

    /// Wraps interleaved RGB bytes.
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0, "negative image size \(width)×\(height)")
        precondition(pixels.count == 3 * width * height,
                     "a \(width)×\(height) RGB image needs \(3 * width * height) bytes, got \(pixels.count)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// An image filled with one colour.
    public init(width: Int, height: Int, color: RGBColor = .black) {
        precondition(width >= 0 && height >= 0, "negative image size \(width)×\(height)")
        var bytes = [UInt8](repeating: 0, count: 3 * width * height)
        for i in stride(from: 0, to: bytes.count, by: 3) {
            bytes[i] = color.red
            bytes[i + 1] = color.green
            bytes[i + 2] = color.blue
        }
        self.init(width: width, height: height, pixels: bytes)
    }

    /// The Rec. 601 luma (0…255) of the pixel at column `x`, row `y`.
    public func luma(x: Int, y: Int) -> Float { self[x, y].luma }

    /// The colour at column `x`, row `y`.
    public subscript(x: Int, y: Int) -> RGBColor {
        get {
            precondition(x >= 0 && x < width && y >= 0 && y < height, "pixel (\(x), \(y)) outside \(width)×\(height)")
            let i = 3 * (y * width + x)
            return RGBColor(red: pixels[i], green: pixels[i + 1], blue: pixels[i + 2])
        }
        set {
            precondition(x >= 0 && x < width && y >= 0 && y < height, "pixel (\(x), \(y)) outside \(width)×\(height)")
            let i = 3 * (y * width + x)
            pixels[i] = newValue.red
            pixels[i + 1] = newValue.green
            pixels[i + 2] = newValue.blue
        }
    }
}
