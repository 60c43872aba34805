import Foundation
import XCTest

/// Runs the built `fovex` (which `swift build --build-tests` and `make test` build beside the tests)
/// to check what each command refuses at parse time, before it loads or writes anything.
final class CommandLineTests: XCTestCase {
    /// Runs `fovex arguments` and returns its exit status and standard error.
    private func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, stderr: String) {
        let r = try FovexProcess.run(arguments, environment: environment)
        return (r.status, r.stderr)
    }

    /// The first `Error:` line of standard error.
    private func errorLine(_ stderr: String) -> String? {
        stderr.split(separator: "\n").first { $0.hasPrefix("Error:") }.map(String.init)
    }

    private let explain = ["explain", "photo.jpg", "--model", "resnet50", "--random-weights", "1", "--out", "out"]
    private let evaluate = ["evaluate", "--model", "resnet50", "--random-weights", "1", "--methods", "fovex",
                            "--data", "imagenet:nowhere", "--out", "run"]

    /// #11 item 4: `evaluate` takes every FovEx, RISE, MP, CAM and seed option exactly as `explain` does.
    func testEvaluateAndExplainRefuseEveryExplainerOptionAlike() throws {
        let bad: [[String]] = [
            ["--fixations", "0"], ["--steps", "0"], ["--step-size", "inf"], ["--sigma", "-1"], ["--heatmap-sigma", "0"],
            ["--forgetting", "5"], ["--heatmap-forgetting", "x"], ["--blur-kernel-size", "2"], ["--blur-sigma", "0"],
            ["--variant", "best"], ["--rise-masks", "0"], ["--rise-cells", "0"], ["--rise-p", "2"], ["--rise-batch", "0"],
            ["--mp-iterations", "0"], ["--mp-mask-size", "1"], ["--mp-learning-rate", "0"], ["--mp-l1", "-1"],
            ["--mp-tv", "-1"], ["--mp-tv-beta", "0"], ["--mp-blur-kernel-size", "2"], ["--mp-blur-sigma", "0"],
            ["--mp-noise", "-1"], ["--cam-point", ""], ["--seed", "-1"],
        ]
        for option in bad {
            let a = try run(explain + option), b = try run(evaluate + option)
            XCTAssertEqual(a.status, 64, "explain \(option): \(a.stderr)")
            XCTAssertEqual(b.status, 64, "evaluate \(option): \(b.stderr)")
            let line = try XCTUnwrap(errorLine(a.stderr), "explain \(option): \(a.stderr)")
            XCTAssertTrue(line.contains(option[0]), "\(line) does not name \(option[0])")
            XCTAssertEqual(errorLine(b.stderr), line, "evaluate \(option)")
        }
        // Accepted by both: the run then stops at the missing image / data set, not at the options.
        let good = ["--sigma", "0.2", "--heatmap-sigma", "0.1", "--no-random-restarts", "--blur-kernel-size", "31",
                    "--rise-p", "0.3", "--mp-tv-beta", "2", "--cam-point", "layer3", "--variant", "refined"]
        let explained = try run(explain + good)
        XCTAssertEqual(errorLine(explained.stderr), "Error: photo.jpg: no such file or directory")
        let evaluated = try run(evaluate + good)
        let line = try XCTUnwrap(errorLine(evaluated.stderr), evaluated.stderr)
        XCTAssertTrue(line.contains("nowhere") && !line.contains("--"), line)
    }

    /// #14 items 3–6 and the unclear errors, each refused at parse time with the accepted range.
    func testCrashingAndUnclearValuesAreRefusedWithTheirRange() throws {
        let cases: [([String], String)] = [
            (evaluate + ["--limit=-1"], "Error: --limit must be a whole number ≥ 1, got -1"),
            (evaluate + ["--metrics", "deletion", "--deletion-step", "0"],
             "Error: --deletion-step must be a whole number in 1…1048576, got 0"),
            (["explain", "photo.jpg", "--model", "resnet50", "--method", "fovex", "--step-size", "inf", "--out", "o"],
             "Error: --step-size must be a finite number in (0.0, 2.0], got inf"),
            (["explain", "photo.jpg", "--model", "resnet50", "--method", "mp", "--mp-mask-size", "100000", "--out", "o"],
             "Error: --mp-mask-size must be a whole number in 2…1024, got 100000"),
            (explain + ["--fixations", "-1"], "Error: --fixations must be a whole number in 1…1000, got -1"),
            (["explain", "photo.jpg", "--model", "resnet50", "--out", ""], "Error: --out needs a directory name, got ''"),
            (evaluate.dropLast(2) + ["--out", ""], "Error: --out needs a directory name, got ''"),
            (["report", "run", "--out", " "], "Error: --out needs a directory name, got ' '"),
            (explain + ["--batch", "0"], "Error: --batch must be a whole number in 1…1024, got 0"),
            (["classify", "photo.jpg", "--model", "resnet50", "--weights", "w.pth", "--random-weights", "3"],
             "Error: --weights and --random-weights contradict each other: give one of them"),
            (["bench", "explainers", "--mp-mask-size", "100000", "--no-torch"],
             "Error: --mp-mask-size must be a whole number in 2…1024, got 100000"),
            (["bench", "fovex", "--step-size", "inf", "--no-torch"],
             "Error: --step-size must be a finite number in (0.0, 2.0], got inf"),
        ]
        for (arguments, expected) in cases {
            let r = try run(arguments)
            XCTAssertEqual(r.status, 64, "\(arguments): \(r.stderr)")
            XCTAssertEqual(errorLine(r.stderr), expected, "\(arguments)")
        }
    }

    /// #14 item 17: a bad FOVEX_THREADS is refused by every command, with the accepted range.
    func testBadThreadCountsAreRefusedBeforeAnyCommand() throws {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        for value in ["1000", "0", "-1", "abc"] {
            let r = try run(["models", "list"], environment: ["FOVEX_THREADS": value])
            XCTAssertEqual(r.status, 1, "FOVEX_THREADS=\(value): \(r.stderr)")
            XCTAssertEqual(errorLine(r.stderr),
                           "Error: FOVEX_THREADS must be a whole number in 1…\(4 * cores) (up to 4 threads per core on this machine), got '\(value)'")
        }
        XCTAssertEqual(try run(["models", "list"], environment: ["FOVEX_THREADS": "1"]).status, 0)
    }
}
