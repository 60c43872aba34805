import ArgumentParser
import Foundation
import FovExCommandLine
import FovExTerminal
import FovExModels
import FovExTensor

/// `fovex bench models`: forward and forward + input-gradient time per image, against PyTorch in the same run.
public struct BenchModels: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "Time models' forward pass and forward + gradient of the top logit w.r.t. the input, against PyTorch.",
        discussion: """
        Random weights (timing does not depend on them), median of --repeats runs after one warm-up. PyTorch runs \
        tools/bench_torch_models.py with OMP_NUM_THREADS and OPENBLAS_NUM_THREADS set to --threads, once with \
        OMP_WAIT_POLICY unset and once with PASSIVE, and each row keeps PyTorch's faster setting (including its \
        batch-norm-folded variant for the CNNs). Ratio = Swift time / PyTorch time; lower is better. With --rounds N \
        the Swift and PyTorch measurements alternate N times and the ratio is the median of each round's ratio.

        GEMM floor (ResNet-50 and ViT-B/16, batch 1): the pass's convolution and matmul FLOPs, counted from \
        the architecture's layers (backward-data costs the forward FLOPs per layer, twice them for attention's \
        two-activation products), and the time those layers alone take when each distinct shape is timed with \
        `fovex bench kernels`' code in this run. "/ floor" = Swift time / floor time (target ≤ 1.2): what the \
        non-GEMM work (activations, pooling, normalisation, softmax, copies, reorders) adds. The floor is timed \
        in --repeats rounds, each round a forward pass, a forward + gradient pass and then every layer shape, and \
        "/ floor" is the median over rounds of each round's ratio, so that the machine's drift between the \
        passes and the kernels cancels ("floor ms" is the median round's floor). The header states \
        the machine's reference rate, a 197×768·768×3072 GEMM's GFLOP/s in this run, so runs compare across days. \
        "oneDNN ms" is the time the \
        passes themselves spent inside oneDNN's primitives (convolutions, matmuls, reorders) and "/ oneDNN" the \
        median over passes of pass time / that time, which splits each pass into kernels and the rest at one \
        moment.

        With --model FILE.onnx: the ONNX model against the built-in model of the same architecture (random \
        weights) and onnxruntime's CPU forward pass (tools/bench_onnxruntime.py, same thread count), in --rounds \
        interleaved rounds; ratios = ONNX time / reference time, the median over rounds of each round's ratio.

        With --precision fp32,bf16 the two precisions' runs alternate within each measurement and "bf16 ×" gives \
        bf16's (or bf16-backward's) speed-up over fp32: the median over the --repeats rounds of each round's fp32 \
        time / bf16 time. Peak memory is then that of both together, so measure memory with one precision.

        The CNNs' forward passes (which record nothing) run as blocked chains in oneDNN's preferred layouts; \
        FOVEX_BLOCKED_CHAINS=0 runs them on the differentiable ops instead, for comparison, and the header says \
        which. The GEMM floor's kernels are the channels-last ones.
        """)

    @Option(help: "Models, comma-separated.") var models = "efficientnet-lite0,resnet50,vit-b16"
    @Option(help: "Batch sizes, comma-separated.") var batches = "1,8"
    @Option(help: "Timed runs per measurement (the median is reported).") var repeats = 5
    @Option(help: "Threads for both sides.") var threads = Threading.threadCount
    @Option(help: "The Python that has PyTorch and torchvision.") var python = "/usr/bin/python3"
    @Option(help: "The PyTorch script (default: tools/bench_torch_models.py in the package).") var torchScript: String?
    @OptionGroup var precisionOptions: BenchPrecisionOptions
    @Flag(help: "Skip PyTorch.") var noTorch = false
    @Flag(help: "Skip the GEMM floor.") var noFloor = false
    @Option(help: "Seconds of timed calls per layer shape, direction and round of the GEMM floor.") var floorTime = 0.03
    @Flag(help: "Print JSON instead of a table.") var json = false
    @Option(help: "An ONNX file to time instead (FILE.onnx): against the built-in model of its architecture and onnxruntime.")
    var model: String?
    @Option(help: "With --model: the built-in model to compare with (default: the one the file's name names; none to skip).")
    var builtIn: String?
    @Option(help: "With --model: the Python that has onnxruntime (PyPI), run through env.") var ortPython = "python3"
    @Flag(help: "With --model: skip onnxruntime.") var noOnnxruntime = false
    @Option(help: """
        Interleaved rounds (Swift and PyTorch in turn; with --model, ONNX, built-in and onnxruntime in turn); times \
        are the medians over rounds, ratios the medians of the rounds' ratios. Default: 1, or 3 with --model.
        """)
    var rounds: Int?
    @OptionGroup var onnx: ONNXModelOptions

    /// What forward+gradient should cost relative to PyTorch, per the project's targets.
    static let targets: [String: Double] = ["resnet50": 0.65, "vit-b16": 0.85, "efficientnet-lite0": 0.8]
    /// How far above its GEMM floor a pass may be.
    static let floorTarget = 1.2
    /// The reference GEMM whose rate the header states: ViT-B/16's MLP expansion at batch 1.
    static let referenceGEMM = KernelShape.linear("reference", rows: 197, in: 768, out: 3072)

    struct Row: Codable {
        var model: String
        var batch: Int
        var mode: String
        var precision: String
        var swiftMsPerImage: Double
        var swiftPeakRSSMB: Double?
        var torchMsPerImage: Double?
        var torchPeakRSSMB: Double?
        var torchSetting: String?
        var ratio: Double?
        var target: Double?
        /// Convolution and matmul GFLOP of the pass per image (batch-1 rows of counted models).
        var gemmGFLOP: Double?
        /// The time those FLOPs take at this run's kernel rates.
        var floorMsPerImage: Double?
        /// Swift time / floor time.
        var floorRatio: Double?
        /// fp32 time / this row's time of the same measurement, on bf16 and bf16-backward rows of an interleaved run.
        var bf16Speedup: Double?
        /// Of `swiftMsPerImage`, the time inside oneDNN's primitives (median over the timed passes).
        var primitiveMsPerImage: Double?
        /// Pass time / its primitives' time, median over the timed passes: what the work between the
        /// convolutions and matrix products adds, measured within each pass.
        var primitiveRatio: Double?

        /// Forgets the PyTorch side (when a later model's PyTorch run failed, no row keeps a partial comparison).
        mutating func clearTorch() {
            (torchMsPerImage, torchPeakRSSMB, torchSetting, ratio) = (nil, nil, nil, nil)
        }
    }

    public func validate() throws {
        guard repeats > 0, threads > 0 else { throw ValidationError("--repeats and --threads must be positive") }
        guard floorTime > 0 else { throw ValidationError("--floor-time must be positive") }
        guard !batchList.isEmpty, batchList.allSatisfy({ $0 > 0 }) else { throw ValidationError("--batches needs positive integers") }
        if let rounds, rounds < 1 { throw ValidationError("--rounds must be positive") }
        if let model {
            guard model.lowercased().hasSuffix(".onnx") else { throw ValidationError("--model takes an ONNX file (FILE.onnx), got '\(model)'") }
            if let builtIn, builtIn != "none" { _ = try ModelRegistry.architecture(builtIn) }
            if precisionOptions.precisions != [.fp32] {
                throw ValidationError("--precision with --model FILE.onnx: the ONNX bench times fp32 against onnxruntime's fp32")
            }
        } else {
            for name in modelList { _ = try ModelRegistry.architecture(name) }
            if onnx.isUsed { throw ValidationError("--input-size, --preprocess, --mean, --std and --labels apply with --model FILE.onnx only") }
        }
    }

    private var modelList: [String] { models.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
    private var batchList: [Int] { batches.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    public init() {}

    public func run() throws {
        Threading.setThreadCount(threads)
        if let model {
            try runONNX(model)
            return
        }
        let loadBefore = MachineLoad.average()
        // Swift and PyTorch alternate round by round; each round's ratio compares times taken minutes apart at
        // most, and the median over rounds is reported (this machine's speed drifts by up to 2× within minutes).
        // Model by model, each built once for its rounds, so that its peak memory counts no other model.
        var torchNote = noTorch ? "PyTorch skipped (--no-torch)" : ""
        var torchWorks = !noTorch
        var rows: [Row] = []
        for name in modelList {
            // The previous model is released by now; the activation buffers its passes left for reuse go too.
            TensorStorage.releaseReusableBuffers()
            let model = try ModelRegistry.randomModel(name, seed: 0)
            var swiftRounds: [[Row]] = []
            var torchRounds: [TorchBench.Combined] = []
            for _ in 0..<(rounds ?? 1) {
                swiftRounds.append(try measureSwift(name, model))
                guard torchWorks else { continue }
                do {
                    let torch = try TorchBench(python: python, script: try scriptURL(), threads: threads, repeats: repeats,
                                               models: [name], batches: batchList).run()
                    torchNote = "PyTorch \(torch.version), best of OMP_WAIT_POLICY unset / PASSIVE"
                    torchRounds.append(torch)
                } catch {
                    torchNote = "PyTorch not measured: \(error)"
                    torchWorks = false
                }
            }
            rows += Self.combined(swiftRounds, torch: torchWorks ? torchRounds : [])
        }
        if !torchWorks { for i in rows.indices { rows[i].clearTorch() } }
        if (rounds ?? 1) > 1 { torchNote += "; \(rounds ?? 1) alternating rounds, medians" }
        var reference: Double?
        if !noFloor { reference = try addFloors(to: &rows) }
        if json {
            struct Report: Encodable {
                var threads: Int
                var repeats: Int
                var torch: String
                var loadAverageBefore: Double?
                var referenceGEMMGFLOPS: Double?
                var blockedChains: Bool
                var rows: [Row]
            }
            try printJSON(Report(threads: threads, repeats: repeats, torch: torchNote, loadAverageBefore: loadBefore,
                                 referenceGEMMGFLOPS: reference, blockedChains: BlockedConvolutionChain.isEnabledByDefault,
                                 rows: rows))
        } else {
            print("fovex bench models: \(threads) threads, random weights, median of \(repeats), \(BlockedChainsNote.text); \(torchNote)")
            if let reference {
                print("machine's kernel rate: \(String(format: "%.1f", reference)) GFLOP/s (\(Self.referenceGEMM.label) forward, this run)")
            }
            if let warning = MachineLoad.warning(loadBefore) { print(warning) }
            printTable(rows)
        }
    }

    private func runONNX(_ path: String) throws {
        let classifier = try onnx.load(path)
        let builtInName = builtIn == "none" ? nil : builtIn ?? ONNXModelBench.builtInName(forFile: path)
        let report = try ONNXModelBench(file: path, onnx: classifier,
                                        builtIn: try builtInName.map { ($0, try ModelRegistry.randomModel($0, seed: 0)) },
                                        batches: batchList, repeats: repeats, rounds: rounds ?? 3, threads: threads,
                                        ortPython: noOnnxruntime ? nil : ortPython).run()
        if json {
            try printJSON(report)
        } else {
            ONNXModelBench.printTable(report)
        }
    }

    private func measureSwift(_ name: String, _ model: any ImageClassifier) throws -> [Row] {
        let progress = ProgressReporter(total: batchList.count * 2, label: "Swift \(name)", unit: .items("measurements"))
        let precisions = precisionOptions.precisions
        var rows: [Row] = []
        let size = model.preprocessing.inputSize
        for batch in batchList {
            var generator = SeededGenerator(seed: UInt64(batch))
            let input = Tensor(randomUniform: [batch, 3, size, size], in: 0...1, generator: &generator)
            func variants(_ body: @escaping () throws -> Void) -> [() throws -> Void] {
                precisions.map { p in { try ModelRegistry.setPrecision(p, of: model); try body() } }
            }
            let forward = try Self.measureInterleaved(repeats: repeats, variants { _ = withoutGradients { model.logits(input) } })
            progress.advance()
            let backward = try Self.measureInterleaved(repeats: repeats, variants { _ = try Self.topLogitGradient(model, input) })
            progress.advance()
            for (mode, ms) in [("forward", forward), ("forward+gradient", backward)] {
                let fp32 = precisions.firstIndex(of: .fp32).map { ms.runs[$0] }
                for (i, p) in precisions.enumerated() {
                    rows.append(Row(model: name, batch: batch, mode: mode, precision: p.rawValue,
                                    swiftMsPerImage: ms.seconds[i] * 1000 / Double(batch), swiftPeakRSSMB: ms.peakMB,
                                    target: mode == "forward" || p != .fp32 ? nil : Self.targets[name],
                                    bf16Speedup: p != .fp32 ? fp32.flatMap { medianOfRatios($0, over: ms.runs[i]) } : nil,
                                    primitiveMsPerImage: ms.primitiveSeconds[i] * 1000 / Double(batch),
                                    primitiveRatio: ms.primitiveRatio[i]))
                }
            }
        }
        progress.finish()
        return rows
    }

    /// One row per measurement from the rounds' rows (which list the same measurements in the same order): the
    /// medians over rounds of the times and of each round's Swift / PyTorch ratio. Swift's peak memory is the first
    /// round's, measured from the same state as a single round (later rounds start with the backward pass's packed
    /// weights already made); PyTorch's, whose rounds are separate processes, the largest.
    static func combined(_ rounds: [[Row]], torch: [TorchBench.Combined]) -> [Row] {
        rounds[0].indices.map { i in
            let all = rounds.map { $0[i] }
            var row = all[0]
            func medianOf(_ value: (Row) -> Double?) -> Double? { median(of: all.compactMap(value)) }
            row.swiftMsPerImage = medianOf { $0.swiftMsPerImage }!
            row.bf16Speedup = medianOf(\.bf16Speedup)
            row.primitiveMsPerImage = medianOf(\.primitiveMsPerImage)
            row.primitiveRatio = medianOf(\.primitiveRatio)
            let best = torch.map { $0.best(model: row.model, batch: row.batch, mode: row.mode) }
            let measured = zip(all, best).compactMap { swift, torch in torch.map { (swift, $0) } }
            if !measured.isEmpty {
                row.torchMsPerImage = median(of: measured.map(\.1.msPerImage))
                row.torchPeakRSSMB = measured.compactMap(\.1.peakRSSMB).max()
                // The setting that was fastest most often.
                let settings = measured.map(\.1.setting)
                row.torchSetting = settings.max { a, b in settings.filter { $0 == a }.count < settings.filter { $0 == b }.count }
                row.ratio = medianOfRatios(measured.map(\.0.swiftMsPerImage), over: measured.map(\.1.msPerImage))
            }
            return row
        }
    }

    /// Adds the GEMM floor to the batch-1 rows of the models ``GEMMFloor`` counts; returns the
    /// reference GEMM's GFLOP/s.
    private func addFloors(to rows: inout [Row]) throws -> Double {
        let counted = modelList.filter { GEMMFloor.layers(of: $0) != nil }
        let progress = ProgressReporter(total: counted.count + 1, label: "GEMM floor", unit: .items("models"))
        let reference = try KernelTiming.time(Self.referenceGEMM, minimumSeconds: 0.3).0
        progress.advance()
        let fp32 = Precision.fp32.rawValue
        for name in counted where rows.contains(where: { $0.model == name && $0.batch == 1 && $0.precision == fp32 }) {
            // The batch-1 fp32 passes again, alternating with the floor's kernels (GEMMFloor.measure). The model is
            // built again rather than kept from its timed rounds: the floors run after every model's rounds, because
            // the heap a floor leaves behind showed in the next model's peak memory (ViT-B/16 899 MB against
            // 694–725 MB).
            let model = try ModelRegistry.randomModel(name, seed: 0)
            try ModelRegistry.setPrecision(.fp32, of: model)
            let size = model.preprocessing.inputSize
            var generator = SeededGenerator(seed: 1)
            let input = Tensor(randomUniform: [1, 3, size, size], in: 0...1, generator: &generator)
            let floor = try GEMMFloor.measure(model: name, layers: GEMMFloor.layers(of: name)!, rounds: repeats,
                                              minimumSeconds: floorTime,
                                              forwardPass: { _ = withoutGradients { model.logits(input) } },
                                              gradientPass: { _ = try Self.topLogitGradient(model, input) })
            progress.advance()
            for i in rows.indices where rows[i].model == name && rows[i].batch == 1 && rows[i].precision == fp32 {
                let forward = rows[i].mode == "forward"
                rows[i].gemmGFLOP = forward ? floor.forwardGFLOP : floor.gradientGFLOP
                rows[i].floorMsPerImage = forward ? floor.forwardMilliseconds : floor.gradientMilliseconds
                rows[i].floorRatio = forward ? floor.forwardRatio : floor.gradientRatio
            }
        }
        progress.finish()
        return Self.referenceGEMM.flops / reference.milliseconds / 1e6
    }

    /// Median wall time of each variant over `repeats` rounds, the variants alternating within each round (so
    /// their ratio sees the same machine load), after one warm-up round; the peak resident memory; and per
    /// variant the medians of each pass's time in oneDNN primitives and of its ratio pass / primitives; and every
    /// timed run's seconds, per variant in round order (for ``medianOfRatios(_:over:)``).
    static func measureInterleaved(repeats: Int, _ variants: [() throws -> Void]) throws
        -> (seconds: [Double], peakMB: Double?, primitiveSeconds: [Double], primitiveRatio: [Double?], runs: [[Double]]) {
        for body in variants { try body() }
        PeakMemory.reset()
        var times = Array(repeating: [Double](), count: variants.count)
        var inPrimitives = times
        for _ in 0..<repeats {
            for (i, body) in variants.enumerated() {
                let start = DispatchTime.now().uptimeNanoseconds
                let (_, primitives) = try PrimitiveClock.measuring(body)
                times[i].append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                inPrimitives[i].append(primitives)
            }
        }
        let ratios = zip(times, inPrimitives).map { passes, primitives in
            median(of: zip(passes, primitives).compactMap { $1 > 0 ? $0 / $1 : nil })
        }
        return (times.map { median(of: $0)! }, PeakMemory.residentMB(), inPrimitives.map { median(of: $0)! }, ratios, times)
    }

    /// The gradient of Σₙ logits[n, argmax logits[n]] with respect to the input: the work an explainer does per step.
    static func topLogitGradient(_ model: any ImageClassifier, _ input: Tensor) throws -> Tensor {
        let x = input.requiringGradient()
        let logits = model.logits(x)
        let classes = logits.shape[1]
        var mask = [Float](repeating: 0, count: logits.count)
        for (n, c) in logits.argmax(alongAxis: 1).enumerated() { mask[n * classes + c] = 1 }
        let objective = (logits * Tensor(shape: logits.shape, scalars: mask)).sum()
        return try gradients(of: objective, withRespectTo: [x])[0]
    }

    private func scriptURL() throws -> URL {
        if let torchScript { return URL(fileURLWithPath: torchScript) }
        let candidates = [
            URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("tools/bench_torch_models.py"),
            // The package this binary was built from, when run from elsewhere.
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("tools/bench_torch_models.py"),
        ]
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path) }) else {
            throw ValidationError("tools/bench_torch_models.py not found; pass --torch-script PATH")
        }
        return found
    }

    private func printTable(_ rows: [Row]) {
        func f(_ v: Double?, _ format: String) -> String { v.map { String(format: format, $0) } ?? "-" }
        let header = ["model", "batch", "mode", "precision", "Swift ms/img", "PyTorch ms/img", "ratio", "target", "bf16 ×",
                      "GEMM GFLOP", "floor ms", "/ floor", "oneDNN ms", "/ oneDNN", "Swift MB", "PyTorch MB", "PyTorch setting"]
        let lines = [header] + rows.map { r in
            [r.model, "\(r.batch)", r.mode, r.precision, f(r.swiftMsPerImage, "%.1f"), f(r.torchMsPerImage, "%.1f"),
             f(r.ratio, "%.2f"), r.target.map { "≤ " + String(format: "%.2f", $0) } ?? "", f(r.bf16Speedup, "%.2f"),
             f(r.gemmGFLOP, "%.2f"), f(r.floorMsPerImage, "%.1f"),
             r.floorRatio.map { String(format: "%.2f (≤ %.1f)", $0, Self.floorTarget) } ?? "-",
             f(r.primitiveMsPerImage, "%.1f"), f(r.primitiveRatio, "%.2f"),
             f(r.swiftPeakRSSMB, "%.0f"), f(r.torchPeakRSSMB, "%.0f"), r.torchSetting ?? ""]
        }
        let widths = header.indices.map { c in lines.map { $0[c].count }.max() ?? 0 }
        for line in lines {
            print(line.indices.map { c in
                c == line.count - 1 ? line[c]
                    : c == 0 || c == 2 || c == 3 ? line[c].padding(toLength: widths[c], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[c] - line[c].count) + line[c]
            }.joined(separator: "  "))
        }
    }
}

/// The process's peak resident memory (Linux `VmHWM`), resettable through `/proc/self/clear_refs`.
enum PeakMemory {
    static func reset() {
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    }

    static func residentMB() -> Double? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kB = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else { return nil }
        return kB / 1024
    }
}

/// Runs tools/bench_torch_models.py once per OpenMP wait policy and keeps the best time per row.
struct TorchBench {
    var python: String
    var script: URL
    var threads: Int
    var repeats: Int
    var models: [String]
    var batches: [Int]

    struct Result: Decodable {
        struct Row: Decodable {
            var model: String
            var batch: Int
            var mode: String
            var setting: String
            var msPerImage: Double
            var peakRSSMB: Double?

            enum CodingKeys: String, CodingKey {
                case model, batch, mode, setting, msPerImage = "ms_per_image", peakRSSMB = "peak_rss_mb"
            }
        }

        var torch: String
        var rows: [Row]
    }

    struct Combined {
        var version: String
        var rows: [Result.Row]

        func best(model: String, batch: Int, mode: String) -> Result.Row? {
            rows.filter { $0.model == model && $0.batch == batch && $0.mode == mode }.min { $0.msPerImage < $1.msPerImage }
        }
    }

    func run() throws -> Combined {
        let arguments = ["--models", models.joined(separator: ","), "--batches", batches.map(String.init).joined(separator: ","),
                         "--repeats", "\(repeats)", "--threads", "\(threads)"]
        var version = ""
        var rows: [Result.Row] = []
        for run in try PythonReference.runPerWaitPolicy(script, arguments: arguments, threads: threads, interpreter: python) {
            let result: Result
            do {
                result = try JSONDecoder().decode(Result.self, from: run.stdout)
            } catch {
                throw ValidationError("\(script.lastPathComponent) printed no valid result: \(error)")
            }
            version = result.torch
            rows += result.rows.map { row in
                var r = row
                r.setting = "OMP_WAIT_POLICY=\(run.waitPolicy), \(row.setting)"
                return r
            }
        }
        return Combined(version: version, rows: rows)
    }
}
