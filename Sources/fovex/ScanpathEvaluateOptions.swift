import ArgumentParser
import Foundation
import FovExCommandLine
import FovExEvaluation
import FovExExplainers
import FovExMetrics
import FovExModels
import FovExTerminal

/// The options of `fovex evaluate --metrics scanpath`, and the run they configure.
struct ScanpathEvaluateOptions: ParsableArguments {
    @Option(help: "Scanpath metrics: generated scanpaths have FovEx's N fixations ('fovex') or each observer's length ('observer').")
    var scanpathLength: String = ScanpathLength.fovex.rawValue
    @Option(help: "Scanpath metrics: keep or drop each observer's first recorded fixation.")
    var firstFixation: String = ScanpathEvaluator.FirstFixation.keep.rawValue
    @Option(help: "Scanpath metrics: inhibition-of-return radius of the saliency-peak baseline, as a fraction of the map's shorter side.")
    var inhibitionRadius = 0.1

    /// Whether `metrics` names scanpath metrics; mixing them with map metrics is refused.
    static func wanted(_ metrics: String) throws -> [String]? {
        let parts = metrics.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        let names = parts.flatMap { $0 == "scanpath" ? ScanpathMetricRegistry.names : [$0] }
        let scanpath = names.filter { ScanpathMetricRegistry.names.contains($0) }
        guard !scanpath.isEmpty else { return nil }
        guard scanpath.count == names.count else {
            throw ValidationError("scanpath metrics (\(scanpath.joined(separator: ", "))) cannot be mixed with map metrics in one run")
        }
        var unique: [String] = []
        for n in scanpath where !unique.contains(n) { unique.append(n) }
        return unique
    }

    /// Runs the scanpath protocol; `methods` 'all' (or 'scanpath') is the default table.
    func run(_ command: EvaluateCommand, metricNames: [String], root: URL, shard: (Int, Int)) throws {
        guard let length = ScanpathLength(rawValue: scanpathLength) else {
            throw ValidationError("--scanpath-length must be fovex or observer, got '\(scanpathLength)'")
        }
        guard let first = ScanpathEvaluator.FirstFixation(rawValue: firstFixation) else {
            throw ValidationError("--first-fixation must be keep or drop, got '\(firstFixation)'")
        }
        guard inhibitionRadius > 0 else { throw ValidationError("--inhibition-radius must be positive") }
        let data = try GazeDataset(root: root)
        guard data.provides.contains(.observerScanpaths) else {
            throw ValidationError("scanpath metrics need each observer's ordered fixations (fixations.csv with subject and order); \(root.path) has none")
        }
        let list = command.methods.lowercased()
        let methods = ["all", "scanpath"].contains(list) ? ScanpathEvaluator.defaultMethods
            : list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let model = try command.modelOptions.load()
        // FovEx's options (and --seed) come from the shared explainer options; its variant is set per row.
        let options = try command.explainerOptions.registryOptions()
        let fovex = options.fovex
        let metrics = metricNames.compactMap(ScanpathMetricRegistry.metric(named:))
        var evaluator = try ScanpathEvaluator(model: model, data: data, methods: methods, metrics: metrics,
                                              fovexOptions: fovex, explainerOptions: options,
                                              selection: Selection(limit: command.limit, seed: command.seed,
                                                                   shardIndex: shard.0, shardCount: shard.1),
                                              seed: command.seed)
        evaluator.length = length
        evaluator.firstFixation = first
        evaluator.inhibitionRadius = inhibitionRadius
        var settings: [String: String] = ["scanpath_length": length.rawValue, "first_fixation": first.rawValue,
                                          "inhibition_radius": "\(inhibitionRadius)", "primary_metric": evaluator.primaryMetric]
        for (k, v) in try FovEx(options: fovex).settings where k != "variant" { settings["fovex.\(k)"] = v }
        for m in metrics { for (k, v) in m.options { settings["\(m.name).\(k)"] = v } }
        let config = RunConfiguration(
            model: model.identity.architecture, weights: model.identity.weights, weightsSHA256: model.identity.weightsSHA256,
            dataKind: "gaze", methods: methods, metrics: metricNames, limit: command.limit, seed: command.seed,
            correctOnly: false, options: settings, codeVersion: Fovex.describedVersion, dataset: data.identity)
        let store = try RunStore(directory: URL(fileURLWithPath: command.out), configuration: config, shard: shard)
        let total = evaluator.imageIDs.count
        let progress = ProgressReporter(total: nil, label: "images")
        progress.update(done: 0, total: total)
        var warnings = 0
        let start = Date()
        try evaluator.run(into: store, progress: { done, _ in progress.update(done: done) }, warn: { _ in warnings += 1 })
        progress.finish()
        print("\(store.rows.count) rows for \(total) images in \(command.out) (\(store.skipped.count) skipped, "
              + "\(warnings) metric warnings) in \(String(format: "%.0f", Date().timeIntervalSince(start))) s")
    }
}
