import Foundation

/// SHA-256 (FIPS 180-4), computed incrementally, for verifying downloaded and converted weight files.
///
///     var hash = SHA256()
///     hash.update(bytes)
///     let hex = hash.finalize().hexString
public struct SHA256: Sendable {
    /// The 32-byte digest.
    public struct Digest: Sendable, Equatable, CustomStringConvertible {
        /// The 32 bytes.
        public let bytes: [UInt8]

        /// Lower-case hexadecimal, 64 characters.
        public var hexString: String {
            let digits = Array("0123456789abcdef".utf8)
            var out = [UInt8]()
            out.reserveCapacity(64)
            for b in bytes {
                out.append(digits[Int(b >> 4)])
                out.append(digits[Int(b & 0x0f)])
            }
            return String(decoding: out, as: UTF8.self)
        }

        public var description: String { hexString }
    }

    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    private var state: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
        (0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19)
    /// Bytes of an incomplete block waiting for more input (fewer than 64).
    private var pending: [UInt8] = []
    private var messageLength: UInt64 = 0

    /// A hash of the empty message, ready for `update`.
    public init() {
        pending.reserveCapacity(64)
    }

    /// Feeds `bytes` into the hash.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var base = bytes.baseAddress else { return }
        var remaining = bytes.count
        messageLength &+= UInt64(remaining)
        if !pending.isEmpty {
            let take = min(64 - pending.count, remaining)
            pending.append(contentsOf: UnsafeRawBufferPointer(start: base, count: take))
            base += take
            remaining -= take
            guard pending.count == 64 else { return }
            pending.withUnsafeBytes { compress(blocks: $0.baseAddress!, count: 1) }
            pending.removeAll(keepingCapacity: true)
        }
        let blocks = remaining / 64
        if blocks > 0 {
            compress(blocks: base, count: blocks)
            base += blocks * 64
            remaining -= blocks * 64
        }
        if remaining > 0 { pending.append(contentsOf: UnsafeRawBufferPointer(start: base, count: remaining)) }
    }

    /// Feeds the bytes of a collection into the hash.
    public mutating func update<D: DataProtocol>(_ data: D) {
        for region in data.regions { region.withUnsafeBytes { update($0) } }
    }

    /// Pads the message and returns its digest (the hash itself is left unchanged).
    public func finalize() -> Digest {
        var copy = self
        let bitLength = messageLength &* 8
        var tail: [UInt8] = [0x80]
        let used = (pending.count + 1) % 64
        tail.append(contentsOf: repeatElement(0, count: (used <= 56 ? 56 - used : 120 - used)))
        for shift in stride(from: 56, through: 0, by: -8) { tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
        let length = copy.messageLength
        tail.withUnsafeBytes { copy.update($0) }
        copy.messageLength = length
        precondition(copy.pending.isEmpty, "SHA-256 padding must end on a block boundary")
        let s = copy.state
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for word in [s.0, s.1, s.2, s.3, s.4, s.5, s.6, s.7] {
            out.append(contentsOf: [UInt8(word >> 24), UInt8(truncatingIfNeeded: word >> 16),
                                    UInt8(truncatingIfNeeded: word >> 8), UInt8(truncatingIfNeeded: word)])
        }
        return Digest(bytes: out)
    }

    /// The digest of `data` in one call.
    public static func hash<D: DataProtocol>(_ data: D) -> Digest {
        var h = SHA256()
        h.update(data)
        return h.finalize()
    }

    /// The digest of the file at `url`, read in 4 MiB chunks so that large weight files are never held whole.
    public static func hash(fileAt url: URL) throws -> Digest {
        let handle: FileHandle
        do {
            handle = try FileHandle(forReadingFrom: url)
        } catch {
            throw WeightsError.io(file: url.path, reason: error.localizedDescription)
        }
        defer { try? handle.close() }
        var h = SHA256()
        while true {
            let chunk: Data?
            do {
                chunk = try handle.read(upToCount: 4 << 20)
            } catch {
                throw WeightsError.io(file: url.path, reason: error.localizedDescription)
            }
            guard let chunk, !chunk.isEmpty else { break }
            h.update(chunk)
        }
        return h.finalize()
    }

    @inline(__always) private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }

    private mutating func compress(blocks: UnsafeRawPointer, count: Int) {
        var w = [UInt32](repeating: 0, count: 64)
        var (h0, h1, h2, h3, h4, h5, h6, h7) = state
        Self.k.withUnsafeBufferPointer { k in
            w.withUnsafeMutableBufferPointer { w in
                for block in 0..<count {
                    let p = blocks + block * 64
                    for t in 0..<16 { w[t] = UInt32(bigEndian: p.loadUnaligned(fromByteOffset: t * 4, as: UInt32.self)) }
                    for t in 16..<64 {
                        let s0 = Self.rotr(w[t - 15], 7) ^ Self.rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
                        let s1 = Self.rotr(w[t - 2], 17) ^ Self.rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
                        w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
                    }
                    var (a, b, c, d, e, f, g, h) = (h0, h1, h2, h3, h4, h5, h6, h7)
                    for t in 0..<64 {
                        let s1 = Self.rotr(e, 6) ^ Self.rotr(e, 11) ^ Self.rotr(e, 25)
                        let ch = (e & f) ^ (~e & g)
                        let t1 = h &+ s1 &+ ch &+ k[t] &+ w[t]
                        let s0 = Self.rotr(a, 2) ^ Self.rotr(a, 13) ^ Self.rotr(a, 22)
                        let maj = (a & b) ^ (a & c) ^ (b & c)
                        let t2 = s0 &+ maj
                        (h, g, f, e, d, c, b, a) = (g, f, e, d &+ t1, c, b, a, t1 &+ t2)
                    }
                    h0 &+= a; h1 &+= b; h2 &+= c; h3 &+= d
                    h4 &+= e; h5 &+= f; h6 &+= g; h7 &+= h
                }
            }
        }
        state = (h0, h1, h2, h3, h4, h5, h6, h7)
    }
}
