import Foundation

/// Reads a safetensors file: an 8-byte little-endian header length, a JSON header mapping each
/// name to `dtype`, `shape` and `data_offsets`, then the raw little-endian tensor bytes.
///
/// The file is memory-mapped; a tensor's bytes are converted to `Float` only when it is asked for.
/// Every offset is checked against the file size and the size its shape and dtype imply when the
/// reader is created, so later reads cannot fail on a well-formed header.
///
///     let reader = try SafetensorsReader(url: url)
///     let weight = try reader.tensor(named: "fc.weight")   // CheckpointTensor, values as Float
public struct SafetensorsReader: @unchecked Sendable {
    /// The location of one tensor inside the file.
    public struct Entry: Sendable, Equatable {
        /// The element type stored.
        public var dtype: TensorDType
        /// The tensor's shape.
        public var shape: [Int]
        /// Byte range relative to the start of the file.
        public var byteRange: Range<Int>
    }

    /// The file name used in error messages.
    public let fileName: String
    /// Tensor names in the order their data appears in the file.
    public let names: [String]
    /// The free-form string pairs stored under `__metadata__`.
    public let metadata: [String: String]
    /// Where each tensor lies and how it is typed.
    public let entries: [String: Entry]
    private let data: Data
    /// The largest JSON header accepted, the reference implementation's limit (100 MB).
    public static let maximumHeaderLength = 100_000_000

    /// Opens and validates the file at `url` (mapped, not copied).
    public init(url: URL) throws {
        try self.init(data: try mappedData(url), fileName: url.lastPathComponent)
    }

    /// Parses and validates safetensors bytes held in memory; `fileName` is used in error messages.
    public init(data: Data, fileName: String = "<memory>") throws {
        self.fileName = fileName
        self.data = data
        func malformed(_ reason: String) -> CheckpointError { .malformed(file: fileName, reason: reason) }

        guard data.count >= 8 else {
            throw malformed("file is \(data.count) bytes, too short for the 8-byte safetensors header length")
        }
        let headerLength = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(data.count - 8) else {
            throw malformed("header length \(headerLength) exceeds the \(data.count - 8) bytes after it (truncated file or not safetensors)")
        }
        guard headerLength <= UInt64(Self.maximumHeaderLength) else {
            throw malformed("header length \(headerLength) exceeds the format's limit of \(Self.maximumHeaderLength) bytes")
        }
        let dataStart = 8 + Int(headerLength)
        let header = data[data.startIndex + 8 ..< data.startIndex + dataStart]
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: header)
        } catch {
            throw malformed("header is not valid JSON (\(error.localizedDescription))")
        }
        guard let object = json as? [String: Any] else { throw malformed("header is not a JSON object") }

        var metadata: [String: String] = [:]
        var entries: [String: Entry] = [:]
        let payloadSize = data.count - dataStart
        for (name, value) in object {
            if name == "__metadata__" {
                guard let pairs = value as? [String: Any] else { throw malformed("__metadata__ is not an object") }
                for (k, v) in pairs {
                    guard let s = v as? String else { throw malformed("__metadata__ value for '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard let fields = value as? [String: Any] else { throw malformed("entry '\(name)' is not an object") }
            guard let dtypeName = fields["dtype"] as? String else { throw malformed("entry '\(name)' has no dtype string") }
            guard let dtype = TensorDType(safetensorsName: dtypeName) else {
                throw malformed("entry '\(name)' has unknown dtype '\(dtypeName)' (expected one of \(TensorDType.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            guard let shapeList = fields["shape"] as? [Any], let shape = Self.integers(shapeList),
                  let count = shape.checkedElementCount else {
                throw malformed("entry '\(name)' has no valid shape (a list of non-negative integers)")
            }
            guard let offsetList = fields["data_offsets"] as? [Any], let offsets = Self.integers(offsetList),
                  offsets.count == 2 else {
                throw malformed("entry '\(name)' has no valid data_offsets (two non-negative integers)")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin <= end, end <= payloadSize else {
                throw malformed("entry '\(name)' data_offsets [\(begin), \(end)] lie outside the \(payloadSize) data bytes")
            }
            let (expected, overflow) = count.multipliedReportingOverflow(by: dtype.byteCount)
            guard !overflow, expected == end - begin else {
                throw malformed("entry '\(name)' spans \(end - begin) bytes but shape \(shape) of \(dtypeName) needs \(overflow ? "too many" : String(expected))")
            }
            entries[name] = Entry(dtype: dtype, shape: shape, byteRange: (dataStart + begin) ..< (dataStart + end))
        }
        // Tensors must not share bytes (the reference reader requires them to tile the data exactly);
        // empty tensors occupy nothing and may sit anywhere.
        let placed = entries.filter { !$0.value.byteRange.isEmpty }
            .sorted { ($0.value.byteRange.lowerBound, $0.key) < ($1.value.byteRange.lowerBound, $1.key) }
        for (a, b) in zip(placed, placed.dropFirst()) where b.value.byteRange.lowerBound < a.value.byteRange.upperBound {
            func offsets(_ r: Range<Int>) -> String { "[\(r.lowerBound - dataStart), \(r.upperBound - dataStart)]" }
            throw malformed("entries '\(a.key)' data_offsets \(offsets(a.value.byteRange)) and '\(b.key)' "
                + "data_offsets \(offsets(b.value.byteRange)) overlap")
        }
        self.metadata = metadata
        self.entries = entries
        self.names = entries.keys.sorted {
            let (a, b) = (entries[$0]!.byteRange.lowerBound, entries[$1]!.byteRange.lowerBound)
            return a != b ? a < b : $0 < $1
        }
    }

    /// Reads the tensor called `name`, converting its elements to `Float`.
    public func tensor(named name: String) throws -> CheckpointTensor {
        guard let entry = entries[name] else { throw CheckpointError.missingTensor(name: name, file: fileName) }
        let values = data.withUnsafeBytes { raw in
            ElementDecoding.decode(UnsafeRawBufferPointer(rebasing: raw[entry.byteRange]), as: entry.dtype)
        }
        return CheckpointTensor(shape: entry.shape, dtype: entry.dtype, values: values)
    }

    /// Reads every tensor, in file order.
    public func checkpoint() throws -> Checkpoint {
        try Checkpoint(names.map { ($0, try tensor(named: $0)) })
    }

    /// JSON numbers as non-negative `Int`s, or `nil` when any is not a number, fractional, negative or out of range.
    private static func integers(_ list: [Any]) -> [Int]? {
        var result: [Int] = []
        result.reserveCapacity(list.count)
        for item in list {
            guard let number = item as? NSNumber else { return nil }
            let d = number.doubleValue
            guard d >= 0, d < 0x1p62, d.rounded() == d else { return nil }
            result.append(number.intValue)
        }
        return result
    }
}
