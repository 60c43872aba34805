import Foundation
import XCTest
import FovExCheckpoints
@testable import FovExModels
import FovExTensor

/// The committed fixtures written by tools/make_model_fixtures.py.
enum ModelFixtures {
    static func url(_ name: String) -> URL {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent(name)
    }

    /// A fresh directory for files a test writes; removed when the test ends.
    static func temporaryDirectory(for test: XCTestCase) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fovex-models-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }
}

/// The input image the fixture script draws for a model seed (uniform in [0, 1), see ModelWeights).
func generatedInput(_ shape: [Int], seed: UInt64) -> Tensor {
    Tensor(shape: shape, scalars: ModelWeights.generatedValues(name: "input", count: shape.reduce(1, *), seed: seed,
                                                               center: 0.5, halfWidth: 0.5))
}

/// max |actual − expected| / max |expected|.
func relativeError(_ actual: Tensor, _ expected: CheckpointTensor) -> Double {
    let a = actual.scalars
    precondition(a.count == expected.values.count, "comparing \(a.count) values with \(expected.values.count)")
    var maxErr = 0.0, maxRef = 0.0
    for (x, e) in zip(a, expected.values) {
        maxErr = max(maxErr, abs(Double(x) - Double(e)))
        maxRef = max(maxRef, abs(Double(e)))
    }
    return maxRef > 0 ? maxErr / maxRef : maxErr
}

/// Asserts that the model's tensor has the reference's shape and values within `tolerance` (relative max-norm).
func assertMatches(_ actual: Tensor, _ expected: CheckpointTensor, tolerance: Double, _ what: String,
                   file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.shape, expected.shape, "\(what) shape", file: file, line: line)
    guard actual.shape == expected.shape else { return }
    let err = relativeError(actual, expected)
    XCTAssertLessThanOrEqual(err, tolerance, "\(what): relative error \(err)", file: file, line: line)
}

/// The data directory: $FOVEX_DATA, or ../shared/data next to the package root.
func dataDirectory() -> URL {
    if let env = ProcessInfo.processInfo.environment["FOVEX_DATA"], !env.isEmpty { return URL(fileURLWithPath: env) }
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    return packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data")
}
