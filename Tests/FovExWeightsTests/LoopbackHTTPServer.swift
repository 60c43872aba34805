import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A tiny HTTP/1.1 server on 127.0.0.1 for download tests: serves one body at `/file` (honouring
/// `Range: bytes=N-` unless told not to), redirects `/redirect` there, answers 404 elsewhere, and can
/// drop connections part-way through a body. One connection at a time, `Connection: close`.
final class LoopbackHTTPServer: @unchecked Sendable {
    /// What a request asked for.
    struct Request: Equatable {
        var path: String
        var range: String?
    }

    let port: UInt16
    private let listener: Int32
    private let lock = NSLock()
    private var _body: [UInt8]
    private var _honoursRange = true
    private var _drops: [Int] = []
    private var _requests: [Request] = []
    private var stopped = false

    /// The body `/file` serves.
    var body: [UInt8] {
        get { locked { _body } }
        set { locked { _body = newValue } }
    }

    /// When false, `Range` headers are ignored and every response is a full `200`.
    var honoursRange: Bool {
        get { locked { _honoursRange } }
        set { locked { _honoursRange = newValue } }
    }

    /// The next responses to `/file` each send only this many body bytes (after the header that
    /// promises all of them) and then close the connection; consumed one per response.
    var drops: [Int] {
        get { locked { _drops } }
        set { locked { _drops = newValue } }
    }

    /// Every request received, in order.
    var requests: [Request] { locked { _requests } }

    var url: URL { URL(string: "http://127.0.0.1:\(port)/file")! }

    init(body: [UInt8]) throws {
        _body = body
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 8) == 0 else {
            close(fd)
            throw POSIXError(.init(rawValue: errno) ?? .EIO)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        listener = fd
        Thread { [self] in acceptLoop() }.start()
    }

    /// Stops accepting connections and closes the socket (the serving thread keeps the server alive until then).
    func stop() {
        lock.lock()
        let already = stopped
        stopped = true
        lock.unlock()
        guard !already else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func locked<T>(_ body: () -> T) -> T {
        lock.lock(); defer { lock.unlock() }
        return body()
    }

    private func acceptLoop() {
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                if locked({ stopped }) { return }
                continue
            }
            handle(connection)
            shutdown(connection, Int32(SHUT_WR))
            // Drain what the client may still send so that closing sends FIN, not RST (which could
            // discard body bytes the client has not read yet).
            var scratch = [UInt8](repeating: 0, count: 4096)
            var timeout = timeval(tv_sec: 1, tv_usec: 0)
            setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            while recv(connection, &scratch, scratch.count, 0) > 0 {}
            close(connection)
        }
    }

    private func handle(_ connection: Int32) {
        guard let head = readHead(connection) else { return }
        let lines = head.components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ")
        guard parts.count >= 2 else { return }
        let path = String(parts[1])
        let range = lines.dropFirst().first { $0.lowercased().hasPrefix("range:") }
            .map { $0.dropFirst("range:".count).trimmingCharacters(in: .whitespaces) }
        let (body, honoursRange, drop): ([UInt8], Bool, Int?) = locked {
            _requests.append(Request(path: path, range: range))
            let drop = path == "/file" && !_drops.isEmpty ? _drops.removeFirst() : nil
            return (_body, _honoursRange, drop)
        }
        switch path {
        case "/file":
            var start = 0
            var status = "200 OK"
            var extra = ""
            if honoursRange, let range, range.hasPrefix("bytes="), range.hasSuffix("-"),
               let first = Int(range.dropFirst("bytes=".count).dropLast()) {
                if first >= body.count {
                    transmit(connection, "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */\(body.count)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    return
                }
                start = first
                status = "206 Partial Content"
                extra = "Content-Range: bytes \(first)-\(body.count - 1)/\(body.count)\r\n"
            }
            let slice = Array(body[start...])
            transmit(connection, "HTTP/1.1 \(status)\r\nContent-Type: application/octet-stream\r\nContent-Length: \(slice.count)\r\n\(extra)Connection: close\r\n\r\n")
            transmit(connection, Array(slice.prefix(drop ?? slice.count)))
        case "/redirect":
            transmit(connection, "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:\(port)/file\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        default:
            transmit(connection, "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found")
        }
    }

    /// The request line and headers, up to the blank line.
    private func readHead(_ connection: Int32) -> String? {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let end: [UInt8] = Array("\r\n\r\n".utf8)
        while received.count < 65536 {
            let n = recv(connection, &buffer, buffer.count, 0)
            guard n > 0 else { return nil }
            received += buffer[0..<n]
            if let r = received.firstRange(of: end) {
                return String(decoding: received[..<r.lowerBound], as: UTF8.self)
            }
        }
        return nil
    }

    private func transmit(_ connection: Int32, _ text: String) { transmit(connection, Array(text.utf8)) }

    private func transmit(_ connection: Int32, _ bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { return }
            sent += n
        }
    }
}
