import ArgumentParser
import Foundation
import FovExCommandLine
import FovExEvaluation
import FovExExplainers
import FovExMetrics
import FovExModels

/// `fovex evaluate`: methods × metrics over a data set, one JSON line per (image, method), resumable.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Evaluate explanation methods with the paper's metrics on a data set (sharded, resumable).",
        discussion: """
        --data takes KIND:DIR with KIND imagenet (labels.csv + boxes.csv + images/, val/ with ILSVRC XML boxes, or \
        LOC_val_solution.csv) or gaze (fixations.csv + images/, or MIT1003's ALLSTIMULI/ + ALLFIXATIONMAPS/). \
        Results are appended to RUN_DIR/results.jsonl as each image finishes; running the same command again \
        skips finished work. With --shard I/N, N machines each run one shard into their own directory; \
        `fovex report` merges them.
        """)

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Methods, comma-separated, or 'all'.") var methods: String
    @Option(help: "KIND:DIR, KIND being imagenet or gaze.") var data: String
    @Option(help: "Metrics, comma-separated, or 'paper' / 'gaze'.") var metrics: String = "paper"
    @Option(parsing: .unconditional, help: "Evaluate at most N images (a seeded subset).") var limit: Int?
    @Flag(help: "Only images the model classifies correctly (the paper's filter).") var correctOnly = false
    @Option(help: "Run shard I of N (0-based), e.g. 0/4.") var shard: String = "0/1"
    @Option(parsing: .unconditional, help: "Deletion/insertion pixels per step (224 or 1792).") var deletionStep = 224
    @OptionGroup var explainerOptions: ExplainerOptions
    @Option(help: "Run directory.") var out: String

    /// The seed of the image subset and of every seeded method (`--seed`).
    var seed: UInt64 { explainerOptions.seed.seed }

    func validate() throws {
        if let limit { try RunOptionChecks.check(limit, RunOptionChecks.limitBounds, flag: "--limit") }
        try RunOptionChecks.check(deletionStep, RunOptionChecks.deletionStepBounds, flag: "--deletion-step")
        try RunOptionChecks.checkOutputDirectory(out)
    }

    func run() throws {
        guard let (shardIndex, shardCount) = Selection.parseShard(shard) else {
            throw ValidationError("--shard must be I/N with 0 ≤ I < N, got '\(shard)'")
        }
        let parts = data.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, ["imagenet", "gaze"].contains(parts[0]) else {
            throw ValidationError("--data must be imagenet:DIR or gaze:DIR, got '\(data)'")
        }
        let root = URL(fileURLWithPath: parts[1])
        let evaluationData: EvaluationData = parts[0] == "imagenet"
            ? .imagenet(try ImageNetDataset(root: root, synsets: Dictionary(uniqueKeysWithValues: ImageNetClasses.synsets.enumerated().map { ($1, $0) })))
            : .gaze(try GazeDataset(root: root))
        if correctOnly, case .gaze = evaluationData { throw ValidationError("--correct-only needs labelled (imagenet) data") }
        let metricNames = try MetricRegistry.expand(metrics)
        let model = try modelOptions.load()
        var options = try explainerOptions.registryOptions()
        let progress = ProgressReporter(total: nil, label: "images")
        options.progress = { method, done, total in progress.setDetail(done < total ? "\(method) \(done)/\(total)" : nil) }
        let explainers = try ExplainerRegistry.explainers(methods, for: model, options: options)
        // Recorded only where it changes a result: the gaze protocol has no deletion or insertion curves.
        var settings: [String: String] = metricNames.contains(where: { ["deletion", "insertion"].contains($0) })
            ? ["deletion_step": "\(deletionStep)"] : [:]
        for e in explainers {
            for (k, v) in e.settings { settings["\(e.name).\(k)"] = v }
        }
        let config = RunConfiguration(
            model: model.identity.architecture, weights: model.identity.weights, weightsSHA256: model.identity.weightsSHA256,
            dataKind: parts[0], methods: explainers.map(\.name), metrics: metricNames, limit: limit, seed: seed,
            correctOnly: correctOnly, options: settings, codeVersion: Fovex.describedVersion)
        let store = try RunStore(directory: URL(fileURLWithPath: out), configuration: config, shard: (shardIndex, shardCount))
        var evaluator = Evaluator(model: model, explainers: explainers, metrics: metricNames, data: evaluationData,
                                  selection: Selection(limit: limit, seed: seed, shardIndex: shardIndex, shardCount: shardCount),
                                  correctOnly: correctOnly)
        evaluator.deletionStep = deletionStep
        let total = evaluator.imageIDs.count
        progress.update(done: 0, total: total)
        var warnings = 0
        let start = Date()
        try evaluator.run(into: store, progress: { done, _ in progress.update(done: done) }, warn: { _ in warnings += 1 })
        progress.finish()
        print("\(store.rows.count) rows for \(total) images in \(out) (\(store.skipped.count) skipped, "
              + "\(warnings) metric warnings) in \(String(format: "%.0f", Date().timeIntervalSince(start))) s")
    }
}

/// `fovex report`: the paper's tables from run directories.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Merge run directories (shards, resumed runs) into report.md, report.csv and report.html.")

    @Argument(help: "Run directories written by `fovex evaluate`.") var runs: [String]
    @Option(help: "Report directory.") var out: String

    func validate() throws { try RunOptionChecks.checkOutputDirectory(out) }

    func run() throws {
        let dirs = runs.map { URL(fileURLWithPath: $0) }
        var directions: [String: Bool] = [:]
        for m in MetricRegistry.all { directions[m] = MetricRegistry.direction(m) == .higherIsBetter }
        let report = try EvaluationReport(runs: dirs, higherIsBetter: directions)
        let outDir = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        try RunStore.atomicWrite(Data(report.markdown().utf8), to: outDir.appendingPathComponent("report.md"))
        try RunStore.atomicWrite(Data(report.csv().utf8), to: outDir.appendingPathComponent("report.csv"))
        // Gallery: the overlays the runs kept, copied beside the page.
        let galleryOut = outDir.appendingPathComponent("gallery")
        var gallery: [(image: String, overlays: [String: String])] = []
        let images = Array(Set(report.rows.map(\.image))).sorted()
        for image in images {
            var overlays: [String: String] = [:]
            for method in report.methods {
                let name = Evaluator.galleryName(image: image, method: method)
                for dir in dirs {
                    let src = dir.appendingPathComponent("gallery").appendingPathComponent(name)
                    guard FileManager.default.fileExists(atPath: src.path) else { continue }
                    try FileManager.default.createDirectory(at: galleryOut, withIntermediateDirectories: true)
                    let dst = galleryOut.appendingPathComponent(name)
                    try? FileManager.default.removeItem(at: dst)
                    try FileManager.default.copyItem(at: src, to: dst)
                    overlays[method] = "gallery/" + name
                    break
                }
            }
            if !overlays.isEmpty { gallery.append((image, overlays)) }
        }
        try RunStore.atomicWrite(Data(report.html(gallery: gallery).utf8), to: outDir.appendingPathComponent("report.html"))
        print(report.markdown())
        print("Wrote \(outDir.path)/report.md, report.csv, report.html")
    }
}
