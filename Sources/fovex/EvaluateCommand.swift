import ArgumentParser
import Foundation
import FovExCommandLine
import FovExTerminal
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
    @OptionGroup var selectionOptions: DataSelectionOptions
    @Option(help: "Metrics, comma-separated, or 'paper' / 'gaze' / 'scanpath'.") var metrics: String = "paper"
    @Option(help: "Run shard I of N (0-based), e.g. 0/4.") var shard: String = "0/1"
    @Option(parsing: .unconditional, help: "Deletion/insertion pixels per step (224 or 1792).") var deletionStep = 224
    @OptionGroup var conventions: MetricConventionOptions
    @OptionGroup var explainerOptions: ExplainerOptions
    @OptionGroup var scanpathOptions: ScanpathEvaluateOptions
    @Option(help: "Run directory.") var out: String
    @Option(parsing: .unconditional, help: """
        Images explained and scored together (the rows do not depend on it beyond timings and round-off).
        """) var batch = Evaluator.defaultBatchSize
    @Option(help: """
        Vary one option over values, one run each, the rest as given: NAME=V1,V2,… with NAME an option of \
        this command without dashes (fixations=1,3,5,10,15; steps, step-size, sigma, forgetting, variant=paper,refined, \
        rise-masks, …). Runs go to OUT/NAME=VALUE; the report (sweep.md, sweep.csv, one SVG per metric) to OUT/sweep.
        """) var sweep: String?

    /// The seed of the image subset and of every seeded method (`--seed`).
    var seed: UInt64 { explainerOptions.seed.seed }
    /// `--data`.
    var data: String { selectionOptions.data }
    /// `--limit`.
    var limit: Int? { selectionOptions.limit }
    /// `--correct-only`.
    var correctOnly: Bool { selectionOptions.correctOnly }

    func validate() throws {
        try RunOptionChecks.check(deletionStep, RunOptionChecks.deletionStepBounds, flag: "--deletion-step")
        try RunOptionChecks.check(batch, RunOptionChecks.batchBounds, flag: "--batch")
        try RunOptionChecks.checkOutputDirectory(out)
        if let sweep { _ = try Sweep(parsing: sweep) }
    }

    func run() throws {
        if let sweep { return try runSweep(try Sweep(parsing: sweep)) }
        guard let (shardIndex, shardCount) = Selection.parseShard(shard) else {
            throw ValidationError("--shard must be I/N with 0 ≤ I < N, got '\(shard)'")
        }
        let parts = data.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, ["imagenet", "gaze"].contains(parts[0]) else {
            throw ValidationError("--data must be imagenet:DIR or gaze:DIR, got '\(data)'")
        }
        let root = URL(fileURLWithPath: parts[1])
        if let scanpathMetrics = try ScanpathEvaluateOptions.wanted(metrics) {
            guard parts[0] == "gaze", !correctOnly else { throw ValidationError("scanpath metrics need gaze:DIR data (without --correct-only)") }
            return try scanpathOptions.run(self, metricNames: scanpathMetrics, root: root, shard: (shardIndex, shardCount))
        }
        let dataset: EvaluationDataset = parts[0] == "imagenet"
            ? try ImageNetDataset(root: root, synsets: Dictionary(uniqueKeysWithValues: ImageNetClasses.synsets.enumerated().map { ($1, $0) }))
            : try GazeDataset(root: root)
        if correctOnly, dataset.label(of: dataset.imageIDs[0]) == nil {
            throw ValidationError("--correct-only needs labelled (imagenet) data")
        }
        var metricSettings = conventions.settings()
        metricSettings.deletionStep = deletionStep
        let metricList = try MetricRegistry.metrics(metrics, settings: metricSettings)
        let metricNames = metricList.map(\.name)
        try Evaluator.check(metrics: metricList, data: dataset)
        let selection = Selection(limit: limit, seed: seed, shardIndex: shardIndex, shardCount: shardCount)
        // Under --correct-only the subset is known only once the model has classified it.
        guard correctOnly || !selection.apply(to: dataset.imageIDs).isEmpty else {
            throw ValidationError("shard \(shard) of the \(dataset.imageIDs.count) images selected keeps no image; use fewer shards")
        }
        let model = try modelOptions.load()
        var options = try explainerOptions.registryOptions()
        let progress = ProgressReporter(total: nil, label: "images")
        options.progress = { method, done, total in progress.setDetail(done < total ? "\(method) \(done)/\(total)" : nil) }
        let explainers = try ExplainerRegistry.explainers(methods, for: model, options: options)
        var evaluator = try Evaluator(model: model, explainers: explainers, metrics: metricList, data: dataset,
                                      selection: selection, correctOnly: correctOnly)
        evaluator.batchSize = batch
        // Recorded only where it changes a result: the gaze protocol has no deletion or insertion curves.
        var settings: [String: String] = metricNames.contains(where: { ["deletion", "insertion"].contains($0) })
            ? ["deletion_step": "\(deletionStep)"] : [:]
        // Each metric's convention (and its other options) goes into the run's record.
        for m in metricList { for (k, v) in m.options { settings["metric.\(k)"] = v } }
        // bf16 changes every map and score: a run directory holds one precision. Recorded only when not fp32, so
        // directories written before the option existed still resume.
        if modelOptions.precisionOptions.precision != .fp32 { settings["precision"] = modelOptions.precisionOptions.precision.rawValue }
        for e in explainers {
            for (k, v) in e.settings { settings["\(e.name).\(k)"] = v }
        }
        let config = RunConfiguration(
            model: model.identity.architecture, weights: model.identity.weights, weightsSHA256: model.identity.weightsSHA256,
            dataKind: parts[0], methods: explainers.map(\.name), metrics: metricNames, limit: limit, seed: seed,
            correctOnly: correctOnly, options: settings, codeVersion: Fovex.describedVersion, dataset: dataset.identity)
        let store = try RunStore(directory: URL(fileURLWithPath: out), configuration: config, shard: (shardIndex, shardCount))
        var total = 0
        var warnings: [String] = []
        let start = Date()
        try evaluator.run(into: store, progress: { done, count in
            total = count
            progress.update(done: done, total: count)
        }, warn: { warnings.append($0) })
        progress.finish()
        print("\(store.rows.count) rows for \(total) images in \(out) (\(store.skipped.count) skipped) "
              + "in \(String(format: "%.0f", Date().timeIntervalSince(start))) s")
        if !warnings.isEmpty {
            // The first few texts here; every one is in warnings.log.
            let lines = ["\(warnings.count) warnings, all in \(store.warningsURL.path); the first:"] + warnings.prefix(5).map { "  " + $0 }
            FileHandle.standardError.write(Data(lines.map { $0 + "\n" }.joined().utf8))
        }
    }
}

extension EvaluateCommand {
    /// One run per value of the sweep, each this command with `--NAME VALUE --out OUT/NAME=VALUE`, then
    /// the sweep's report. Every value's command line is parsed (and so checked) before any run starts.
    func runSweep(_ sweep: Sweep) throws {
        let base = Self.argumentsWithoutSweep(Array(CommandLine.arguments.dropFirst()))
        let root = URL(fileURLWithPath: out)
        let commands = try sweep.values.map { value -> EvaluateCommand in
            do {
                return try EvaluateCommand.parse(base + ["--\(sweep.parameter)", value, "--out", sweep.directory(for: value, in: root).path])
            } catch {
                throw ValidationError("--sweep \(sweep.parameter)=\(value): \(EvaluateCommand.message(for: error))")
            }
        }
        for (value, command) in zip(sweep.values, commands) {
            print("\(sweep.parameter) = \(value):")
            try command.run()
        }
        var directions: [String: Bool] = [:]
        for m in MetricRegistry.all { directions[m] = MetricRegistry.direction(m) == .higherIsBetter }
        let report = try SweepReport(sweep: sweep, root: root, higherIsBetter: directions)
        let dir = root.appendingPathComponent("sweep")
        try report.write(to: dir)
        print(report.markdown())
        print("Wrote \(dir.path)/sweep.md, sweep.csv and one SVG per metric")
    }

    /// The arguments after `evaluate` with `--sweep` and its value left out.
    static func argumentsWithoutSweep(_ arguments: [String]) -> [String] {
        var args = arguments
        if let i = args.firstIndex(of: "evaluate") { args.removeSubrange(...i) }
        var out: [String] = []
        var skipNext = false
        for a in args {
            if skipNext { skipNext = false; continue }
            if a == "--sweep" { skipNext = true; continue }
            if a.hasPrefix("--sweep=") { continue }
            out.append(a)
        }
        return out
    }
}

/// `fovex report`: the paper's tables from run directories.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Merge run directories (shards, resumed runs) into report.md, report.csv and report.html (and paired.csv: FovEx against each method, image by image).")

    @Argument(help: "Run directories written by `fovex evaluate`.") var runs: [String]
    @Option(help: "Report directory.") var out: String
    @Option(help: "Scanpath runs: images whose scanpaths are shown animated.") var animations = 4

    func validate() throws { try RunOptionChecks.checkOutputDirectory(out) }

    func run() throws {
        let dirs = runs.map { URL(fileURLWithPath: $0) }
        var directions: [String: Bool] = [:]
        for m in MetricRegistry.all { directions[m] = MetricRegistry.direction(m) == .higherIsBetter }
        let report = try EvaluationReport(runs: dirs, higherIsBetter: directions)
        let outDir = URL(fileURLWithPath: out)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: outDir.path, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw ValidationError("--out \(out): exists and is not a directory")
        }
        do { try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true) } catch {
            throw ValidationError("--out \(out): cannot create the directory: \(error.localizedDescription)")
        }
        try RunStore.atomicWrite(Data(report.csv().utf8), to: outDir.appendingPathComponent("report.csv"))
        let pairedCSV = report.pairedCSV()
        if let pairedCSV { try RunStore.atomicWrite(Data(pairedCSV.utf8), to: outDir.appendingPathComponent("paired.csv")) }
        let gallery = try ReportGallery.draw(report, into: outDir)
        // Scanpath runs: best-matching observers, the figure, and FovEx beside a human observer, animated.
        let scanpaths = try ScanpathReport(runs: dirs)
        var markdown = report.markdown(), extra = ""
        if !scanpaths.records.isEmpty {
            markdown += scanpaths.geometryMarkdown(methods: report.methods) + scanpaths.markdown(methods: report.methods)
            let figure = ScanpathReport.figure(report, metrics: report.metrics.filter { (report.summaries[$0]?.count ?? 0) > 1 },
                                               title: "\(report.configuration.model): scanpath agreement with human observers")
            try RunStore.atomicWrite(Data(figure.utf8), to: outDir.appendingPathComponent("scanpath.svg"))
            extra = "<h2>Means and 95 % intervals</h2><img src=\"scanpath.svg\" alt=\"scanpath metrics\">"
                + (try scanpaths.writeAnimations(to: outDir, images: animations))
        }
        try RunStore.atomicWrite(Data(markdown.utf8), to: outDir.appendingPathComponent("report.md"))
        try RunStore.atomicWrite(Data(report.html(gallery: gallery, extra: extra).utf8), to: outDir.appendingPathComponent("report.html"))
        print(markdown)
        print("Wrote \(outDir.path)/report.md, report.csv\(pairedCSV == nil ? "" : ", paired.csv"), report.html")
    }
}
