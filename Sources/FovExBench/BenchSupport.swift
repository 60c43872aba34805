import FovExTensor
import Foundation
import FovExTerminal

// Timing, machine-load and PyTorch-launching helpers shared by the `fovex bench` commands.

/// The median wall time of repeated runs of one operation.
struct Timing: Codable {
    /// Median milliseconds per run.
    var milliseconds: Double
    /// Timed runs (after warm-up).
    var runs: Int
    /// CPU used by other processes while timing, in cores (0 on an idle machine; 1 means a whole
    /// core was busy elsewhere). `nil` where /proc is not available.
    var otherLoad: Double?
}

/// Warms `body` up (at least `warmUpCalls` calls and `warmUpSeconds`), then runs it until at least
/// `minimumSeconds` and `minimumRuns` runs have passed, and reports the median: robust against the occasional
/// run slowed by another process.
func measure(minimumSeconds: Double, warmUpCalls: Int = 2, warmUpSeconds: Double = 0.1, minimumRuns: Int = 5,
             _ body: () throws -> Void) rethrows -> Timing {
    let warmupEnd = DispatchTime.now().uptimeNanoseconds + UInt64(warmUpSeconds * 1e9)
    var warm = 0
    while warm < warmUpCalls || DispatchTime.now().uptimeNanoseconds < warmupEnd {
        try body()
        warm += 1
    }
    let probe = LoadProbe()
    var samples: [Double] = []
    let start = DispatchTime.now().uptimeNanoseconds
    repeat {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try body()
        samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
    } while samples.count < minimumRuns || Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 < minimumSeconds
    return Timing(milliseconds: median(of: samples)!, runs: samples.count, otherLoad: probe?.otherLoad())
}

/// The median of `values` (the mean of the two middle ones for an even count), nil when there are none.
func median(of values: [Double]) -> Double? {
    guard !values.isEmpty else { return nil }
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// The median over rounds of each round's `numerators[r] / denominators[r]`: the two times of a round are taken
/// moments apart, so a phase in which the machine runs slow tilts one round, not the result (unlike the ratio of
/// the two medians).
func medianOfRatios(_ numerators: [Double], over denominators: [Double]) -> Double? {
    median(of: zip(numerators, denominators).compactMap { $1 > 0 ? $0 / $1 : nil })
}

/// Measures how much CPU other processes use between its creation and `otherLoad()`: the
/// machine's busy time from /proc/stat minus this process's own time from /proc/self/stat.
/// Two-core machines are often shared, and one busy neighbour halves a two-thread kernel's speed,
/// so every benchmark number carries this figure.
struct LoadProbe {
    private let machineBusy: Double, ownBusy: Double, start: UInt64
    private static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    init?() {
        guard let m = LoadProbe.machineBusySeconds(), let o = LoadProbe.ownBusySeconds() else { return nil }
        (machineBusy, ownBusy, start) = (m, o, DispatchTime.now().uptimeNanoseconds)
    }

    /// Cores' worth of CPU time other processes used since `init`.
    func otherLoad() -> Double? {
        guard let m = LoadProbe.machineBusySeconds(), let o = LoadProbe.ownBusySeconds() else { return nil }
        let wall = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        guard wall > 0 else { return nil }
        return Swift.max(0, ((m - machineBusy) - (o - ownBusy)) / wall)
    }

    /// Non-idle CPU seconds of the whole machine (the `cpu` line of /proc/stat, without idle and iowait).
    private static func machineBusySeconds() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = text.split(separator: "\n").first, line.hasPrefix("cpu ") else { return nil }
        let fields = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard fields.count >= 5 else { return nil }
        return (fields.reduce(0, +) - fields[3] - fields[4]) / ticksPerSecond
    }

    /// User + system CPU seconds of this process, children included once they are reaped.
    private static func ownBusySeconds() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // Fields after the command name; utime, stime, cutime, cstime are fields 14–17 of the file.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 15, let u = Double(fields[11]), let s = Double(fields[12]),
              let cu = Double(fields[13]), let cs = Double(fields[14]) else { return nil }
        return (u + s + cu + cs) / ticksPerSecond
    }
}

/// Runs the PyTorch reference scripts under `tools/` with the system Python, where PyTorch is installed.
enum PythonReference {
    static let python = "/usr/bin/python3"

    /// Whether `python3 -c 'import torch'` succeeds.
    static var torchAvailable: Bool {
        (try? run(arguments: ["-c", "import torch"], environment: [:], quiet: true))?.status == 0
    }

    /// The script `name` in the package's `tools/` folder, looked up from the working directory and
    /// from the executable's location (`.build/<config>/fovex`).
    static func script(_ name: String) -> URL? {
        var candidates = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(dir)
            dir = dir.deletingLastPathComponent()
        }
        return candidates.map { $0.appendingPathComponent("tools").appendingPathComponent(name) }
            .first { FileManager.default.fileExists(atPath: $0.path) }
    }

    /// Runs Python with `arguments`, adding `environment` to (or, for empty values, removing it
    /// from) this process's environment; returns the exit status, stdout and the last lines of stderr.
    /// The script's stderr (its progress) goes to ours on a terminal and is otherwise kept in a temporary
    /// file, so that pipes stay quiet while a failure can still say why; `quiet` discards it.
    static func run(arguments: [String], environment: [String: String], quiet: Bool = false,
                    interpreter: String = python) throws -> (status: Int32, stdout: Data, errorTail: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: interpreter)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v.isEmpty ? nil : v }
        process.environment = env
        process.standardInput = FileHandle.nullDevice
        let out = Pipe()
        process.standardOutput = out
        var errorLog: URL?
        if quiet {
            process.standardError = FileHandle.nullDevice
        } else if ProgressReporter.stderrIsTerminal {
            process.standardError = FileHandle.standardError
        } else {
            let log = FileManager.default.temporaryDirectory.appendingPathComponent("fovex-python-\(UUID().uuidString).log")
            guard FileManager.default.createFile(atPath: log.path, contents: nil) else {
                throw PythonReferenceError(description: "cannot create a log file in \(FileManager.default.temporaryDirectory.path)")
            }
            process.standardError = try FileHandle(forWritingTo: log)
            errorLog = log
        }
        defer { if let errorLog { try? FileManager.default.removeItem(at: errorLog) } }
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let tail = errorLog.flatMap { try? String(contentsOf: $0, encoding: .utf8) }
            .map { $0.split(separator: "\n").suffix(3).joined(separator: " | ") } ?? ""
        return (process.terminationReason == .exit ? process.terminationStatus : -1, data, tail)
    }
}

/// Fixed-width text tables for terminal output.
struct TextTable {
    var header: [String]
    var rows: [[String]] = []
    /// Columns of text, padded on the right; the others (numbers) are right-aligned.
    var leftAligned: Set<Int> = [0]

    func render() -> String {
        var widths = header.map(\.count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = Swift.max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            var text = cells.enumerated().map { i, c in
                let pad = String(repeating: " ", count: widths[i] - c.count)
                return leftAligned.contains(i) ? c + pad : pad + c
            }.joined(separator: "  ")
            // A text column (or an empty cell) at the end would leave blanks at the end of the line.
            while text.hasSuffix(" ") { text.removeLast() }
            return text
        }
        let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        return ([line(header), rule] + rows.map(line)).joined(separator: "\n")
    }
}

/// The machine's load before a benchmark, shared by the `fovex bench` commands.
enum MachineLoad {
    /// The 1-minute load average (Linux), a sign of other processes competing for the cores.
    static func average() -> Double? {
        (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").first.flatMap { Double($0) }
    }

    /// The warning to print when `average` says other processes were busy, or nil on an idle machine.
    static func warning(_ average: Double?) -> String? {
        guard let average, average > 0.5 else { return nil }
        // Other processes on the cores stretch both sides' times unevenly (see the project's measurement notes).
        return String(format: "warning: 1-minute load average was %.1f before the run; timings are contaminated", average)
    }
}

/// Whether this run's passes that record nothing use blocked chains, stated in the bench headers: the forward
/// passes of the convolutional models, RISE and the metrics' curves differ by 0.6–0.85× between the two.
enum BlockedChainsNote {
    static var text: String {
        BlockedConvolutionChain.isEnabledByDefault ? "blocked chains on" : "blocked chains off (FOVEX_BLOCKED_CHAINS=0)"
    }
}

/// Prints `value` as pretty, key-sorted JSON on standard output.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

extension PythonReference {
    /// One run of a PyTorch script under one OpenMP wait policy.
    struct PolicyRun {
        /// `unset` or `PASSIVE`.
        var waitPolicy: String
        var stdout: Data
    }

    /// Runs `script` with `arguments` twice, with OMP_WAIT_POLICY unset and with PASSIVE, and
    /// OMP_NUM_THREADS and OPENBLAS_NUM_THREADS set to `threads`: PyTorch's speed on a small
    /// machine depends on the wait policy in either direction, so a fair comparison keeps its better
    /// one. The script's stderr (its progress) goes to ours.
    ///
    /// - Throws: ``PythonReferenceError`` when the script cannot start or exits with a failure.
    static func runPerWaitPolicy(_ script: URL, arguments: [String], threads: Int,
                                 interpreter: String = python) throws -> [PolicyRun] {
        try ["", "PASSIVE"].map { policy in
            let environment = ["OMP_NUM_THREADS": "\(threads)", "OPENBLAS_NUM_THREADS": "\(threads)", "OMP_WAIT_POLICY": policy]
            let result: (status: Int32, stdout: Data, errorTail: String)
            do {
                result = try run(arguments: [script.path] + arguments, environment: environment, interpreter: interpreter)
            } catch {
                throw PythonReferenceError(description: "cannot run \(interpreter): \(error.localizedDescription)")
            }
            guard result.status == 0 else {
                throw PythonReferenceError(description: "\(script.lastPathComponent) exited with status \(result.status)"
                                               + (result.errorTail.isEmpty ? "" : ": \(result.errorTail)"))
            }
            return PolicyRun(waitPolicy: policy.isEmpty ? "unset" : policy, stdout: result.stdout)
        }
    }
}

/// A PyTorch reference script that could not be run or failed.
struct PythonReferenceError: Error, CustomStringConvertible {
    var description: String
}
