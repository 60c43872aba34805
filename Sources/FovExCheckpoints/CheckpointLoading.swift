import Foundation

extension Checkpoint {
    /// Loads a checkpoint in any supported format, recognised by content rather than extension:
    /// safetensors, PyTorch ZIP or PyTorch legacy. Training wrappers are unwrapped (see
    /// ``TorchCheckpointReader``) and a `module.` prefix on every name, left by `DataParallel`, is removed.
    ///
    /// Tensors holding NaN or infinite values are refused with their name: such weights load silently
    /// and give plausible-looking but meaningless predictions.
    public static func load(_ url: URL) throws -> Checkpoint {
        let data = try mappedData(url)
        let name = url.lastPathComponent
        let checkpoint: Checkpoint
        switch CheckpointFormat(detecting: data) {
        case .torchZip, .torchPickle:
            checkpoint = try TorchCheckpointReader.read(data: data, fileName: name)
        case .safetensors:
            checkpoint = try SafetensorsReader(data: data, fileName: name).checkpoint()
        case nil:
            throw CheckpointError.malformed(file: name, reason: data.isEmpty
                ? "file is empty"
                : "not a safetensors file (8-byte header length, then '{'), PyTorch ZIP checkpoint ('PK' signature) "
                    + "or PyTorch legacy checkpoint (pickle protocol 2–5)")
        }
        try checkpoint.requireFiniteValues(file: name)
        return checkpoint.strippingPrefix("module.")
    }

    /// Throws, naming the first tensor with a NaN or infinite element and how many it has.
    func requireFiniteValues(file: String) throws {
        for name in names {
            let values = tensors[name]!.values
            guard let first = values.firstIndex(where: { !$0.isFinite }) else { continue }
            let count = values[first...].lazy.filter { !$0.isFinite }.count
            throw CheckpointError.malformed(
                file: file, reason: "tensor '\(name)' holds \(count) non-finite value\(count == 1 ? "" : "s") (NaN or ±infinity), "
                    + "the first at element \(first) (\(values[first]))")
        }
    }

    /// Writes the tensors as `F32` safetensors (the converter's output format).
    public func writeSafetensors(to url: URL, metadata: [String: String]? = nil) throws {
        try SafetensorsWriter.write(self, to: url, metadata: metadata)
    }

}

/// The checkpoint formats ``Checkpoint/load(_:)`` reads, told apart by content alone.
enum CheckpointFormat: Equatable {
    case safetensors
    case torchZip
    case torchPickle

    /// The format `data` starts like, or `nil` for none of them.
    ///
    /// A safetensors file starts with its little-endian header length, whose low byte can be anything —
    /// 0x80 included, the pickle PROTO opcode — so a pickle is recognised by the opcode *and* a protocol of
    /// 2–5, and the PyTorch legacy magic number pickle is preferred when present; otherwise a '{' at byte 8
    /// means safetensors (its reader then checks the length precisely).
    init?(detecting data: Data) {
        let head = [UInt8](data.prefix(16))
        if head.starts(with: [0x50, 0x4b, 0x03, 0x04]) {
            self = .torchZip
        } else if head.count >= 14, head[0] == 0x80, (2...5).contains(head[1]),
                  head[2...3].elementsEqual([0x8a, 0x0a]), head[4..<14].elementsEqual(TorchCheckpointReader.legacyMagic) {
            self = .torchPickle
        } else if head.count >= 9, head[8] == UInt8(ascii: "{") {
            self = .safetensors
        } else if head.count >= 2, head[0] == 0x80, (2...5).contains(head[1]) {
            self = .torchPickle
        } else {
            return nil
        }
    }
}
