import Foundation
import XCTest
@testable import FovExEvaluation

/// `--sweep NAME=V1,V2,…`: parsing, and the report of each metric against the value.
final class SweepReportTests: XCTestCase {
    func testParsingAcceptsOneParameterAndRefusesMalformedLists() throws {
        let s = try Sweep(parsing: "fixations=1, 3,5")
        XCTAssertEqual(s.parameter, "fixations")
        XCTAssertEqual(s.values, ["1", "3", "5"])
        XCTAssertEqual(s.directory(for: "3", in: URL(fileURLWithPath: "/r")).path, "/r/fixations=3")
        XCTAssertEqual(try Sweep(parsing: "variant=paper,refined").values, ["paper", "refined"])
        for bad in ["fixations", "=1,2", "fixations=1,,3", "fixations=1,1", "--steps=1,2", "a b=1"] {
            XCTAssertThrowsError(try Sweep(parsing: bad), bad) { XCTAssertTrue("\($0)".contains("--sweep '\(bad)'"), "\($0)") }
        }
    }

    func testTheReportHasEachMetricAgainstTheValueWithItsInterval() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("fovex-sweep-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let sweep = try Sweep(parsing: "fixations=1,5")
        // ebpg rises with the value for method a: 10, 20 at 1 fixation; 30, 50 at 5.
        for (value, scores) in zip(sweep.values, [[10.0, 20], [30, 50]]) {
            let cfg = RunConfiguration(model: "toy", weights: "random", weightsSHA256: nil, dataKind: "imagenet", methods: ["a"],
                                       metrics: ["ebpg"], limit: nil, seed: 1, correctOnly: false,
                                       options: ["fovex.fixations": value], codeVersion: "t")
            let store = try RunStore(directory: sweep.directory(for: value, in: root), configuration: cfg)
            try store.append(scores.enumerated().map { i, v in
                ResultRow(image: "i\(i)", method: "a", classIndex: 0, probability: 1, metrics: ["ebpg": v], seconds: 0)
            })
        }
        let report = try SweepReport(sweep: sweep, root: root, higherIsBetter: ["ebpg": true], bootstrapSamples: 200)
        XCTAssertEqual(report.metrics, ["ebpg"])
        let csv = report.csv().split(separator: "\n").map(String.init)
        XCTAssertEqual(csv[0], "metric,method,parameter,value,mean,ci_low,ci_high,n")
        XCTAssertTrue(csv[1].hasPrefix("ebpg,a,fixations,1,15.0,"), csv[1])
        XCTAssertTrue(csv[2].hasPrefix("ebpg,a,fixations,5,40.0,"), csv[2])
        // The bootstrap interval of two values lies between them.
        let s = try XCTUnwrap(report.reports[1].summaries["ebpg"]?["a"])
        XCTAssertTrue(s.low >= 30 && s.high <= 50 && s.low <= 40 && s.high >= 40, "\(s)")
        let md = report.markdown()
        XCTAssertTrue(md.contains("| a | 15.000 ["), md)
        XCTAssertTrue(md.contains("![ebpg](ebpg.svg)"))
        let svg = report.svg(metric: "ebpg")
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.contains("<polyline") && svg.contains(">fixations</text>"), svg)
        XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1, 2, "one point per value")
        try report.write(to: root.appendingPathComponent("sweep"))
        for f in ["sweep.md", "sweep.csv", "ebpg.svg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: root.appendingPathComponent("sweep/\(f)").path), f)
        }
    }
}
