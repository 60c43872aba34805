import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Downloads a file over HTTP(S) so that only a complete, verified file ever appears at its destination.
///
/// Bytes go to `<destination>.part`. When a connection drops, the next attempt asks for the rest with a
/// `Range` request and appends (a server that ignores `Range` makes it start over); a `.part` left by an
/// earlier, interrupted run is resumed the same way. The finished file is checked against the expected
/// SHA-256 (or its published prefix) and by the caller's `validate`, and only then renamed onto the
/// destination, atomically. A file that fails a check is deleted, never kept.
///
///     let digest = try Downloader().download(url, to: destination, expecting: .prefix("0676ba61"))
public struct Downloader {
    /// Attempts per download, counting the first; each dropped connection or server error uses one.
    public var maxAttempts: Int
    /// The pause before the second attempt; it doubles with each further attempt.
    public var retryDelay: TimeInterval
    /// Seconds without data after which an attempt is abandoned.
    public var idleTimeout: TimeInterval
    /// Called with the bytes held so far (including resumed ones) and the total, when the server says.
    public var progress: (@Sendable (_ bytes: Int, _ total: Int?) -> Void)?

    /// A downloader with these retry settings and an optional progress callback.
    public init(maxAttempts: Int = 6, retryDelay: TimeInterval = 1, idleTimeout: TimeInterval = 60,
                progress: (@Sendable (_ bytes: Int, _ total: Int?) -> Void)? = nil) {
        self.maxAttempts = maxAttempts
        self.retryDelay = retryDelay
        self.idleTimeout = idleTimeout
        self.progress = progress
    }

    /// Where the bytes of a download to `destination` collect until it is verified.
    public static func partialFile(for destination: URL) -> URL {
        destination.deletingLastPathComponent().appendingPathComponent(destination.lastPathComponent + ".part")
    }

    /// Downloads `url` to `destination` and returns the file's SHA-256.
    ///
    /// - Parameters:
    ///   - url: where the file is served (HTTPS).
    ///   - destination: where the verified file ends up; it is replaced only by a complete, verified download.
    ///   - expected: the published checksum, when there is one.
    ///   - validate: a further check of the finished file (it runs on the `.part` file, before the rename);
    ///     throwing rejects the download.
    /// - Throws: ``WeightsError`` for HTTP errors, connections that keep failing, a checksum mismatch or
    ///   a failed validation; in every case `destination` is left as it was.
    @discardableResult
    public func download(_ url: URL, to destination: URL, expecting expected: WeightChecksum? = nil,
                         validate: (URL) throws -> Void = { _ in }) throws -> SHA256.Digest {
        let part = Self.partialFile(for: destination)
        try createDirectory(destination.deletingLastPathComponent())
        try fetch(url, into: part)

        let digest = try SHA256.hash(fileAt: part)
        if let expected, !expected.matches(digest) {
            try? FileManager.default.removeItem(at: part)
            throw WeightsError.checksumMismatch(file: destination.lastPathComponent, expected: expected.description,
                                                found: digest.hexString)
        }
        do {
            try validate(part)
        } catch {
            try? FileManager.default.removeItem(at: part)
            throw WeightsError.invalidFile(file: destination.lastPathComponent, source: url.absoluteString,
                                           reason: "\(error)")
        }
        guard rename(part.path, destination.path) == 0 else {
            throw WeightsError.io(file: destination.path, reason: "cannot move the verified download into place: \(String(cString: strerror(errno)))")
        }
        return digest
    }

    /// Fills `part` with the whole of `url`'s body, resuming across attempts.
    private func fetch(_ url: URL, into part: URL) throws {
        var lastProblem = ""
        for attempt in 1...max(1, maxAttempts) {
            if attempt > 1 {
                Thread.sleep(forTimeInterval: retryDelay * pow(2, Double(attempt - 2)))
            }
            let offset = fileSize(part)
            switch try transfer(url, into: part, from: offset) {
            case .complete:
                return
            case .retry(let problem):
                lastProblem = problem
            case .restart(let problem):
                lastProblem = problem
                try? FileManager.default.removeItem(at: part)
            }
        }
        throw WeightsError.network(url: url.absoluteString, reason: lastProblem, attempts: max(1, maxAttempts))
    }

    /// What one HTTP exchange achieved.
    enum TransferOutcome {
        /// The `.part` file holds the whole body.
        case complete
        /// Something failed that another attempt, resuming at the current size, may get past.
        case retry(String)
        /// The `.part` file cannot be continued; the next attempt starts from nothing.
        case restart(String)
    }

    private func transfer(_ url: URL, into part: URL, from offset: Int) throws -> TransferOutcome {
        if offset == 0 || !FileManager.default.fileExists(atPath: part.path) {
            guard FileManager.default.createFile(atPath: part.path, contents: nil) else {
                throw WeightsError.io(file: part.path, reason: "cannot create the download file")
            }
        }
        let handle: FileHandle
        do {
            handle = try FileHandle(forWritingTo: part)
        } catch {
            throw WeightsError.io(file: part.path, reason: error.localizedDescription)
        }
        defer { try? handle.close() }

        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: idleTimeout)
        if offset > 0 { request.setValue("bytes=\(offset)-", forHTTPHeaderField: "Range") }
        // A compressed body would make byte offsets meaningless for resuming.
        request.setValue("identity", forHTTPHeaderField: "Accept-Encoding")

        let receiver = TransferReceiver(handle: handle, offset: offset, progress: progress)
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        let session = URLSession(configuration: .ephemeral, delegate: receiver, delegateQueue: queue)
        session.dataTask(with: request).resume()
        receiver.finished.wait()
        session.invalidateAndCancel()
        return try receiver.outcome(url: url)
    }

    private func fileSize(_ url: URL) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? NSNumber)?.intValue ?? 0
    }

    private func createDirectory(_ url: URL) throws {
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw WeightsError.io(file: url.path, reason: "cannot create the directory: \(error.localizedDescription)")
        }
    }
}

/// Receives one response into the `.part` file: appends after a matching `206`, starts over after a `200`.
private final class TransferReceiver: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    let finished = DispatchSemaphore(value: 0)
    private let handle: FileHandle
    private let offset: Int
    private let progress: (@Sendable (Int, Int?) -> Void)?
    /// Where the body's first byte belongs in the file.
    private var start = 0
    private var written = 0
    private var total: Int?
    private var status = 0
    private var failure: String?
    private var restart: String?
    private var fatal: WeightsError?
    private var writeError: String?
    private var transportError: Error?

    init(handle: FileHandle, offset: Int, progress: (@Sendable (Int, Int?) -> Void)?) {
        self.handle = handle
        self.offset = offset
        self.progress = progress
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        guard let http = response as? HTTPURLResponse else {
            fatal = .network(url: response.url?.absoluteString ?? "?", reason: "not an HTTP response", attempts: 1)
            return completionHandler(.cancel)
        }
        status = http.statusCode
        let url = http.url?.absoluteString ?? "?"
        switch status {
        case 206:
            guard let range = Self.contentRange(http.value(forHTTPHeaderField: "Content-Range")),
                  range.first == offset else {
                restart = "the server sent a range that does not continue the partial file"
                return completionHandler(.cancel)
            }
            start = offset
            total = range.total
        case 200:
            start = 0
            total = http.expectedContentLength >= 0 ? Int(http.expectedContentLength) : nil
        case 416:
            // The partial file is already whole when its size is the total the server reports.
            if let range = Self.contentRange(http.value(forHTTPHeaderField: "Content-Range")), range.total == offset {
                start = offset
                total = offset
            } else {
                restart = "the server rejected resuming at byte \(offset)"
            }
            return completionHandler(.cancel)
        case 408, 429, 500...599:
            failure = "HTTP \(status) from \(url)"
            return completionHandler(.cancel)
        default:
            fatal = .http(url: url, status: status)
            return completionHandler(.cancel)
        }
        do {
            try handle.truncate(atOffset: UInt64(start))
            try handle.seek(toOffset: UInt64(start))
        } catch {
            writeError = error.localizedDescription
            return completionHandler(.cancel)
        }
        progress?(start, total)
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard writeError == nil else { return }
        do {
            try handle.write(contentsOf: data)
            written += data.count
            progress?(start + written, total)
        } catch {
            writeError = error.localizedDescription
            dataTask.cancel()
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        transportError = error
        finished.signal()
    }

    /// The outcome, read once `finished` has been signalled.
    func outcome(url: URL) throws -> Downloader.TransferOutcome {
        if let fatal { throw fatal }
        if let writeError { throw WeightsError.io(file: url.lastPathComponent + ".part", reason: writeError) }
        if let restart { return .restart(restart) }
        if status == 416 { return .complete }
        if let failure { return .retry(failure) }
        let have = start + written
        if let transportError {
            return .retry("connection failed after \(have) bytes: \(transportError.localizedDescription)")
        }
        if let total, have < total { return .retry("connection closed after \(have) of \(total) bytes") }
        if let total, have > total { return .restart("the server sent \(have) bytes for a \(total)-byte file") }
        return .complete
    }

    /// Parses `bytes first-last/total` (or `bytes */total`).
    static func contentRange(_ header: String?) -> (first: Int?, total: Int?)? {
        guard let header, header.lowercased().hasPrefix("bytes ") else { return nil }
        let spec = header.dropFirst(6).trimmingCharacters(in: .whitespaces)
        let halves = spec.split(separator: "/", maxSplits: 1)
        guard halves.count == 2 else { return nil }
        let first = halves[0] == "*" ? nil : halves[0].split(separator: "-").first.flatMap { Int($0) }
        return (first, Int(halves[1]))
    }
}
