import ArgumentParser
import Foundation
import FovExCommandLine
import FovExModels
import FovExONNX
import FovExTensor
import FovExTerminal

/// `fovex bench models --model FILE.onnx`: the ONNX model's forward and forward + input-gradient time, next to the
/// built-in model of the same architecture and onnxruntime's CPU forward pass, measured in interleaved rounds.
struct ONNXModelBench {
    var file: String
    var onnx: ONNXClassifier
    /// The built-in architecture to compare with, and the model (random weights; timing does not depend on them).
    var builtIn: (name: String, model: any ImageClassifier)?
    var batches: [Int]
    var repeats: Int
    var rounds: Int
    var threads: Int
    /// The Python that has onnxruntime, or nil to skip it.
    var ortPython: String?

    /// The ONNX-to-reference ratios the project aims for: forward + gradient within 1.1× the built-in model's,
    /// forward at least as fast as onnxruntime's.
    static let builtInTarget = 1.1
    static let onnxruntimeTarget = 1.0

    struct Row: Codable {
        var batch: Int
        var mode: String
        var onnxMsPerImage: Double
        var builtInMsPerImage: Double?
        var builtInRatio: Double?
        var builtInTarget: Double?
        var onnxruntimeMsPerImage: Double?
        var onnxruntimeRatio: Double?
        var onnxruntimeTarget: Double?
    }

    struct Report: Encodable {
        var file: String
        var builtIn: String?
        var threads: Int
        var repeats: Int
        var rounds: Int
        var onnxruntime: String
        var loadAverageBefore: Double?
        var rows: [Row]
    }

    /// The built-in architecture a file's name points to (`resnet50.onnx`, `vit_b_16.onnx`,
    /// `efficientnet-lite0.onnx`…), or nil.
    static func builtInName(forFile path: String) -> String? {
        let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent.lowercased()
            .filter { $0.isLetter || $0.isNumber }
        let known: [(pattern: String, model: String)] = [
            ("resnet18", "resnet18"), ("resnet34", "resnet34"), ("resnet50", "resnet50"), ("resnet101", "resnet101"),
            ("resnet152", "resnet152"), ("vitti16", "vit-ti16"), ("vits16", "vit-s16"), ("vitb16", "vit-b16"),
            ("vitl16", "vit-l16"), ("efficientnetlite0", "efficientnet-lite0"),
        ]
        // resnet152 contains resnet15…, resnet101 contains resnet10…: the longest match wins.
        return known.filter { name.contains($0.pattern) }.max { $0.pattern.count < $1.pattern.count }?.model
    }

    func run() throws -> Report {
        let loadBefore = MachineLoad.average()
        let size = onnx.preprocessing.inputSize
        // Per measurement, its time in each round (by round index).
        var samples: [String: [Int: Double]] = [:]
        func key(_ who: String, _ batch: Int, _ mode: String) -> String { "\(who) \(batch) \(mode)" }
        let ortAvailable = ortPython.map(Self.onnxruntimeImports) ?? false
        var ortNote = ortPython == nil ? "onnxruntime skipped (--no-onnxruntime)"
            : ortAvailable ? "" : "onnxruntime not measured: `\(ortPython!) -c 'import onnxruntime'` fails"
        let perRound = batches.count * (builtIn == nil ? 2 : 4) + (ortAvailable ? 1 : 0)
        let progress = ProgressReporter(total: rounds * perRound, label: "ONNX", unit: .items("measurements"))
        func time(_ who: String, _ model: any ImageClassifier, _ x: Tensor, _ batch: Int, round: Int) throws {
            let forward = try BenchModels.measureInterleaved(repeats: repeats, [{ _ = withoutGradients { model.logits(x) } }])
            samples[key(who, batch, "forward"), default: [:]][round] = forward.seconds[0] * 1000 / Double(batch)
            progress.advance()
            let gradient = try BenchModels.measureInterleaved(repeats: repeats, [{ _ = try BenchModels.topLogitGradient(model, x) }])
            samples[key(who, batch, "forward+gradient"), default: [:]][round] = gradient.seconds[0] * 1000 / Double(batch)
            progress.advance()
        }

        for round in 0..<rounds {
            // Rounds alternate who goes first, so that a neighbour's burst of load does not always hit one side.
            for batch in batches {
                var generator = SeededGenerator(seed: UInt64(batch))
                let input = Tensor(randomUniform: [batch, 3, size, size], in: 0...1, generator: &generator)
                var contenders: [(String, any ImageClassifier)] = [("onnx", onnx)]
                if let builtIn {
                    let own = builtIn.model.preprocessing.inputSize
                    var g = SeededGenerator(seed: UInt64(batch))
                    let builtInInput = own == size ? input : Tensor(randomUniform: [batch, 3, own, own], in: 0...1, generator: &g)
                    contenders.append(("builtin", builtIn.model))
                    if round % 2 == 1 { contenders.reverse() }
                    for (who, model) in contenders {
                        let x = who == "onnx" ? input : builtInInput
                        try time(who, model, x, batch, round: round)
                    }
                } else {
                    try time("onnx", onnx, input, batch, round: round)
                }
            }
            if ortAvailable {
                do {
                    let result = try onnxruntimeRun(size: size)
                    for row in result.rows {
                        samples[key("ort", row.batch, row.mode), default: [:]][round] = row.msPerImage
                    }
                    ortNote = "onnxruntime \(result.onnxruntime), CPU, \(threads) intra-op threads"
                } catch {
                    ortNote = "onnxruntime not measured: \(error)"
                }
                progress.advance()
            }
        }
        progress.finish()

        var rows: [Row] = []
        for batch in batches {
            for mode in ["forward", "forward+gradient"] {
                // Times: the median of the rounds' medians, which one slow round (a neighbour's burst) does not
                // move. Ratios: the median of each round's ratio, whose two sides were timed moments apart, so
                // that the machine's drift from round to round (up to 2× within minutes here) cancels.
                let own = samples[key("onnx", batch, mode)] ?? [:]
                guard let mine = median(of: Array(own.values)) else { continue }
                func roundRatio(_ other: [Int: Double]) -> Double? {
                    median(of: own.compactMap { r, t in other[r].map { t / $0 } })
                }
                var row = Row(batch: batch, mode: mode, onnxMsPerImage: mine)
                if let other = samples[key("builtin", batch, mode)], let time = median(of: Array(other.values)) {
                    row.builtInMsPerImage = time
                    row.builtInRatio = roundRatio(other)
                    row.builtInTarget = mode == "forward+gradient" ? Self.builtInTarget : nil
                }
                if let other = samples[key("ort", batch, mode)], let time = median(of: Array(other.values)) {
                    row.onnxruntimeMsPerImage = time
                    row.onnxruntimeRatio = roundRatio(other)
                    row.onnxruntimeTarget = Self.onnxruntimeTarget
                }
                rows.append(row)
            }
        }
        return Report(file: file, builtIn: builtIn?.name, threads: threads, repeats: repeats, rounds: rounds,
                      onnxruntime: ortNote, loadAverageBefore: loadBefore, rows: rows)
    }

    private struct ORTResult: Decodable {
        struct Row: Decodable {
            var batch: Int
            var mode: String
            var msPerImage: Double
            enum CodingKeys: String, CodingKey { case batch, mode, msPerImage = "ms_per_image" }
        }
        var onnxruntime: String
        var rows: [Row]
    }

    static func onnxruntimeImports(_ python: String) -> Bool {
        (try? PythonReference.run(arguments: [python, "-c", "import onnxruntime, numpy"], environment: [:], quiet: true,
                                  interpreter: "/usr/bin/env"))?.status == 0
    }

    /// One run of tools/bench_onnxruntime.py over every batch size.
    private func onnxruntimeRun(size: Int) throws -> ORTResult {
        guard let script = PythonReference.script("bench_onnxruntime.py") else {
            throw PythonReferenceError(description: "tools/bench_onnxruntime.py not found (run from the package's folder)")
        }
        let arguments = [ortPython!, script.path, "--model", file, "--size", "\(size)",
                         "--batches", batches.map(String.init).joined(separator: ","), "--repeats", "\(repeats)",
                         "--threads", "\(threads)"]
        let environment = ["OMP_NUM_THREADS": "\(threads)", "OPENBLAS_NUM_THREADS": "\(threads)"]
        let result = try PythonReference.run(arguments: arguments, environment: environment, interpreter: "/usr/bin/env")
        guard result.status == 0 else {
            throw PythonReferenceError(description: "bench_onnxruntime.py exited with status \(result.status)"
                                           + (result.errorTail.isEmpty ? "" : ": \(result.errorTail)"))
        }
        do {
            return try JSONDecoder().decode(ORTResult.self, from: result.stdout)
        } catch {
            throw PythonReferenceError(description: "bench_onnxruntime.py printed no valid result: \(error)")
        }
    }

    static func printTable(_ report: Report) {
        print("fovex bench models --model \(report.file): \(report.threads) threads, times: median over \(report.rounds) "
              + "interleaved rounds of the median of \(report.repeats), ratios: median of each round's ratio; built-in "
              + "\(report.builtIn ?? "none") with random weights, \(BlockedChainsNote.text); " + report.onnxruntime)
        if let warning = MachineLoad.warning(report.loadAverageBefore) { print(warning) }
        func f(_ v: Double?, _ format: String) -> String { v.map { String(format: format, $0) } ?? "-" }
        var table = TextTable(header: ["batch", "mode", "ONNX ms/img", "built-in ms/img", "ONNX/built-in", "target",
                                       "onnxruntime ms/img", "ONNX/onnxruntime", "target"])
        table.leftAligned = [1]
        for r in report.rows {
            table.rows.append(["\(r.batch)", r.mode, f(r.onnxMsPerImage, "%.1f"), f(r.builtInMsPerImage, "%.1f"),
                               f(r.builtInRatio, "%.2f"), r.builtInTarget.map { "≤ " + String(format: "%.2f", $0) } ?? "",
                               f(r.onnxruntimeMsPerImage, "%.1f"), f(r.onnxruntimeRatio, "%.2f"),
                               r.onnxruntimeTarget.map { "≤ " + String(format: "%.2f", $0) } ?? ""])
        }
        print(table.render())
    }
}
