import ArgumentParser
import Foundation
import FovExCommandLine
import FovExTerminal
import FovExExplainers
import FovExModels
import FovExTensor

/// `fovex bench explainers`: seconds per image of each baseline explainer, against its reference
/// re-stated in PyTorch, measured in the same run.
public struct BenchExplainers: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "explainers",
        abstract: "Time the baseline explainers per image (random weights) against their references in PyTorch.",
        discussion: """
        One image (batch 1), each explaining its top-1 class. After a warm-up (RISE with one batch of masks, \
        Meaningful Perturbation with one iteration, the other methods in full) the median of --repeats runs \
        counts. By default the CNNs run gradcam, gradcam++, randomcam, rise and mp, and ViTs gradcam, gae and \
        clsemb; --methods runs each listed method on every model it can explain. PyTorch runs \
        tools/bench_torch_explainers.py (the CAMs as pytorch-grad-cam computes them, RISE, MP, GAE and clsemb as \
        their authors' code does, with the same masks, batch and iterations) with OMP_NUM_THREADS and \
        OPENBLAS_NUM_THREADS set to --threads, once with OMP_WAIT_POLICY unset and once with PASSIVE, and each row \
        keeps PyTorch's faster setting (batch-norm-folded CNNs included). Ratio = Swift time / PyTorch time; the \
        target is ≤ 0.8. "other CPU" = cores other processes used while Swift was timed. RISE's masked passes \
        record nothing and run the CNNs as blocked chains (FOVEX_BLOCKED_CHAINS=0 turns them off; the header says \
        which).
        """)

    @Option(help: "Models, comma-separated.") var models = "efficientnet-lite0,resnet50,vit-b16"
    @Option(help: "Methods, comma-separated, or `default` (CNNs: gradcam, gradcam++, randomcam, rise, mp; ViTs: gradcam, gae, clsemb).")
    var methods = "default"
    @Option(help: "Threads for both sides.") var threads = Threading.threadCount
    @OptionGroup var rise: RISEOptions
    @OptionGroup var mp: MPOptions
    @Option(help: "Timed runs per method (the median is reported).") var repeats = 1
    @Flag(help: "Skip PyTorch.") var noTorch = false
    @Flag(help: "Print JSON instead of a table.") var json = false

    /// Swift's time per image relative to PyTorch's that the project aims for.
    static let target = 0.8
    /// The methods timed by default on convolutional networks and on token models (ViTs).
    static let convolutionalMethods = ["gradcam", "gradcam++", "randomcam", "rise", "mp"]
    static let tokenMethods = ["gradcam", "gae", "clsemb"]

    /// One method on one model.
    struct Row: Codable {
        var model: String
        var method: String
        var swiftSecondsPerImage: Double
        /// Cores' worth of CPU other processes used while Swift was timed.
        var swiftOtherLoad: Double?
        var torchSecondsPerImage: Double?
        var torchSetting: String?
        var ratio: Double?
        var target: Double?
    }

    /// Everything `--json` prints.
    struct Report: Encodable {
        var threads: Int
        var repeats: Int
        var riseMasks: Int
        var riseBatch: Int
        var mpIterations: Int
        var torch: String
        var loadAverageBefore: Double?
        var blockedChains = BlockedConvolutionChain.isEnabledByDefault
        var rows: [Row]
    }

    public func validate() throws {
        guard threads > 0, repeats > 0 else { throw ValidationError("--threads and --repeats must be positive") }
        for name in modelList { _ = try ModelRegistry.architecture(name) }
        for method in methodList ?? [] where !ExplainerRegistry.names.contains(method) || method == "fovex" {
            throw ValidationError("unknown method '\(method)' (fovex has its own benchmark, `fovex bench fovex`); "
                + "known: \(ExplainerRegistry.names.filter { $0 != "fovex" }.joined(separator: ", ")), or default")
        }
    }

    private var modelList: [String] { models.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }

    /// The methods asked for, or nil for each model's default list.
    private var methodList: [String]? {
        let list = methods.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        return list == ["default"] ? nil : list
    }

    /// The registry's options with this command's settings: what both sides run.
    private var explainerOptions: ExplainerRegistry.Options {
        var options = ExplainerRegistry.Options()
        // Both groups were validated when the command line was parsed.
        options.rise = (try? rise.options()) ?? options.rise
        options.meaningfulPerturbation = (try? mp.options()) ?? options.meaningfulPerturbation
        return options
    }

    private var riseMasks: Int { rise.riseMasks }
    private var mpIterations: Int { mp.mpIterations }

    public init() {}

    public func run() throws {
        Threading.setThreadCount(threads)
        let loadBefore = MachineLoad.average()
        var rows = try measureSwift()
        guard !rows.isEmpty else {
            throw ExplainerError.badInput("none of --methods \(methods) can explain any of --models \(models)")
        }
        var torchNote = "PyTorch skipped (--no-torch)"
        if !noTorch {
            do {
                let (version, best) = try measureTorch(cases: rows.map { "\($0.model):\($0.method)" })
                torchNote = "PyTorch \(version), best of OMP_WAIT_POLICY unset / PASSIVE"
                for i in rows.indices {
                    guard let t = best["\(rows[i].model):\(rows[i].method)"] else { continue }
                    rows[i].torchSecondsPerImage = t.seconds
                    rows[i].torchSetting = t.setting
                    rows[i].ratio = rows[i].swiftSecondsPerImage / t.seconds
                    rows[i].target = Self.target
                }
            } catch {
                torchNote = "PyTorch not measured: \(error)"
            }
        }
        if json {
            try printJSON(Report(threads: threads, repeats: repeats, riseMasks: riseMasks,
                                 riseBatch: explainerOptions.rise.batchSize, mpIterations: mpIterations,
                                 torch: torchNote, loadAverageBefore: loadBefore, rows: rows))
            return
        }
        print("fovex bench explainers: \(threads) threads, random weights, batch 1, RISE \(riseMasks) masks "
              + "(\(explainerOptions.rise.batchSize) per pass), MP \(mpIterations) iterations, median of \(repeats), \(BlockedChainsNote.text); \(torchNote)")
        if let warning = MachineLoad.warning(loadBefore) { print(warning) }
        func f(_ v: Double?, _ format: String) -> String { v.map { String(format: format, $0) } ?? "–" }
        var table = TextTable(header: ["model", "method", "Swift s/image", "PyTorch s/image", "ratio", "target",
                                       "other CPU", "PyTorch setting"],
                              leftAligned: [0, 1, 7])
        for r in rows {
            table.rows.append([r.model, r.method, f(r.swiftSecondsPerImage, "%.3f"), f(r.torchSecondsPerImage, "%.3f"),
                               f(r.ratio, "%.2f"), r.target.map { String(format: "≤ %.2f", $0) } ?? "",
                               f(r.swiftOtherLoad, "%.2f"), r.torchSetting ?? ""])
        }
        print(table.render())
    }

    /// The methods to time on `model`: its default list, or those of `--methods` that it can run.
    private func methods(for model: any ImageClassifier) -> [String] {
        let valid = Set(ExplainerRegistry.names(validFor: model))
        guard let list = methodList else {
            return model.usableTokenClassifier != nil ? Self.tokenMethods.filter(valid.contains) : Self.convolutionalMethods
        }
        return list.filter(valid.contains)
    }

    private func measureSwift() throws -> [Row] {
        let progress = ProgressReporter(total: nil, label: "Swift", unit: .items("methods"))
        var options = explainerOptions
        options.progress = { method, done, total in progress.setDetail("\(method) \(done)/\(total)") }
        // A short run of the same code paths: the full one would double RISE's and MP's minutes for nothing.
        var warmup = options
        warmup.rise.masks = options.rise.batchSize
        warmup.meaningfulPerturbation.iterations = 1
        var rows: [Row] = []
        for name in modelList {
            let model = try ModelRegistry.randomModel(name, seed: 0)
            let size = model.preprocessing.inputSize
            var generator = SeededGenerator(seed: 7)
            let image = Tensor(randomUniform: [1, 3, size, size], in: 0...1, generator: &generator)
            for method in methods(for: model) {
                progress.setDetail("\(name) \(method)")
                _ = try ExplainerRegistry.explainer(named: method, for: model, options: warmup)
                    .explain(image, model: model, classes: nil)
                let explainer = try ExplainerRegistry.explainer(named: method, for: model, options: options)
                let probe = LoadProbe()
                var times: [Double] = []
                for _ in 0..<repeats {
                    let start = DispatchTime.now().uptimeNanoseconds
                    _ = try explainer.explain(image, model: model, classes: nil)
                    times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                }
                rows.append(Row(model: name, method: method, swiftSecondsPerImage: median(of: times)!,
                                swiftOtherLoad: probe?.otherLoad()))
                progress.advance()
            }
        }
        progress.finish()
        return rows
    }

    /// PyTorch's version and, per `model:method` case, its fastest time per image over the wait
    /// policies and model variants tried, with the setting that gave it.
    private func measureTorch(cases: [String]) throws -> (version: String, best: [String: (seconds: Double, setting: String)]) {
        guard PythonReference.torchAvailable else {
            throw PythonReferenceError(description: "\(PythonReference.python) cannot import torch")
        }
        guard let script = PythonReference.script("bench_torch_explainers.py") else {
            throw PythonReferenceError(description: "tools/bench_torch_explainers.py not found")
        }
        struct Output: Decodable {
            struct Row: Decodable {
                var model: String
                var method: String
                var setting: String
                var secondsPerImage: Double

                enum CodingKeys: String, CodingKey {
                    case model, method, setting, secondsPerImage = "seconds_per_image"
                }
            }

            var torch: String
            var rows: [Row]
        }
        let o = explainerOptions
        let arguments = ["--cases", cases.joined(separator: ","), "--repeats", "\(repeats)", "--threads", "\(threads)",
                         "--rise-masks", "\(o.rise.masks)", "--rise-cells", "\(o.rise.cells)",
                         "--rise-p", "\(o.rise.keepProbability)", "--rise-batch", "\(o.rise.batchSize)",
                         "--mp-iterations", "\(o.meaningfulPerturbation.iterations)",
                         "--mp-mask-size", "\(o.meaningfulPerturbation.maskSize)"]
        var version = ""
        var best: [String: (seconds: Double, setting: String)] = [:]
        for run in try PythonReference.runPerWaitPolicy(script, arguments: arguments, threads: threads) {
            let output: Output
            do {
                output = try JSONDecoder().decode(Output.self, from: run.stdout)
            } catch {
                throw PythonReferenceError(description: "\(script.lastPathComponent) printed no valid result: \(error)")
            }
            version = output.torch
            for r in output.rows {
                let key = "\(r.model):\(r.method)"
                if r.secondsPerImage < best[key]?.seconds ?? .infinity {
                    best[key] = (r.secondsPerImage, "OMP_WAIT_POLICY=\(run.waitPolicy), \(r.setting)")
                }
            }
        }
        return (version, best)
    }
}
