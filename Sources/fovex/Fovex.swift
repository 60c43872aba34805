import ArgumentParser
import Foundation
import FovExCommandLine
import FovExTensor

/// The `fovex` command: explain image classifiers, evaluate the explanations, benchmark the kernels.
@main
struct Fovex: ParsableCommand {
    static let version = "0.1.0"

    /// Refuses a bad `FOVEX_THREADS` before any command runs (exit status 1), then runs the command.
    static func main() {
        do {
            try RunOptionChecks.checkThreadEnvironment()
        } catch {
            FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
            Foundation.exit(1)
        }
        main(nil)
    }

    /// `version`, followed by the commit of the checkout the executable was built in (`.build/<config>/fovex`)
    /// when git can tell, for run records: "0.1.0 (git 5b4ac43d1e2f)", with "-dirty" for local changes.
    /// It describes the checkout when the command runs, which is the build unless it was changed since.
    static var describedVersion: String {
        // .build/release is a link to .build/<triple>/release: the checkout is three to four levels up.
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        var checkout: URL?
        for _ in 0..<5 where checkout == nil {
            dir = dir.deletingLastPathComponent()
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent(".git").path) { checkout = dir }
        }
        guard let root = checkout else { return version }
        let git = Process()
        git.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        git.arguments = ["git", "-C", root.path, "describe", "--always", "--dirty", "--abbrev=12"]
        let out = Pipe()
        git.standardOutput = out
        git.standardError = FileHandle.nullDevice
        guard (try? git.run()) != nil else { return version }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        git.waitUntilExit()
        let described = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return git.terminationStatus == 0 && !described.isEmpty ? "\(version) (git \(described))" : version
    }

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
            SanityCommand.self,
        ]
    )
}
