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
}
