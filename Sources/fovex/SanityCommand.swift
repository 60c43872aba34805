import ArgumentParser
import Foundation
import FovExCommandLine
import FovExEvaluation
import FovExExplainers
import FovExModels
import FovExTerminal

/// `fovex sanity`: the model-randomisation sanity check of Adebayo et al. (2018).
struct SanityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sanity",
        abstract: "Model-randomisation sanity check: re-initialise the model's layers from the top and compare each method's maps with the trained model's.",
        discussion: """
        After re-initialising the first k layers (logits layer first, then block by block down to the stem; \
        each redrawn parameter seeded by --seed), the same images are explained for the trained model's \
        predicted class and compared with the trained model's maps: Spearman rank correlation with and \
        without absolute values, SSIM and the correlation of HOG descriptors (docs/design/sanity.md). A method \
        fails when its mean Spearman (abs) at full randomisation is at least --threshold. Results are appended \
        to OUT/results.jsonl as each image finishes, so running the same command again continues; at the \
        end OUT holds similarities.csv, similarities.json, sanity.md, one SVG per similarity and sanity.html. \
        Built-in models only (ResNet, ViT, EfficientNet-Lite).
        """)

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Methods, comma-separated, or 'all'.") var methods: String
    @OptionGroup var selectionOptions: DataSelectionOptions
    @Option(help: "Cascade steps to compute, comma-separated numbers of layers re-initialised from the top (1…layers), or 'all'.")
    var depths: String = "all"
    @Option(help: "A method fails when its mean Spearman rank correlation (abs) at full randomisation is at least this (0…1).")
    var threshold: Double = 0.5
    @Option(parsing: .unconditional, help: "Images whose maps the gallery shows (the first N of the run).") var gallery = 2
    @OptionGroup var explainerOptions: ExplainerOptions
    @Option(help: "Run directory.") var out: String

    func validate() throws {
        try RunOptionChecks.checkOutputDirectory(out)
        if modelOptions.isONNX {
            throw ValidationError("sanity needs a built-in model (its layers are re-initialised by architecture); ONNX models are not supported")
        }
        guard threshold.isFinite, (0...1).contains(threshold) else { throw ValidationError("--threshold must be in 0…1, got \(threshold)") }
        guard gallery >= 0 else { throw ValidationError("--gallery must be ≥ 0, got \(gallery)") }
        if depths != "all" { _ = try Self.parseDepths(depths, layers: Int.max) }
    }

    /// `all`, or distinct numbers in 1…layers, returned sorted.
    static func parseDepths(_ text: String, layers: Int) throws -> [Int] {
        if text == "all" { return Array(1...layers) }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        var out: [Int] = []
        for p in parts {
            guard let d = Int(p), d >= 1, d <= layers else {
                let range = layers == Int.max ? "a whole number ≥ 1" : "in 1…\(layers)"
                throw ValidationError("--depths: '\(p)' is not a number of layers \(range)")
            }
            out.append(d)
        }
        guard Set(out).count == out.count else { throw ValidationError("--depths: a step is repeated in '\(text)'") }
        return out.sorted()
    }

    func run() throws {
        let (kind, directory) = try selectionOptions.kindAndDirectory()
        guard kind == "imagenet" || !selectionOptions.correctOnly else {
            throw ValidationError("--correct-only needs labelled (imagenet) data")
        }
        let root = URL(fileURLWithPath: directory)
        let dataset: EvaluationDataset = kind == "imagenet"
            ? try ImageNetDataset(root: root, synsets: Dictionary(uniqueKeysWithValues: ImageNetClasses.synsets.enumerated().map { ($1, $0) }))
            : try GazeDataset(root: root)
        let loaded = try modelOptions.load()
        guard let model = loaded as? any LayerRandomizable else {
            throw ValidationError("\(loaded.identity.architecture) cannot re-initialise its layers; sanity supports ResNet, ViT and EfficientNet-Lite")
        }
        let layers = model.layersTopDown
        let steps = try Self.parseDepths(depths, layers: layers.count)
        let seed = explainerOptions.seed.seed
        var options = try explainerOptions.registryOptions()
        let progress = ProgressReporter(total: nil, label: "maps")
        options.progress = { method, done, total in progress.setDetail(done < total ? "\(method) \(done)/\(total)" : nil) }
        let explainers = try ExplainerRegistry.explainers(methods, for: model, options: options)
        let selection = Selection(limit: selectionOptions.limit, seed: seed)
        let ids = selectionOptions.correctOnly
            ? SanityCheck.correctlyClassified(model, data: dataset, selection: selection)
            : selection.apply(to: dataset.imageIDs)
        guard !ids.isEmpty else { throw ValidationError("no image selected from \(directory)") }
        var settings: [String: String] = [:]
        for e in explainers { for (k, v) in e.settings { settings["\(e.name).\(k)"] = v } }
        // As in `evaluate`: bf16 changes every map, so a run directory holds one precision (recorded only when not
        // fp32, so that fp32 runs written before the option existed still resume).
        if modelOptions.precisionOptions.precision != .fp32 { settings["precision"] = modelOptions.precisionOptions.precision.rawValue }
        let config = SanityConfiguration(
            model: model.identity.architecture, weights: model.identity.weights, weightsSHA256: model.identity.weightsSHA256,
            methods: explainers.map(\.name), layers: layers.map(\.name), depths: steps, seed: seed, limit: selectionOptions.limit,
            correctOnly: selectionOptions.correctOnly, options: settings, codeVersion: Fovex.describedVersion, dataset: dataset.identity)
        let outDir = URL(fileURLWithPath: out)
        let store = try SanityStore(directory: outDir, configuration: config)
        var check = SanityCheck(model: model, explainers: explainers, data: dataset, imageIDs: ids, depths: steps, seed: seed)
        check.galleryImages = gallery
        let start = Date()
        try check.run(into: store, progress: { done, total in progress.update(done: done, total: total) })
        progress.finish()
        let report = try SanityReport(directory: outDir, threshold: threshold)
        try report.write()
        print(report.markdown())
        print("\(store.rows.count) similarity rows for \(ids.count) images × \(steps.count) steps in "
              + "\(String(format: "%.0f", Date().timeIntervalSince(start))) s; wrote \(out)/similarities.csv, similarities.json, "
              + "sanity.md, sanity.html and one SVG per similarity")
    }
}
