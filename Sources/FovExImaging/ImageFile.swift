import CPNG
import CTurboJPEG
import Foundation

/// Facts about image files that need only their headers.
public enum ImageFile {
    /// The width and height of a JPEG or PNG file, read from its header without decoding pixels.
    /// - Throws: ``ImageDecodingError`` naming the file and the problem.
    public static func dimensions(of url: URL) throws -> (width: Int, height: Int) {
        let bytes = try readImageFile(url)
        let source = url.path
        let format = try detectImageFormat(bytes, source: source)
        return try bytes.withUnsafeBufferPointer { data in
            switch format {
            case .jpeg: return try JPEGCodec.dimensions(data, source: source)
            case .png: return try PNGCodec.dimensions(data, source: source)
            }
        }
    }
}

/// The format named by `bytes`' signature, or the error for empty or unrecognised data.
func detectImageFormat(_ bytes: [UInt8], source: String) throws -> ImageFormat {
    guard !bytes.isEmpty else { throw ImageDecodingError(source: source, problem: .empty) }
    guard let format = ImageFormat.detect(bytes) else {
        throw ImageDecodingError(source: source, problem: .unknownFormat(
            firstBytes: Array(bytes.prefix(8)), knownAs: ImageFormat.unsupportedFormatName(bytes)))
    }
    return format
}

/// The whole file, or an error carrying the system's reason ("No such file or directory", …).
func readImageFile(_ url: URL) throws -> [UInt8] {
    let path = url.path
    func failure() -> ImageDecodingError {
        ImageDecodingError(source: path, problem: .unreadable(String(cString: strerror(errno))))
    }
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw failure() }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw failure() }
    var bytes = [UInt8]()
    bytes.reserveCapacity(max(Int(info.st_size), 0))
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n >= 0 else { throw failure() }
        if n == 0 { return bytes }
        bytes += chunk[0..<n]
    }
}
