import Foundation

/// Bounds-checked little-endian reading from `Data`; every overrun becomes a `CheckpointError` naming the file.
struct ByteCursor {
    let data: Data
    let fileName: String
    /// What the bytes are, for error messages ("ZIP archive", "pickle", …).
    let what: String
    /// Offset from the start of `data`.
    var position = 0

    init(data: Data, fileName: String, what: String) {
        self.data = data
        self.fileName = fileName
        self.what = what
    }

    var remaining: Int { data.count - position }

    func malformed(_ reason: String) -> CheckpointError { .malformed(file: fileName, reason: reason) }

    private mutating func require(_ n: Int, _ purpose: String) throws {
        guard n >= 0, position >= 0, n <= remaining else {
            throw malformed("\(what) ends early: \(purpose) needs \(n) bytes at offset \(position), \(max(remaining, 0)) left (truncated file?)")
        }
    }

    mutating func skip(_ n: Int) throws {
        try require(n, "a field")
        position += n
    }

    private mutating func load<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        try require(MemoryLayout<T>.size, "a \(MemoryLayout<T>.size)-byte integer")
        let value = data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: position, as: T.self) }
        position += MemoryLayout<T>.size
        return T(littleEndian: value)
    }

    mutating func u8() throws -> UInt8 { try load(UInt8.self) }
    mutating func u16() throws -> UInt16 { try load(UInt16.self) }
    mutating func u32() throws -> UInt32 { try load(UInt32.self) }
    mutating func u64() throws -> UInt64 { try load(UInt64.self) }
    mutating func i32() throws -> Int32 { try load(Int32.self) }

    /// The next `n` bytes as an array (for short fields such as names).
    mutating func bytes(_ n: Int) throws -> [UInt8] {
        try require(n, "a field")
        defer { position += n }
        return [UInt8](data[data.startIndex + position ..< data.startIndex + position + n])
    }

    /// The next `n` bytes sharing `data`'s memory (for tensor payloads).
    mutating func slice(_ n: Int, what purpose: String) throws -> Data {
        try require(n, purpose)
        defer { position += n }
        return data[data.startIndex + position ..< data.startIndex + position + n]
    }

    /// A byte count read from the file, as an `Int` that fits in what is left.
    mutating func length(_ raw: UInt64, _ purpose: String) throws -> Int {
        guard raw <= UInt64(max(remaining, 0)) else {
            throw malformed("\(what) ends early: \(purpose) needs \(raw) bytes at offset \(position), \(max(remaining, 0)) left (truncated file?)")
        }
        return Int(raw)
    }
}
