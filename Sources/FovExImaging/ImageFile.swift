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
///
/// Only regular files are read: the path is checked with `stat` before it is opened (opening a FIFO
/// blocks until a writer appears, and `/dev/zero` never ends), then again on the open descriptor, which
/// is opened non-blocking in case the path was swapped in between. Files over `maximumBytes` are refused
/// before any byte is read.
func readImageFile(_ url: URL, maximumBytes: Int = ImageDecodingOptions().maximumFileBytes) throws -> [UInt8] {
    let path = url.path
    func failure() -> ImageDecodingError {
        ImageDecodingError(source: path, problem: .unreadable(String(cString: strerror(errno))))
    }
    func requireRegular(_ info: stat) throws {
        let type = info.st_mode & S_IFMT
        guard type == S_IFREG else {
            throw ImageDecodingError(source: path, problem: .notRegularFile(kind: fileKind(type)))
        }
        guard Int(info.st_size) <= maximumBytes else {
            throw ImageDecodingError(source: path, problem: .fileTooLarge(bytes: Int(info.st_size), limit: maximumBytes))
        }
    }
    var info = stat()
    guard stat(path, &info) == 0 else { throw failure() }
    try requireRegular(info)
    let fd = open(path, O_RDONLY | O_NONBLOCK)
    guard fd >= 0 else { throw failure() }
    defer { close(fd) }
    guard fstat(fd, &info) == 0 else { throw failure() }
    try requireRegular(info)
    var bytes = [UInt8]()
    bytes.reserveCapacity(max(Int(info.st_size), 0))
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n >= 0 else { throw failure() }
        if n == 0 { return bytes }
        bytes += chunk[0..<n]
        // A file that grows while it is read is held to the same limit.
        guard bytes.count <= maximumBytes else {
            throw ImageDecodingError(source: path, problem: .fileTooLarge(bytes: bytes.count, limit: maximumBytes))
        }
    }
}

/// A `stat` file type in words ("a directory", "a FIFO (named pipe)", …).
func fileKind(_ type: mode_t) -> String {
    switch type {
    case S_IFDIR: return "a directory"
    case S_IFIFO: return "a FIFO (named pipe)"
    case S_IFCHR: return "a character device"
    case S_IFBLK: return "a block device"
    case S_IFSOCK: return "a socket"
    default: return "not a regular file"
    }
}
