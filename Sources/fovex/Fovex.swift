import ArgumentParser
import Foundation
import FovExTensor

/// The `fovex` command: explain image classifiers, evaluate the explanations, benchmark the kernels.
@main
struct Fovex: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "fovex",
        abstract: "Explain what image classifiers look at (FovEx and baselines), measure the explanations, benchmark.",
        version: version,
        subcommands: [
            Bench.self,
            ModelsCommand.self,
            ClassifyCommand.self,
            ConvertCommand.self,
            ExplainCommand.self,
            EvaluateCommand.self,
            ReportCommand.self,
        ]
    )

    /// oneDNN's OpenMP threads spin between kernels by default and then fight the Swift element-wise
    /// workers (and anything else on a 2-core machine) for the cores: measured 5–20× slower FovEx
    /// steps under load. libgomp reads OMP_WAIT_POLICY only when it is loaded, before `main`, so the
    /// tool restarts itself once with PASSIVE unless the user chose a policy.
    static func main() {
        if ProcessInfo.processInfo.environment["OMP_WAIT_POLICY"] == nil {
            setenv("OMP_WAIT_POLICY", "PASSIVE", 1)
            let args = CommandLine.unsafeArgv
            execv("/proc/self/exe", args)
            // execv only returns on failure; run with the default policy then.
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}
