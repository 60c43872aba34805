/// Why an image file could not be decoded.
public struct ImageDecodingError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong.
    public enum Problem: Sendable, Equatable {
        /// The file could not be read at all (missing, unreadable); the system's reason.
        case unreadable(String)
        /// The file has no bytes.
        case empty
        /// The first bytes are not a JPEG or PNG signature.
        case unknownFormat(firstBytes: [UInt8], knownAs: String?)
        /// The data ends before the image does.
        case truncated(ImageFormat, detail: String)
        /// The data is damaged or not valid for its format.
        case corrupt(ImageFormat, detail: String)
        /// The header announces more pixels than the decoder's limit.
        case tooLarge(width: Int, height: Int, limit: Int)
        /// The file is bigger than the decoder's byte limit.
        case fileTooLarge(bytes: Int, limit: Int)
        /// The header announces more pixels than the compressed data could hold.
        case implausibleSize(width: Int, height: Int, dataBytes: Int)
        /// The path names something other than a regular file (a directory, FIFO, device, socket).
        case notRegularFile(kind: String)
        /// A decompression budget set in the environment is invalid.
        case invalidBudget(String)
    }

    /// The file path, or a caller-given label for in-memory data.
    public var source: String
    /// What went wrong.
    public var problem: Problem

    /// The error for `problem` in `source`.
    public init(source: String, problem: Problem) {
        self.source = source
        self.problem = problem
    }

    public var description: String {
        let what: String
        switch problem {
        case .unreadable(let reason):
            what = "the file cannot be read (\(reason))"
        case .empty:
            what = "the file is empty (0 bytes)"
        case .unknownFormat(let bytes, let name):
            let hex = bytes.map { String($0, radix: 16, uppercase: true).leftPadded(to: 2) }.joined(separator: " ")
            what = name.map { "the file is \($0), which is not supported (only JPEG and PNG are)" }
                ?? "unknown format: the first bytes (\(hex)) are neither a JPEG nor a PNG signature"
        case .truncated(let format, let detail):
            what = "the \(format.rawValue) data is truncated (\(detail))"
        case .corrupt(let format, let detail):
            what = "the \(format.rawValue) data is corrupt (\(detail))"
        case .tooLarge(let w, let h, let limit):
            what = "the image is \(w)×\(h) = \(w.multipliedReportingOverflow(by: h).partialValue) pixels, more than the "
                + "limit of \(limit) (set FOVEX_MAX_PIXELS to raise it)"
        case .fileTooLarge(let bytes, let limit):
            what = "the file is \(bytes) bytes, more than the limit of \(limit) (set FOVEX_MAX_IMAGE_BYTES to raise it)"
        case .implausibleSize(let w, let h, let bytes):
            what = "the header claims \(w)×\(h) pixels, more than \(bytes) bytes of data can hold even at the best "
                + "compression (damaged or hostile header)"
        case .notRegularFile(let kind):
            what = "it is \(kind), not a regular file"
        case .invalidBudget(let reason):
            what = "invalid decompression budget: \(reason)"
        }
        return "cannot decode image '\(source)': \(what)"
    }
}

/// Why an image could not be encoded or written.
public struct ImageEncodingError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The destination path, or a label for in-memory encoding.
    public var destination: String
    /// What went wrong, in the encoder's or the system's words.
    public var reason: String

    /// The error for writing `destination`, for `reason`.
    public init(destination: String, reason: String) {
        self.destination = destination
        self.reason = reason
    }

    public var description: String { "cannot write image '\(destination)': \(reason)" }
}

extension String {
    fileprivate func leftPadded(to n: Int) -> String {
        count >= n ? self : String(repeating: "0", count: n - count) + self
    }
}
