import ArgumentParser
import FovExBench

/// `fovex bench …`: speed measurements, with PyTorch measured in the same run where it is installed. The
/// measurements live in the FovExBench module; this command only names them.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure speed (kernels, models, explainers) against PyTorch on this machine.",
        subcommands: [
            BenchKernels.self,
            BenchFovEx.self,
            BenchModels.self,
            BenchExplainers.self,
        ]
    )
}
