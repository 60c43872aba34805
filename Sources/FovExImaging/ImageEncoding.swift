import Foundation

/// Bits per sample of a grayscale PNG.
public enum PNGBitDepth: Int, Sendable {
    /// Values in [0, 1] stored as 0…255.
    case eight = 8
    /// Values in [0, 1] stored as 0…65535: enough to keep a map's fine differences.
    case sixteen = 16
}

extension RGBImage {
    /// The image as an 8-bit RGB PNG.
    public func pngData() throws -> [UInt8] {
        try PNGCodec.encodeRGB(self, destination: "<memory>")
    }

    /// The image as a JPEG (4:2:0 chroma subsampling); `quality` is libjpeg's 1…100 scale.
    public func jpegData(quality: Int = 90) throws -> [UInt8] {
        try JPEGCodec.encode(self, quality: quality, destination: "<memory>")
    }

    /// Writes an 8-bit RGB PNG atomically (temporary file in the same directory, then rename).
    public func writePNG(to url: URL) throws {
        try AtomicFile.write(try PNGCodec.encodeRGB(self, destination: url.path), to: url)
    }

    /// Writes a JPEG atomically (temporary file in the same directory, then rename).
    public func writeJPEG(to url: URL, quality: Int = 90) throws {
        try AtomicFile.write(try JPEGCodec.encode(self, quality: quality, destination: url.path), to: url)
    }

    /// Writes a PNG or a JPEG, chosen by the file extension (`.png`, `.jpg`, `.jpeg`).
    public func write(to url: URL, jpegQuality: Int = 90) throws {
        switch url.pathExtension.lowercased() {
        case "png": try writePNG(to: url)
        case "jpg", "jpeg": try writeJPEG(to: url, quality: jpegQuality)
        default:
            throw ImageEncodingError(destination: url.path,
                                     reason: "unknown extension '.\(url.pathExtension)' (use .png, .jpg or .jpeg)")
        }
    }
}

extension FloatMap {
    /// The map, with values in [0, 1], as a grayscale PNG (values clamped to [0, 1], NaN written as 0).
    public func pngData(bitDepth: PNGBitDepth = .eight) throws -> [UInt8] {
        try encodedPNG(bitDepth: bitDepth, destination: "<memory>")
    }

    /// Writes the map, with values in [0, 1], as a grayscale PNG atomically.
    public func writePNG(to url: URL, bitDepth: PNGBitDepth = .eight) throws {
        try AtomicFile.write(try encodedPNG(bitDepth: bitDepth, destination: url.path), to: url)
    }

    private func encodedPNG(bitDepth: PNGBitDepth, destination: String) throws -> [UInt8] {
        switch bitDepth {
        case .eight: return try PNGCodec.encodeGray8(self, destination: destination)
        case .sixteen: return try PNGCodec.encodeGray16(self, destination: destination)
        }
    }
}
