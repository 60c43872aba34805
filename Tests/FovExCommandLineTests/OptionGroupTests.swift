import ArgumentParser
import XCTest
@testable import FovExCommandLine
import FovExExplainers
import FovExTensor

/// The option groups parsed as a command line parses them: values reach the library's options, and
/// every out-of-range value is refused at parse time with the flag and the accepted range.
final class OptionGroupTests: XCTestCase {
    /// The message ArgumentParser would print for `arguments`, or nil when they parse.
    private func refusal<T: ParsableArguments>(_ type: T.Type, _ arguments: [String]) -> String? {
        do {
            _ = try T.parse(arguments)
            return nil
        } catch {
            return T.message(for: error)
        }
    }

    func testSigmaSetsBothWidthsUnlessTheHeatmapSigmaIsGiven() throws {
        let both = try FovExOptions.parse(["--sigma", "0.3"]).options()
        XCTAssertEqual(both.foveaSigma, 0.3)
        XCTAssertEqual(both.heatmapSigma, 0.3)
        let apart = try FovExOptions.parse(["--sigma", "0.3", "--heatmap-sigma", "0.05"]).options()
        XCTAssertEqual(apart.foveaSigma, 0.3)
        XCTAssertEqual(apart.heatmapSigma, 0.05)
        let defaults = try FovExOptions.parse([]).options()
        XCTAssertEqual(defaults, FovEx.Options())
    }

    func testEveryFovExFlagReachesTheOptions() throws {
        let o = try FovExOptions.parse([
            "--fixations", "3", "--steps", "4", "--step-size", "0.2", "--forgetting", "0.5",
            "--heatmap-forgetting", "1,0.5,0.25", "--blur-kernel-size", "21", "--blur-sigma", "4",
            "--no-random-restarts", "--variant", "refined",
        ]).options()
        XCTAssertEqual(o.fixations, 3)
        XCTAssertEqual(o.stepsPerFixation, 4)
        XCTAssertEqual(o.stepSize, 0.2)
        XCTAssertEqual(o.forgetting, 0.5)
        XCTAssertEqual(o.heatmapForgetting, [1, 0.5, 0.25])
        XCTAssertEqual(o.blurKernelSize, 21)
        XCTAssertEqual(o.blurSigma, 4)
        XCTAssertFalse(o.randomRestarts)
        XCTAssertEqual(o.variant, .refined)
    }

    /// #14: `--step-size inf` crashed drawing the scanpath, `--sigma inf`, `--step-size=-1` and
    /// `--forgetting 5` were accepted, and `--fixations -1` said "Missing value".
    func testOutOfRangeFovExValuesAreRefusedNamingTheFlagAndTheRange() {
        let cases: [([String], String)] = [
            (["--step-size", "inf"], "--step-size must be a finite number in (0.0, 2.0], got inf"),
            (["--step-size=-1"], "--step-size must be a finite number in (0.0, 2.0], got -1.0"),
            (["--step-size", "nan"], "--step-size must be a finite number in (0.0, 2.0], got nan"),
            (["--sigma", "inf"], "--sigma must be a finite number in (0.0, 10.0], got inf"),
            (["--heatmap-sigma", "0"], "--heatmap-sigma must be a finite number in (0.0, 10.0], got 0.0"),
            (["--forgetting", "5"], "--forgetting must be a finite number in [0.0, 1.0], got 5.0"),
            (["--fixations", "-1"], "--fixations must be a whole number in 1…1000, got -1"),
            (["--fixations", "0"], "--fixations must be a whole number in 1…1000, got 0"),
            (["--steps", "-3"], "--steps must be a whole number in 1…10000, got -3"),
            (["--blur-kernel-size", "40"], "--blur-kernel-size must be an odd whole number in 1…1023, got 40"),
            (["--fixations", "2", "--heatmap-forgetting", "1,1,1"],
             "--heatmap-forgetting must be empty or one factor per fixation (2), got 3 factors"),
            (["--heatmap-forgetting", "1,x"], "--heatmap-forgetting must be numbers separated by commas, got '1,x'"),
        ]
        for (arguments, expected) in cases {
            XCTAssertEqual(refusal(FovExOptions.self, arguments), expected, "\(arguments)")
        }
    }

    func testHelpStatesEachRangeFromItsDeclaration() {
        let help = FovExOptions.helpMessage(columns: 1000) + MPOptions.helpMessage(columns: 1000)
        XCTAssertTrue(help.contains("signed-gradient step λ (normalised units); a finite number in (0.0, 2.0]."), help)
        XCTAssertTrue(help.contains("memory forgetting β; a finite number in [0.0, 1.0]."), help)
        XCTAssertTrue(help.contains("side of the optimised mask; a whole number in 2…1024, at most the image side."), help)
    }

    /// #14: `--mp-mask-size 100000` allocated 40 GB.
    func testOutOfRangeBaselineValuesAreRefused() {
        XCTAssertEqual(refusal(MPOptions.self, ["--mp-mask-size", "100000"]),
                       "--mp-mask-size must be a whole number in 2…1024, got 100000")
        XCTAssertEqual(refusal(MPOptions.self, ["--mp-iterations", "0"]),
                       "--mp-iterations must be a whole number in 1…100000, got 0")
        XCTAssertEqual(refusal(MPOptions.self, ["--mp-l1", "-0.5"]),
                       "--mp-l1 must be a finite number in [0.0, 1000.0], got -0.5")
        XCTAssertEqual(refusal(MPOptions.self, ["--mp-noise", "inf"]),
                       "--mp-noise must be a finite number in [0.0, 10.0], got inf")
        XCTAssertEqual(refusal(RISEOptions.self, ["--rise-p", "1.5"]),
                       "--rise-p must be a finite number in (0.0, 1.0], got 1.5")
        XCTAssertEqual(refusal(RISEOptions.self, ["--rise-masks", "-10"]),
                       "--rise-masks must be a whole number in 1…1000000, got -10")
        XCTAssertEqual(refusal(RISEOptions.self, ["--rise-batch", "0"]),
                       "--rise-batch must be a whole number in 1…4096, got 0")
    }

    func testBaselineFlagsReachTheOptions() throws {
        let rise = try RISEOptions.parse(["--rise-masks", "50", "--rise-cells", "5", "--rise-p", "0.3", "--rise-batch", "4"]).options()
        XCTAssertEqual([rise.masks, rise.cells, rise.batchSize], [50, 5, 4])
        XCTAssertEqual(rise.keepProbability, 0.3)
        let mp = try MPOptions.parse(["--mp-iterations", "7", "--mp-mask-size", "14", "--mp-learning-rate", "0.05",
                                      "--mp-l1", "0.02", "--mp-tv", "0.1", "--mp-tv-beta", "2",
                                      "--mp-blur-kernel-size", "9", "--mp-blur-sigma", "3", "--mp-noise", "0"]).options()
        XCTAssertEqual([mp.iterations, mp.maskSize, mp.blurKernelSize], [7, 14, 9])
        XCTAssertEqual([mp.learningRate, mp.l1Coefficient, mp.tvCoefficient, mp.tvBeta, mp.blurSigma, mp.noiseStandardDeviation],
                       [0.05, 0.02, 0.1, 2, 3, 0])
    }

    func testTheCombinedGroupSetsSeedAndPointOnEveryMethod() throws {
        let o = try ExplainerOptions.parse(["--seed", "7", "--cam-point", "layer3", "--fixations", "2"]).registryOptions()
        XCTAssertEqual([o.rise.seed, o.meaningfulPerturbation.seed, o.fovex.seed, o.randomCAM.weighting.seed], [7, 7, 7, 7])
        XCTAssertEqual([o.gradCAM.point, o.gradCAMPlusPlus.point, o.randomCAM.point], ["layer3", "layer3", "layer3"])
        XCTAssertEqual(o.fovex.fixations, 2)
    }

    /// #14 item 13: `--weights F --random-weights 3` ignored F.
    func testWeightsAndRandomWeightsTogetherAreRefused() {
        XCTAssertEqual(refusal(ModelOptions.self, ["--model", "resnet50", "--weights", "w.pth", "--random-weights", "3"]),
                       "--weights and --random-weights contradict each other: give one of them")
        XCTAssertNil(refusal(ModelOptions.self, ["--model", "resnet50", "--random-weights", "3"]))
    }

    /// #14 item 17: FOVEX_THREADS=1000, 0, −1 and `abc` were ignored or accepted.
    func testThreadCountsOutsideOneToFourPerCoreAreRefused() throws {
        for value in ["1000", "0", "-1", "abc", "", "2.5"] {
            XCTAssertThrowsError(try Threading.threadCount(parsing: value, cores: 2), value) { error in
                XCTAssertEqual("\(error)", "FOVEX_THREADS must be a whole number in 1…8 (up to 4 threads per core on this machine), got '\(value)'")
            }
        }
        XCTAssertEqual(try Threading.threadCount(parsing: "8", cores: 2), 8)
        XCTAssertEqual(try Threading.threadCount(parsing: "1", cores: 2), 1)
    }

    func testRunChecksRefuseEmptyOutputAndOutOfRangeCounts() {
        XCTAssertThrowsError(try RunOptionChecks.checkOutputDirectory("")) {
            XCTAssertEqual(($0 as? ValidationError)?.message, "--out needs a directory name, got ''")
        }
        XCTAssertNoThrow(try RunOptionChecks.checkOutputDirectory("runs/a"))
        XCTAssertThrowsError(try RunOptionChecks.check(-1, RunOptionChecks.limitBounds, flag: "--limit")) {
            XCTAssertEqual(($0 as? ValidationError)?.message, "--limit must be a whole number ≥ 1, got -1")
        }
        XCTAssertThrowsError(try RunOptionChecks.check(0, RunOptionChecks.deletionStepBounds, flag: "--deletion-step")) {
            XCTAssertEqual(($0 as? ValidationError)?.message, "--deletion-step must be a whole number in 1…1048576, got 0")
        }
    }
}
