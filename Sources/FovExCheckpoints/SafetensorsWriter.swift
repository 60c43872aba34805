import Foundation

/// Writes tensors as a safetensors file of `F32` data (whatever dtype they were read with).
///
/// The header lists tensors in a deterministic order, so the same input always gives the same bytes.
/// The file appears atomically: it is written next to `url` under a temporary name and renamed.
public enum SafetensorsWriter {
    /// Writes `tensors` with names in sorted order, plus optional `__metadata__` string pairs.
    public static func write(_ tensors: [String: CheckpointTensor], to url: URL,
                             metadata: [String: String]? = nil) throws {
        try write(tensors.keys.sorted().map { ($0, tensors[$0]!) }, to: url, metadata: metadata)
    }

    /// Writes `checkpoint` keeping its tensor order, plus optional `__metadata__` string pairs.
    public static func write(_ checkpoint: Checkpoint, to url: URL, metadata: [String: String]? = nil) throws {
        try write(checkpoint.names.map { ($0, checkpoint.tensors[$0]!) }, to: url, metadata: metadata)
    }

    /// The header JSON, padded with spaces to a multiple of 8 bytes so the data that follows is aligned.
    static func header(for entries: [(String, CheckpointTensor)], metadata: [String: String]?) throws -> Data {
        var parts: [String] = []
        if let metadata {
            let pairs = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            parts.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for (name, tensor) in entries {
            guard name != "__metadata__" else {
                throw CheckpointError.invalidTensor(name: name, reason: "the name is reserved by safetensors")
            }
            guard let count = tensor.shape.checkedElementCount, count == tensor.values.count else {
                throw CheckpointError.invalidTensor(
                    name: name, reason: "shape \(tensor.shape) does not match \(tensor.values.count) values")
            }
            let end = offset + count * 4
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            parts.append("\(jsonString(name)):{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var json = Array("{\(parts.joined(separator: ","))}".utf8)
        while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }
        var data = Data(capacity: 8 + json.count)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: json)
        return data
    }

    private static func write(_ entries: [(String, CheckpointTensor)], to url: URL,
                              metadata: [String: String]?) throws {
        let headerData = try header(for: entries, metadata: metadata)
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw CheckpointError.io(file: url.path, reason: "cannot create a temporary file in \(directory.path)")
        }
        do {
            let handle = try FileHandle(forWritingTo: temporary)
            defer { try? handle.close() }
            try handle.write(contentsOf: headerData)
            for (_, tensor) in entries {
                try writeFloats(tensor.values, to: handle)
            }
            try handle.synchronize()
            try handle.close()
            try replace(url, with: temporary)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            if let error = error as? CheckpointError { throw error }
            throw CheckpointError.io(file: url.path, reason: error.localizedDescription)
        }
    }

    /// Writes in slices so a large tensor never needs a second full-size buffer.
    private static func writeFloats(_ values: [Float], to handle: FileHandle) throws {
        let chunk = 1 << 20
        var start = 0
        while start < values.count {
            let end = min(start + chunk, values.count)
            #if _endian(little)
            let bytes = values[start..<end].withUnsafeBytes { Data($0) }
            #else
            let bytes = values[start..<end].map { $0.bitPattern.littleEndian }.withUnsafeBytes { Data($0) }
            #endif
            try handle.write(contentsOf: bytes)
            start = end
        }
    }

    private static func replace(_ destination: URL, with source: URL) throws {
        guard rename(source.path, destination.path) == 0 else {
            throw CheckpointError.io(file: destination.path,
                                     reason: "cannot move the finished file into place: \(String(cString: strerror(errno)))")
        }
    }

    /// A JSON string literal for `s`.
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
