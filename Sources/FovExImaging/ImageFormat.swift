/// The image file formats this module reads and writes.
public enum ImageFormat: String, Sendable, CaseIterable {
    /// JPEG (JFIF or EXIF), decoded and encoded with libjpeg-turbo.
    case jpeg = "JPEG"
    /// PNG, decoded and encoded with libpng.
    case png = "PNG"

    /// The format announced by a file's first bytes (its magic number), or `nil` for anything
    /// other than JPEG and PNG.
    public static func detect(_ bytes: some Collection<UInt8>) -> ImageFormat? {
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        return nil
    }

    /// Names a few well-known formats that are not supported, so errors can say what the file is.
    static func unsupportedFormatName(_ bytes: some Collection<UInt8>) -> String? {
        let head = Array(bytes.prefix(12))
        func ascii(_ s: String, at offset: Int = 0) -> Bool {
            let b = Array(s.utf8)
            return head.count >= offset + b.count && Array(head[offset..<offset + b.count]) == b
        }
        if ascii("GIF87a") || ascii("GIF89a") { return "GIF" }
        if ascii("BM") { return "BMP" }
        if ascii("RIFF") && ascii("WEBP", at: 8) { return "WebP" }
        if head.starts(with: [0x49, 0x49, 0x2A, 0x00]) || head.starts(with: [0x4D, 0x4D, 0x00, 0x2A]) { return "TIFF" }
        if ascii("ftyp", at: 4) { return "HEIF/AVIF (ISO media)" }
        return nil
    }
}
