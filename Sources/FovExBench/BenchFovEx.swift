import ArgumentParser
import Foundation
import FovExCommandLine
import FovExExplainers
import FovExModels
import FovExTensor

/// `fovex bench fovex`: seconds per image of the FovEx search, against the reference algorithm in PyTorch.
public struct BenchFovEx: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "fovex",
        abstract: "Time FovEx per image (random weights) against the reference algorithm re-stated in PyTorch.",
        discussion: """
        One run per model and batch size after a one-step warm-up. PyTorch runs tools/bench_torch_fovex.py with \
        OMP_NUM_THREADS and OPENBLAS_NUM_THREADS set to --threads, once with OMP_WAIT_POLICY unset and once with \
        PASSIVE, keeping the faster. Ratio = Swift time / PyTorch time; lower is better. With --precision fp32,bf16 \
        the fp32 and bf16 runs alternate (fp32, bf16, fp32, bf16: the mean of each precision's two runs), and \
        "bf16 ×" gives bf16's (or bf16-backward's) speed-up over fp32: the mean of the two rounds' fp32 time / bf16 \
        time.
        """)

    @Option(help: "Models, comma-separated.") var models = "efficientnet-lite0,resnet50,vit-b16"
    @Option(help: "Batch sizes, comma-separated.") var batches = "1,8"
    @OptionGroup var fovex: FovExOptions
    @Option(help: "Threads for both sides.") var threads = Threading.threadCount
    @OptionGroup var precisionOptions: BenchPrecisionOptions
    @Flag(help: "Skip PyTorch.") var noTorch = false
    @Flag(help: "Print JSON instead of a table.") var json = false

    struct Row: Codable {
        var model: String
        var batch: Int
        var precision: String
        var swiftSecondsPerImage: Double
        var torchSecondsPerImage: Double?
        var ratio: Double?
        /// fp32 time / this row's time in the same run, on bf16 and bf16-backward rows.
        var bf16Speedup: Double?
    }

    public init() {}

    public func run() throws {
        Threading.setThreadCount(threads)
        let modelList = models.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let batchList = batches.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !batchList.isEmpty, batchList.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--batches needs positive integers")
        }
        var rows: [Row] = []
        let options = try fovex.options()
        let (fixations, steps) = (options.fixations, options.stepsPerFixation)
        var warmup = options
        warmup.fixations = 1
        warmup.stepsPerFixation = 1
        warmup.heatmapForgetting = []
        for name in modelList {
            let model = try ModelRegistry.randomModel(name, seed: 1)
            let size = model.preprocessing.inputSize
            let precisions = precisionOptions.precisions
            for b in batchList {
                var g = SeededGenerator(seed: 7)
                let x = Tensor(randomUniform: [b, 3, size, size], generator: &g)
                let explainer = try FovEx(options: options)
                var times = Array(repeating: [Double](), count: precisions.count)
                // One timed run per precision, or two alternating rounds when comparing precisions.
                for _ in 0..<(precisions.count > 1 ? 2 : 1) {
                    for (i, p) in precisions.enumerated() {
                        try ModelRegistry.setPrecision(p, of: model)
                        if times[i].isEmpty { _ = try FovEx(options: warmup).explain(x, model: model, classes: nil) }
                        let t0 = Date()
                        _ = try explainer.explain(x, model: model, classes: nil)
                        times[i].append(Date().timeIntervalSince(t0) / Double(b))
                    }
                }
                let seconds = times.map { $0.reduce(0, +) / Double($0.count) }
                let fp32 = precisions.firstIndex(of: .fp32).map { times[$0] }
                for (i, p) in precisions.enumerated() {
                    rows.append(Row(model: name, batch: b, precision: p.rawValue, swiftSecondsPerImage: seconds[i],
                                    bf16Speedup: p != .fp32 ? fp32.flatMap { medianOfRatios($0, over: times[i]) } : nil))
                }
            }
        }
        var note = "PyTorch skipped"
        if !noTorch, PythonReference.torchAvailable, let script = PythonReference.script("bench_torch_fovex.py") {
            var best: [String: Double] = [:]
            // A failing script leaves the PyTorch column empty rather than ending the benchmark.
            let runs = (try? PythonReference.runPerWaitPolicy(
                script, arguments: ["--models", models, "--batches", batches, "--fixations", "\(fixations)",
                                    "--steps", "\(steps)", "--threads", "\(threads)"], threads: threads)) ?? []
            for run in runs {
                guard let doc = try? JSONSerialization.jsonObject(with: run.stdout) as? [String: Any],
                      let list = doc["rows"] as? [[String: Any]] else { continue }
                note = "PyTorch \(doc["torch"] ?? "?"), best of OMP_WAIT_POLICY unset / PASSIVE"
                for r in list {
                    guard let m = r["model"] as? String, let b = r["batch"] as? Int, let s = r["seconds_per_image"] as? Double else { continue }
                    best["\(m)/\(b)"] = Swift.min(best["\(m)/\(b)"] ?? .infinity, s)
                }
            }
            for i in rows.indices {
                if let t = best["\(rows[i].model)/\(rows[i].batch)"] {
                    rows[i].torchSecondsPerImage = t
                    rows[i].ratio = rows[i].swiftSecondsPerImage / t
                }
            }
        }
        if json {
            try printJSON(rows)
            return
        }
        var table = TextTable(header: ["model", "batch", "precision", "Swift s/image", "PyTorch s/image", "ratio", "bf16 ×"])
        for r in rows {
            table.rows.append([r.model, "\(r.batch)", r.precision, String(format: "%.2f", r.swiftSecondsPerImage),
                               r.torchSecondsPerImage.map { String(format: "%.2f", $0) } ?? "–",
                               r.ratio.map { String(format: "%.2f", $0) } ?? "–",
                               r.bf16Speedup.map { String(format: "%.2f", $0) } ?? "–"])
        }
        print("FovEx, \(fixations) fixations × \(steps) steps, \(threads) threads; \(note)")
        print(table.render())
    }
}
