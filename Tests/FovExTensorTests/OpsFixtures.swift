import Foundation
import XCTest
import FovExCheckpoints
@testable import FovExTensor

/// The PyTorch parity fixtures written by tools/make_ops_fixtures.py (files `ops_*.safetensors`).
struct OpsFixture {
    let reader: SafetensorsReader

    init(_ name: String) throws {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil),
                                "the test bundle has no Fixtures folder")
        reader = try SafetensorsReader(url: dir.appendingPathComponent(name + ".safetensors"))
    }

    /// The cases stored in the file (every metadata key) with their JSON settings.
    var cases: [(name: String, settings: [String: Any])] {
        get throws {
            try reader.metadata.keys.sorted().map { key in
                let object = try JSONSerialization.jsonObject(with: Data(reader.metadata[key]!.utf8))
                return (key, try XCTUnwrap(object as? [String: Any], "settings of \(key) are not a JSON object"))
            }
        }
    }

    func tensor(_ name: String) throws -> Tensor {
        let t = try reader.tensor(named: name)
        return Tensor(shape: t.shape, scalars: t.values)
    }

    /// Checks `op`'s forward value and input gradient against the case's `y` and `dx` (for upstream `g`).
    func check(_ name: String, input: Tensor, tolerance: Double = 1e-5, file: StaticString = #filePath,
               line: UInt = #line, _ op: (Tensor) -> Tensor) throws {
        let x = input.requiringGradient()
        let y = op(x)
        assertClose(y, try tensor(name + ".y"), tolerance: tolerance, "\(name) forward", file: file, line: line)
        let dx = try gradients(of: y, withRespectTo: [x], seed: try tensor(name + ".g"))[0]
        assertClose(dx, try tensor(name + ".dx"), tolerance: tolerance, "\(name) input gradient", file: file, line: line)
    }
}
