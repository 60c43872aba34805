import ArgumentParser
import Foundation
import FovExTensor

/// One benchmarked kernel: a batch-1 convolution, a linear layer, a batched matmul, or one of the element-wise
/// and row-wise operations between them. Encoded as JSON for tools/bench_torch_kernels.py, so both sides time
/// exactly the same shapes.
struct KernelShape: Codable {
    enum Kind: String, Codable { case conv, linear, matmul, elementwise }
    /// The operations of kind `elementwise`, all over the last axis of a [rows, inFeatures] tensor.
    enum Operation: String, Codable {
        /// Exact (erf) GELU, as ViT-B/16's MLP applies it.
        case gelu
        /// Softmax over the last axis, as attention applies it.
        case softmax
        /// LayerNorm over the last axis with an affine weight and bias (ε = 1e-6).
        case layerNorm = "layer_norm"
    }
    var key: String
    var label: String
    var kind: Kind
    var channels = 0, height = 0, width = 0, outChannels = 0, kernel = 0, stride = 1, padding = 0, groups = 1
    var rows = 0, inFeatures = 0, outFeatures = 0
    /// Independent products of a batched matmul (attention heads).
    var batch = 1
    /// What an `elementwise` shape computes.
    var operation: Operation?

    static func conv(_ key: String, _ label: String, c: Int, size: Int, o: Int, k: Int, stride: Int = 1, pad: Int,
                     groups: Int = 1) -> KernelShape {
        KernelShape(key: key, label: label, kind: .conv, channels: c, height: size, width: size, outChannels: o,
                    kernel: k, stride: stride, padding: pad, groups: groups)
    }

    static func linear(_ key: String, rows: Int, in inF: Int, out outF: Int) -> KernelShape {
        KernelShape(key: key, label: "linear \(rows)×\(inF)·\(inF)×\(outF)", kind: .linear, rows: rows,
                    inFeatures: inF, outFeatures: outF)
    }

    /// `batch` products [m, k]·[k, n] of two activations (attention's Q·Kᵀ and P·V).
    static func matmul(_ key: String, batch: Int, m: Int, k: Int, n: Int) -> KernelShape {
        KernelShape(key: key, label: "matmul \(batch)× \(m)×\(k)·\(k)×\(n)", kind: .matmul, rows: m, inFeatures: k,
                    outFeatures: n, batch: batch)
    }

    /// `operation` over `rows` rows of `length` elements.
    static func elementwise(_ key: String, _ operation: Operation, rows: Int, length: Int) -> KernelShape {
        KernelShape(key: key, label: "\(operation.rawValue) \(rows)×\(length)", kind: .elementwise, rows: rows,
                    inFeatures: length, operation: operation)
    }

    /// The shapes of ResNet-50's and ViT-B/16's heaviest layers (and a strided 3×3), a MobileNet-style depthwise
    /// conv, and the element-wise work of a ViT-B/16 block (its MLP's GELU, its 12 heads' attention softmax, a
    /// LayerNorm).
    static let all: [KernelShape] = [
        .conv("conv3x3_64_56", "3×3 conv 64→64 @56²", c: 64, size: 56, o: 64, k: 3, pad: 1),
        .conv("conv1x1_256_64_56", "1×1 conv 256→64 @56²", c: 256, size: 56, o: 64, k: 1, pad: 0),
        .conv("conv3x3_256_14", "3×3 conv 256→256 @14²", c: 256, size: 14, o: 256, k: 3, pad: 1),
        // A strided 3×3 (ResNet-50's layer2.0.conv2): its input gradient is oneDNN's backward-data kernel, which
        // the stride-1 ones no longer use.
        .conv("conv3x3s2_128_56", "3×3/2 conv 128→128 @56²", c: 128, size: 56, o: 128, k: 3, stride: 2, pad: 1),
        .conv("stem7x7s2", "7×7/2 conv 3→64 @224²", c: 3, size: 224, o: 64, k: 7, stride: 2, pad: 3),
        .conv("dw3x3_32_112", "depthwise 3×3 32ch @112²", c: 32, size: 112, o: 32, k: 3, pad: 1, groups: 32),
        .linear("linear_768_2304", rows: 197, in: 768, out: 2304),
        .linear("linear_768_3072", rows: 197, in: 768, out: 3072),
        .linear("linear_3072_768", rows: 197, in: 3072, out: 768),
        .elementwise("gelu_197_3072", .gelu, rows: 197, length: 3072),
        .elementwise("softmax_2364_197", .softmax, rows: 12 * 197, length: 197),
        .elementwise("layer_norm_197_768", .layerNorm, rows: 197, length: 768),
    ]

    var outputSize: Int { (height + 2 * padding - kernel) / stride + 1 }

    /// Multiply-adds × 2 of one forward pass (backward-data costs the same); 0 for element-wise work, which
    /// is timed, not counted.
    var flops: Double {
        switch kind {
        case .elementwise:
            return 0
        case .conv:
            return 2 * Double(outChannels * outputSize * outputSize) * Double(channels / groups * kernel * kernel)
        case .linear, .matmul:
            return 2 * Double(batch) * Double(rows) * Double(inFeatures) * Double(outFeatures)
        }
    }
}

/// PyTorch's best time for one shape and direction, over the wait policies and layouts tried.
struct TorchTiming: Codable {
    var milliseconds: Double
    var runs: Int
    var otherLoad: Double?
    /// Memory format that was fastest (convolutions are tried in NCHW and channels-last).
    var layout: String
    /// `OMP_WAIT_POLICY` of the fastest run ("default" or "PASSIVE").
    var waitPolicy: String
}

struct KernelResult: Codable {
    var key: String
    var label: String
    var direction: String
    var gflop: Double
    var swift: Timing
    /// Nil for element-wise work.
    var swiftGFLOPS: Double?
    var torch: TorchTiming?
    var torchGFLOPS: Double?
    /// PyTorch time / Swift time: above 1 means this library is faster.
    var ratio: Double?
}

struct KernelReport: Codable {
    var threads: Int
    var torchVersion: String?
    var results: [KernelResult]
}

/// `fovex bench kernels`: convolution and matmul throughput, forward and backward-data, and the time of the
/// element-wise work between them, against PyTorch.
public struct BenchKernels: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "Time convolution, matmul and element-wise kernels (forward and backward-data) against PyTorch.",
        discussion: """
            Batch 1, Float32. Each kernel is warmed up, then repeated for at least --min-time seconds; the \
            median counts. Backward-data is the input gradient through the autodiff API (weights are \
            constants). The element-wise kernels are ViT-B/16's per block: the exact GELU of its MLP, the \
            softmax of its 12 heads' attention rows and a LayerNorm; they have no GFLOP/s, only times. When \
            /usr/bin/python3 can import torch, tools/bench_torch_kernels.py times the same shapes in PyTorch, \
            once with OMP_WAIT_POLICY unset and once with PASSIVE (OPENBLAS_NUM_THREADS set to the thread \
            count), and the faster counts. "other CPU" is the CPU other processes used \
            meanwhile, in cores: on a shared 2-core machine, numbers with a load near 1 are not meaningful.
            """)

    @Flag(help: "Print JSON instead of a table.") var json = false
    @Option(help: "Threads for both libraries (default: FOVEX_THREADS or 2).") var threads: Int?
    @Flag(help: "Skip the PyTorch comparison.") var noTorch = false
    @Option(help: "Seconds of timed repetitions per kernel and direction.") var minTime = 0.5

    public func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if !(minTime > 0) { throw ValidationError("--min-time must be positive") }
    }

    public init() {}

    public func run() throws {
        let n = threads ?? Threading.threadCount
        Threading.setThreadCount(n)
        var results: [KernelResult] = []
        for shape in KernelShape.all {
            log("timing \(shape.label) in Swift")
            let (fwd, bwd) = try KernelTiming.time(shape, minimumSeconds: minTime)
            for (direction, t) in [("forward", fwd), ("backward-data", bwd)] {
                results.append(KernelResult(key: shape.key, label: shape.label, direction: direction,
                                            gflop: shape.flops / 1e9, swift: t,
                                            swiftGFLOPS: shape.flops > 0 ? shape.flops / t.milliseconds / 1e6 : nil))
            }
        }
        var torchVersion: String?
        if !noTorch {
            if let (version, timings) = try torchTimings(threads: n) {
                torchVersion = version
                for i in results.indices {
                    guard let t = timings[results[i].key + "/" + results[i].direction] else { continue }
                    results[i].torch = t
                    results[i].torchGFLOPS = results[i].gflop > 0 ? results[i].gflop * 1e3 / t.milliseconds : nil
                    results[i].ratio = t.milliseconds / results[i].swift.milliseconds
                }
            }
        }
        let report = KernelReport(threads: n, torchVersion: torchVersion, results: results)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(table(report))
        }
    }

    /// PyTorch's best time per "key/direction" over both wait policies, or nil when PyTorch or the
    /// script is unavailable (with a note on stderr).
    private func torchTimings(threads n: Int) throws -> (String, [String: TorchTiming])? {
        guard PythonReference.torchAvailable else {
            log("PyTorch not importable by \(PythonReference.python): no comparison")
            return nil
        }
        guard let script = PythonReference.script("bench_torch_kernels.py") else {
            log("tools/bench_torch_kernels.py not found (run from the package root): no comparison")
            return nil
        }
        let shapes = String(decoding: try JSONEncoder().encode(KernelShape.all), as: UTF8.self)
        var version = ""
        var best: [String: TorchTiming] = [:]
        log("timing PyTorch, OMP_WAIT_POLICY unset and PASSIVE")
        let arguments = ["--threads", String(n), "--shapes", shapes, "--min-time", String(minTime)]
        for policyRun in try PythonReference.runPerWaitPolicy(script, arguments: arguments, threads: n) {
            let run = try JSONDecoder().decode(TorchRun.self, from: policyRun.stdout)
            version = run.torch
            for r in run.results {
                let t = TorchTiming(milliseconds: r.ms, runs: r.runs, otherLoad: r.other_load, layout: r.layout,
                                    waitPolicy: run.omp_wait_policy)
                let key = r.key + "/" + r.direction
                if best[key].map({ t.milliseconds < $0.milliseconds }) ?? true { best[key] = t }
            }
        }
        return (version, best)
    }

    private func table(_ report: KernelReport) -> String {
        var t = TextTable(header: ["kernel", "pass", "Swift ms", "GFLOP/s", "PyTorch ms", "GFLOP/s", "ratio",
                                   "PyTorch setting", "other CPU"])
        func f(_ v: Double?, _ digits: Int) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "–" }
        for r in report.results {
            let setting = r.torch.map { "\($0.layout), \($0.waitPolicy)" } ?? "–"
            let load = [r.swift.otherLoad, r.torch?.otherLoad].compactMap { $0 }.max()
            t.rows.append([r.label, r.direction == "forward" ? "fwd" : "bwd-data", f(r.swift.milliseconds, 3),
                           f(r.swiftGFLOPS, 1), f(r.torch?.milliseconds, 3), f(r.torchGFLOPS, 1),
                           r.ratio.map { String(format: "%.2f×", $0) } ?? "–", setting, f(load, 2)])
        }
        var text = "threads: \(report.threads)" + (report.torchVersion.map { ", PyTorch \($0)" } ?? "") + "\n"
        text += t.render()
        text += "\nratio = PyTorch time / Swift time (above 1: Swift is faster); "
            + "other CPU = cores used by other processes while timing"
        return text
    }

    private func log(_ message: String) {
        FileHandle.standardError.write(Data(("fovex bench kernels: " + message + "\n").utf8))
    }
}

/// The JSON printed by tools/bench_torch_kernels.py.
private struct TorchRun: Decodable {
    struct Result: Decodable {
        var key: String, direction: String, ms: Double, runs: Int, layout: String
        var other_load: Double?
    }
    var torch: String
    var omp_wait_policy: String
    var results: [Result]
}

/// The timing code `fovex bench kernels` and the GEMM floor of `fovex bench models` share, so that
/// the floor is measured at exactly the kernels' rate.
enum KernelTiming {
    /// Median forward and backward-data times of one shape.
    static func time(_ s: KernelShape, minimumSeconds minTime: Double) throws -> (Timing, Timing) {
        let run = try runners(s)
        return (try measure(minimumSeconds: minTime, run.forward), try measure(minimumSeconds: minTime, run.backward))
    }

    /// One forward and one backward-data call of a shape, on inputs built once (the backward pass reuses one
    /// recorded forward).
    static func runners(_ s: KernelShape) throws -> (forward: () throws -> Void, backward: () throws -> Void) {
        var g = SeededGenerator(seed: 1)
        switch s.kind {
        case .conv:
            let ipg = s.channels / s.groups
            let w = Tensor(randomNormal: [s.outChannels, ipg, s.kernel, s.kernel],
                           standardDeviation: 1 / Float(ipg * s.kernel * s.kernel).squareRoot(), generator: &g)
            var x = Tensor(randomNormal: [1, s.channels, s.height, s.width], generator: &g)
            // Inside a network activations arrive channels-last from the previous conv; only the
            // stem sees a plain NCHW image, and its conversion is part of its cost.
            if s.channels > 3 { x = x.channelsLast() }
            let conv = { (t: Tensor) in
                t.conv2d(weight: w, stride: s.stride, padding: .symmetric(s.padding), groups: s.groups)
            }
            let xt = x.requiringGradient()
            let y = conv(xt)
            let seed = Tensor(randomNormal: y.shape, generator: &g).channelsLast()
            return ({ _ = withoutGradients { conv(x) } },
                    { _ = try gradients(of: y, withRespectTo: [xt], seed: seed, retainGraph: true) })
        case .linear:
            let w = Tensor(randomNormal: [s.outFeatures, s.inFeatures],
                           standardDeviation: 1 / Float(s.inFeatures).squareRoot(), generator: &g)
            let b = Tensor(randomNormal: [s.outFeatures], generator: &g)
            let x = Tensor(randomNormal: [s.rows, s.inFeatures], generator: &g)
            let xt = x.requiringGradient()
            let y = xt.linear(weight: w, bias: b)
            let seed = Tensor(randomNormal: y.shape, generator: &g)
            return ({ _ = withoutGradients { x.linear(weight: w, bias: b) } },
                    { _ = try gradients(of: y, withRespectTo: [xt], seed: seed, retainGraph: true) })
        case .matmul:
            // Contiguous operands; backward-data returns both operands' gradients (both are activations).
            let a = Tensor(randomNormal: [s.batch, s.rows, s.inFeatures], generator: &g)
            let b = Tensor(randomNormal: [s.batch, s.inFeatures, s.outFeatures], generator: &g)
            let (at, bt) = (a.requiringGradient(), b.requiringGradient())
            let y = at.matmul(bt)
            let seed = Tensor(randomNormal: y.shape, generator: &g)
            return ({ _ = withoutGradients { a.matmul(b) } },
                    { _ = try gradients(of: y, withRespectTo: [at, bt], seed: seed, retainGraph: true) })
        case .elementwise:
            let x = Tensor(randomNormal: [s.rows, s.inFeatures], standardDeviation: 2, generator: &g)
            let weight = Tensor(randomNormal: [s.inFeatures], generator: &g)
            let bias = Tensor(randomNormal: [s.inFeatures], generator: &g)
            let op: (Tensor) -> Tensor
            switch s.operation {
            case .gelu?: op = { $0.gelu() }
            case .softmax?: op = { $0.softmax() }
            case .layerNorm?: op = { $0.layerNorm(weight: weight, bias: bias, epsilon: 1e-6) }
            case nil: preconditionFailure("an elementwise kernel shape without an operation")
            }
            let xt = x.requiringGradient()
            let y = op(xt)
            let seed = Tensor(randomNormal: y.shape, generator: &g)
            return ({ _ = withoutGradients { op(x) } },
                    { _ = try gradients(of: y, withRespectTo: [xt], seed: seed, retainGraph: true) })
        }
    }
}
