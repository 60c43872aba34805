import ArgumentParser
import FovExMetrics

extension GazeConvention: ExpressibleByArgument {}
extension DropConvention: ExpressibleByArgument {}
extension InsertionMetric.Blur: ExpressibleByArgument {}

/// Whose definition each metric follows: `--nss-convention`, `--auc-convention`, `--drop-convention`,
/// `--insertion-blur`, each defaulting to the paper's source. The choices are recorded in the run's
/// configuration (`metric.*_convention`), so runs under different conventions are never merged.
struct MetricConventionOptions: ParsableArguments {
    @Option(help: "NSS as computed by fixatons (the paper's source), mit (Bylinskii's saliency benchmark) or pysaliency.")
    var nssConvention = GazeConvention.fixatons
    @Option(help: "AUC-Judd as computed by fixatons (the paper's source), mit or pysaliency.")
    var aucConvention = GazeConvention.fixatons
    @Option(help: "Average drop/increase as gradcam++ (the paper's), top50 (Score-CAM, Relevance-CAM) or normalised (pytorch-grad-cam).")
    var dropConvention = DropConvention.gradcamPlusPlus
    @Option(help: "Insertion's starting blur: paper (torchvision Gaussian, pixel space) or rise (RISE's gkern, normalised space).")
    var insertionBlur = InsertionMetric.Blur.paper

    /// The metric settings with these conventions.
    func settings() -> MetricSettings {
        var s = MetricSettings()
        s.nssConvention = nssConvention
        s.aucJuddConvention = aucConvention
        s.dropConvention = dropConvention
        s.insertionBlur = insertionBlur
        return s
    }
}
