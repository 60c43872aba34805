import Foundation

/// A minimal reader for the ZIP archives PyTorch writes: it walks the central directory (with zip64
/// extensions for large files) and hands out the bytes of *stored* (uncompressed) entries without copying.
/// Compressed entries are listed but reading one is an error that says so.
struct ZipArchive {
    struct Entry {
        var name: String
        var compressionMethod: UInt16
        var compressedSize: Int
        var uncompressedSize: Int
        var localHeaderOffset: Int
    }

    let fileName: String
    let data: Data
    /// Entries in central-directory order.
    let entries: [Entry]

    /// True when `data` starts like a ZIP archive (a local file header).
    static func looksLikeZip(_ data: Data) -> Bool {
        data.count >= 4 && data.prefix(4).elementsEqual([0x50, 0x4b, 0x03, 0x04])
    }

    init(data: Data, fileName: String) throws {
        self.data = data
        self.fileName = fileName
        var bytes = ByteCursor(data: data, fileName: fileName, what: "ZIP archive")
        let (count, directoryOffset, directorySize) = try Self.centralDirectoryLocation(in: &bytes)
        guard directoryOffset <= data.count, directorySize <= data.count - directoryOffset else {
            throw bytes.malformed("central directory (\(directorySize) bytes at \(directoryOffset)) lies outside the file; truncated?")
        }
        bytes.position = directoryOffset
        var entries: [Entry] = []
        entries.reserveCapacity(min(count, 1 << 16))
        for _ in 0..<count {
            guard try bytes.u32() == 0x0201_4b50 else {
                throw bytes.malformed("central directory entry \(entries.count) has a bad signature")
            }
            try bytes.skip(6)
            let method = try bytes.u16()
            try bytes.skip(8)
            var compressed = UInt64(try bytes.u32())
            var uncompressed = UInt64(try bytes.u32())
            let nameLength = Int(try bytes.u16()), extraLength = Int(try bytes.u16()), commentLength = Int(try bytes.u16())
            try bytes.skip(8)
            var localOffset = UInt64(try bytes.u32())
            let name = String(decoding: try bytes.bytes(nameLength), as: UTF8.self)
            let extraEnd = bytes.position + extraLength
            // Zip64 extended information: present fields follow the order below, only for the 32-bit fields set to 0xFFFFFFFF.
            while bytes.position + 4 <= extraEnd {
                let tag = try bytes.u16(), size = Int(try bytes.u16())
                let fieldEnd = bytes.position + size
                if tag == 0x0001 {
                    if uncompressed == 0xFFFF_FFFF { uncompressed = try bytes.u64() }
                    if compressed == 0xFFFF_FFFF { compressed = try bytes.u64() }
                    if localOffset == 0xFFFF_FFFF { localOffset = try bytes.u64() }
                    guard bytes.position <= fieldEnd else { throw bytes.malformed("zip64 field of '\(name)' is too short") }
                }
                bytes.position = fieldEnd
            }
            bytes.position = extraEnd
            try bytes.skip(commentLength)
            guard let c = Int(exactly: compressed), let u = Int(exactly: uncompressed), let o = Int(exactly: localOffset),
                  c <= data.count, u <= Int.max / 2, o <= data.count else {
                throw bytes.malformed("entry '\(name)' has sizes or offset beyond the file")
            }
            entries.append(Entry(name: name, compressionMethod: method, compressedSize: c, uncompressedSize: u,
                                 localHeaderOffset: o))
        }
        self.entries = entries
    }

    /// The first entry whose name satisfies `predicate`.
    func entry(where predicate: (String) -> Bool) -> Entry? { entries.first { predicate($0.name) } }

    /// The bytes of a stored entry, sharing the archive's memory.
    func contents(of entry: Entry) throws -> Data {
        guard entry.compressionMethod == 0 else {
            throw CheckpointError.unsupported(
                file: fileName,
                reason: "entry '\(entry.name)' is compressed (method \(entry.compressionMethod)); only stored entries can be read, "
                    + "as torch.save writes them — re-save the checkpoint with torch.save")
        }
        var bytes = ByteCursor(data: data, fileName: fileName, what: "ZIP archive")
        bytes.position = entry.localHeaderOffset
        guard try bytes.u32() == 0x0403_4b50 else {
            throw bytes.malformed("local header of '\(entry.name)' has a bad signature")
        }
        try bytes.skip(22)
        let nameLength = Int(try bytes.u16()), extraLength = Int(try bytes.u16())
        try bytes.skip(nameLength + extraLength)
        guard entry.compressedSize == entry.uncompressedSize else {
            throw bytes.malformed("stored entry '\(entry.name)' has different compressed and uncompressed sizes")
        }
        return try bytes.slice(entry.compressedSize, what: "data of '\(entry.name)'")
    }

    /// Finds the end-of-central-directory record (searching back over a trailing comment) and, when
    /// its fields are saturated, the zip64 record it points to.
    private static func centralDirectoryLocation(in bytes: inout ByteCursor) throws -> (count: Int, offset: Int, size: Int) {
        let data = bytes.data
        let minimum = 22
        guard data.count >= minimum else { throw bytes.malformed("file is \(data.count) bytes, too short for a ZIP archive") }
        let signature: [UInt8] = [0x50, 0x4b, 0x05, 0x06]
        let lowest = max(0, data.count - minimum - 0xFFFF)
        let found: Int? = data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Int? in
            var i = data.count - minimum
            while i >= lowest {
                if raw[i] == signature[0], raw[i + 1] == signature[1], raw[i + 2] == signature[2], raw[i + 3] == signature[3] {
                    return i
                }
                i -= 1
            }
            return nil
        }
        guard let eocd = found else {
            throw bytes.malformed("no end-of-central-directory record (truncated or not a ZIP archive)")
        }
        bytes.position = eocd + 10
        var count = UInt64(try bytes.u16())
        var size = UInt64(try bytes.u32())
        var offset = UInt64(try bytes.u32())
        if count == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
            guard eocd >= 20 else { throw bytes.malformed("zip64 end-of-central-directory locator is missing") }
            bytes.position = eocd - 20
            guard try bytes.u32() == 0x0706_4b50 else {
                throw bytes.malformed("zip64 end-of-central-directory locator is missing")
            }
            try bytes.skip(4)
            let recordOffset = try bytes.u64()
            guard recordOffset <= UInt64(data.count) else { throw bytes.malformed("zip64 record offset lies outside the file") }
            bytes.position = Int(recordOffset)
            guard try bytes.u32() == 0x0606_4b50 else {
                throw bytes.malformed("zip64 end-of-central-directory record has a bad signature")
            }
            try bytes.skip(28)
            count = try bytes.u64()
            size = try bytes.u64()
            offset = try bytes.u64()
        }
        guard let c = Int(exactly: count), let s = Int(exactly: size), let o = Int(exactly: offset),
              c <= data.count / 46 + 1, s <= data.count, o <= data.count else {
            throw bytes.malformed("end-of-central-directory record describes a directory beyond the file")
        }
        return (c, o, s)
    }
}
