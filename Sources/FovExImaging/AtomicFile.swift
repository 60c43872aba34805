import Foundation

/// Writes whole files atomically: the bytes go to a temporary file in the destination's directory,
/// which is then renamed over the destination, so readers never see a half-written image and a
/// failed write leaves any previous file intact.
enum AtomicFile {
    static func write(_ bytes: [UInt8], to url: URL) throws {
        let path = url.path
        let directory = url.deletingLastPathComponent().path
        var template = Array("\(directory)/.\(url.lastPathComponent).tmp-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw failure(path, "cannot create a temporary file in \(directory)") }
        let temporary = String(cString: template)
        var succeeded = false
        defer {
            if !succeeded { unlink(temporary) }
        }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let reason = failure(path, "writing \(temporary)")
                close(fd)
                throw reason
            }
            written += n
        }
        // mkstemp creates the file readable by its owner only; images are ordinary shared files.
        fchmod(fd, 0o644)
        guard close(fd) == 0 else { throw failure(path, "closing \(temporary)") }
        guard rename(temporary, path) == 0 else { throw failure(path, "renaming \(temporary)") }
        succeeded = true
    }

    private static func failure(_ path: String, _ what: String) -> ImageEncodingError {
        ImageEncodingError(destination: path, reason: "\(what): \(String(cString: strerror(errno)))")
    }
}
