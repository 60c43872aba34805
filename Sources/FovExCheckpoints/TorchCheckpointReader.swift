import Foundation

/// Reads the state dict saved by `torch.save`, in both the ZIP format (PyTorch ≥ 1.6:
/// `<stem>/data.pkl` plus one `<stem>/data/<key>` entry per storage) and the legacy format
/// (a magic-number pickle, protocol and system-info pickles, the main pickle, the storage-key list,
/// then each storage as a u64 element count and raw little-endian bytes).
///
/// Wrapped checkpoints (`{"state_dict": …}`, `{"model": …}`, `{"model_state_dict": …}`) are unwrapped;
/// non-tensor entries such as `epoch` are skipped. Only tensor-rebuilding globals are accepted in the pickle.
public enum TorchCheckpointReader {
    /// Reads the checkpoint at `url` (memory-mapped).
    public static func read(url: URL) throws -> Checkpoint {
        try read(data: try mappedData(url), fileName: url.lastPathComponent)
    }

    /// Reads checkpoint bytes; `fileName` is used in error messages.
    public static func read(data: Data, fileName: String) throws -> Checkpoint {
        if ZipArchive.looksLikeZip(data) { return try readZip(data: data, fileName: fileName) }
        if data.first == 0x80 { return try readLegacy(data: data, fileName: fileName) }
        throw CheckpointError.malformed(file: fileName, reason: data.isEmpty
            ? "file is empty"
            : "neither a ZIP archive nor a pickle; not a torch.save checkpoint (the pre-1.0 tar format is not supported)")
    }

    // MARK: ZIP format

    private static func readZip(data: Data, fileName: String) throws -> Checkpoint {
        let archive = try ZipArchive(data: data, fileName: fileName)
        // The top folder is the stem of the name the file was saved under, so match by suffix.
        guard let pickleEntry = archive.entry(where: { $0 == "data.pkl" || $0.hasSuffix("/data.pkl") && $0.split(separator: "/").count == 2 })
        else {
            throw CheckpointError.malformed(file: fileName, reason: "ZIP archive has no <name>/data.pkl entry; not a torch.save checkpoint")
        }
        let prefix = String(pickleEntry.name.dropLast("data.pkl".count))
        if let order = archive.entry(where: { $0 == prefix + "byteorder" }),
           String(decoding: try archive.contents(of: order), as: UTF8.self) != "little" {
            throw CheckpointError.unsupported(file: fileName, reason: "storages are not little-endian")
        }
        var buffers: [String: StorageBuffer] = [:]
        let arena = PickleArena()
        defer { arena.dismantle() }
        var reader = PickleReader(data: try archive.contents(of: pickleEntry), fileName: fileName, arena: arena) { id in
            let (dtype, key, count) = try storageID(id, fileName: fileName, legacy: false)
            if let buffer = buffers[key] { return .storage(TorchStorage(buffer: buffer, elementOffset: 0, count: buffer.count)) }
            guard let entry = archive.entry(where: { $0 == prefix + "data/" + key }) else {
                throw CheckpointError.malformed(file: fileName, reason: "storage '\(key)' has no entry \(prefix)data/\(key)")
            }
            let bytes = try archive.contents(of: entry)
            guard count <= bytes.count / dtype.byteCount else {
                throw CheckpointError.malformed(
                    file: fileName, reason: "storage '\(key)' holds \(bytes.count) bytes, fewer than \(count) \(dtype.rawValue) elements")
            }
            let buffer = StorageBuffer(key: key, dtype: dtype, count: count, bytes: bytes)
            buffers[key] = buffer
            return .storage(TorchStorage(buffer: buffer, elementOffset: 0, count: count))
        }
        return try stateDict(from: try reader.readValue(), fileName: fileName)
    }

    // MARK: Legacy format

    /// The legacy file's first pickle: 0x1950a86a20f9469cfc6c as little-endian bytes.
    static let legacyMagic: [UInt8] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]

    private static func readLegacy(data: Data, fileName: String) throws -> Checkpoint {
        func malformed(_ reason: String) -> CheckpointError { .malformed(file: fileName, reason: reason) }
        let arena = PickleArena()
        defer { arena.dismantle() }
        var header = PickleReader(data: data, fileName: fileName, arena: arena)
        guard case let .bigInt(magic) = try header.readValue(), magic == legacyMagic else {
            throw malformed("pickle without the PyTorch magic number; not a torch.save checkpoint")
        }
        guard case .int(1001) = try header.readValue() else {
            throw CheckpointError.unsupported(file: fileName, reason: "legacy protocol version other than 1001")
        }
        guard case let .dict(sysInfo) = try header.readValue() else { throw malformed("system-info pickle is not a dict") }
        if case .bool(false) = sysInfo["little_endian"] ?? .none {
            throw CheckpointError.unsupported(file: fileName, reason: "saved on a big-endian machine")
        }

        var buffers: [String: StorageBuffer] = [:]
        var main = PickleReader(data: data, fileName: fileName, offset: header.position, arena: arena) { id in
            let (dtype, key, count) = try storageID(id, fileName: fileName, legacy: true)
            let buffer = buffers[key] ?? StorageBuffer(key: key, dtype: dtype, count: count)
            buffers[key] = buffer
            guard buffer.dtype == dtype else { throw malformed("storage '\(key)' is used with two dtypes") }
            // A view is (view_key, element offset, element count) into the root storage.
            if let view = id.tuple?[5].tuple {
                guard view.count == 3, let offset = view[1].int, let size = view[2].int, offset >= 0, size >= 0,
                      offset <= buffer.count - size else {
                    throw malformed("storage view of '\(key)' is outside its \(buffer.count) elements")
                }
                return .storage(TorchStorage(buffer: buffer, elementOffset: offset, count: size))
            }
            return .storage(TorchStorage(buffer: buffer, elementOffset: 0, count: buffer.count))
        }
        let root = try main.readValue()

        var keysReader = PickleReader(data: data, fileName: fileName, offset: main.position, arena: arena)
        guard case let .list(keyList) = try keysReader.readValue() else { throw malformed("storage key list is not a list") }
        var bytes = ByteCursor(data: data, fileName: fileName, what: "storage data")
        bytes.position = keysReader.position
        for keyValue in keyList.items {
            guard let key = keyValue.string, let buffer = buffers[key] else {
                throw malformed("storage key list names a storage the pickle never used")
            }
            let count = try bytes.u64()
            guard count == UInt64(buffer.count) else {
                throw malformed("storage '\(key)' records \(count) elements, the pickle says \(buffer.count)")
            }
            buffer.bytes = try bytes.slice(buffer.count * buffer.dtype.byteCount, what: "storage '\(key)'")
        }
        return try stateDict(from: root, fileName: fileName)
    }

    // MARK: Shared

    /// Decodes `('storage', storage_type, key, location, numel[, view_metadata])`.
    private static func storageID(_ id: PickleValue, fileName: String, legacy: Bool) throws -> (TensorDType, String, Int) {
        guard let fields = id.tuple, fields.count == (legacy ? 6 : 5), fields[0].string == "storage",
              case let .global(.storageType(dtype)) = fields[1], let key = fields[2].string,
              let count = fields[4].int, count >= 0, count <= Int.max / 8 else {
            throw CheckpointError.malformed(file: fileName, reason: "unrecognised persistent id (\(id.kind)); expected a storage")
        }
        return (dtype, key, count)
    }

    /// The top-level keys that hold the real state dict in training checkpoints, in order of preference.
    static let wrapperKeys = ["state_dict", "model_state_dict", "model"]

    static func stateDict(from root: PickleValue, fileName: String) throws -> Checkpoint {
        guard case var .dict(dict) = root else {
            throw CheckpointError.unsupported(file: fileName, reason: "top-level object is a \(root.kind), not a state dict")
        }
        // Wrappers nest a level or two; the bound also ends a dict that names itself as its own state_dict.
        var unwrapped = 0
        while !dict.entries.contains(where: { if case .tensor = $0.value { return true } else { return false } }) {
            unwrapped += 1
            guard unwrapped <= 8 else {
                throw CheckpointError.unsupported(file: fileName, reason: "state dict wrapped more than 8 levels deep")
            }
            guard let inner = wrapperKeys.lazy.compactMap({ key -> PickleDict? in
                if case let .dict(d) = dict[key] { return d } else { return nil }
            }).first else {
                let keys = dict.entries.compactMap(\.key.string).prefix(10).joined(separator: ", ")
                throw CheckpointError.unsupported(
                    file: fileName, reason: "no tensors at the top level and no \(wrapperKeys.joined(separator: "/")) entry (keys: \(keys))")
            }
            dict = inner
        }
        var checkpoint = Checkpoint()
        for (key, value) in dict.entries {
            guard case let .tensor(record) = value else { continue }
            guard let name = key.string else {
                throw CheckpointError.malformed(file: fileName, reason: "state dict key is a \(key.kind), not a string")
            }
            checkpoint[name] = try record.materialize(fileName: fileName)
        }
        return checkpoint
    }
}

/// Why `url` cannot be read as an input file, or nil when it is a regular file.
///
/// Inputs are read only from regular files, checked before opening: a FIFO would block the open, and a
/// device such as `/dev/zero` has no end. Shared by every reader of user-supplied files (checkpoints,
/// ONNX models, data-set tables).
public func regularFileProblem(at url: URL) -> String? {
    var info = stat()
    guard stat(url.path, &info) == 0 else { return String(cString: strerror(errno)) }
    let type = info.st_mode & S_IFMT
    guard type != S_IFREG else { return nil }
    let kind = [S_IFDIR: "a directory", S_IFIFO: "a FIFO (named pipe)", S_IFCHR: "a character device",
                S_IFBLK: "a block device", S_IFSOCK: "a socket"][type] ?? "a special file"
    return "it is \(kind), not a regular file"
}

/// The contents of `url`, memory-mapped, with I/O failures reported as ``CheckpointError``; only
/// regular files (``regularFileProblem(at:)``).
func mappedData(_ url: URL) throws -> Data {
    if let problem = regularFileProblem(at: url) { throw CheckpointError.io(file: url.path, reason: problem) }
    do {
        return try Data(contentsOf: url, options: .alwaysMapped)
    } catch {
        throw CheckpointError.io(file: url.path, reason: error.localizedDescription)
    }
}
