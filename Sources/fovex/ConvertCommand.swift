import ArgumentParser
import Foundation
import FovExTerminal
import FovExCheckpoints
import FovExModels
import FovExWeights

/// `fovex convert IN OUT.safetensors`: any supported checkpoint to safetensors.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a checkpoint (safetensors, PyTorch zip or legacy .pth) to safetensors.",
        discussion: """
        The format is recognised from the file's content. `state_dict`/`model` wrappers and `module.` prefixes \
        are removed; every tensor is written as F32. With --model, the checkpoint must hold exactly that \
        model's tensors (missing, unexpected and mis-shaped keys are listed), and only those are written, in \
        the model's order.
        """)

    @Argument(help: "The checkpoint to read.") var input: String
    @Argument(help: "The safetensors file to write.") var output: String
    @Option(help: "Check the tensors against this model's keys and shapes (see `fovex models list`).") var model: String?
    @Flag(help: "Replace OUT if it exists.") var force = false

    func validate() throws {
        guard output.hasSuffix(".safetensors") else {
            throw ValidationError("the output file name must end in .safetensors: \(output)")
        }
    }

    func run() throws {
        let inURL = URL(fileURLWithPath: input)
        let outURL = URL(fileURLWithPath: output)
        guard inURL.standardizedFileURL.path != outURL.standardizedFileURL.path else {
            throw ValidationError("input and output are the same file")
        }
        guard force || !FileManager.default.fileExists(atPath: outURL.path) else {
            throw ValidationError("\(output) exists; pass --force to replace it")
        }
        let original = try Checkpoint.load(inURL)
        var checkpoint = original
        if let model {
            let arch = try ModelRegistry.architecture(model)
            let weights = try ModelWeights(checkpoint: original, expecting: arch.parameters, architecture: model,
                                           source: inURL.lastPathComponent)
            checkpoint = weights.checkpoint(arch.parameters)
        }
        guard checkpoint.count > 0 else { throw ValidationError("\(input) holds no tensors") }
        let sourceDigest = try SHA256.hash(fileAt: inURL).hexString
        try checkpoint.writeSafetensors(to: outURL, metadata: [
            "converted_from": inURL.lastPathComponent, "source_sha256": sourceDigest,
        ])
        let digest = try SHA256.hash(fileAt: outURL).hexString
        let elements = checkpoint.names.reduce(0) { $0 + checkpoint.tensors[$1]!.elementCount }
        let converted = Dictionary(grouping: checkpoint.names.compactMap { original.tensors[$0]?.dtype }, by: { $0 })
            .filter { $0.key != .float32 }.map { "\($0.value.count) \($0.key.rawValue)" }.sorted()
        print("wrote \(checkpoint.count) tensors, \(elements) values (\(ProgressReporter.megabytes(elements * 4)) MB) to \(outURL.path)")
        if !converted.isEmpty { print("  converted to F32: \(converted.joined(separator: ", "))") }
        if let model { print("  keys and shapes match \(model)") }
        print("  sha256 \(digest)")
    }
}
