import Foundation

extension Checkpoint {
    /// Loads a checkpoint in any supported format, recognised by content rather than extension:
    /// safetensors, PyTorch ZIP or PyTorch legacy. Training wrappers are unwrapped (see
    /// ``TorchCheckpointReader``) and a `module.` prefix on every name, left by `DataParallel`, is removed.
    public static func load(_ url: URL) throws -> Checkpoint {
        let data = try mappedData(url)
        let name = url.lastPathComponent
        let checkpoint: Checkpoint
        if ZipArchive.looksLikeZip(data) || data.first == 0x80 {
            checkpoint = try TorchCheckpointReader.read(data: data, fileName: name)
        } else if looksLikeSafetensors(data) {
            checkpoint = try SafetensorsReader(data: data, fileName: name).checkpoint()
        } else {
            throw CheckpointError.malformed(file: name, reason: data.isEmpty
                ? "file is empty"
                : "not a safetensors file, PyTorch ZIP checkpoint or PyTorch legacy checkpoint")
        }
        return checkpoint.strippingPrefix("module.")
    }

    /// Writes the tensors as `F32` safetensors (the converter's output format).
    public func writeSafetensors(to url: URL, metadata: [String: String]? = nil) throws {
        try SafetensorsWriter.write(self, to: url, metadata: metadata)
    }

    /// Safetensors starts with a u64 header length followed by a JSON object.
    private static func looksLikeSafetensors(_ data: Data) -> Bool {
        guard data.count >= 9 else { return false }
        return data[data.startIndex + 8] == UInt8(ascii: "{")
    }
}
