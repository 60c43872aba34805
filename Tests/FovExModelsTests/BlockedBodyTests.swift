import Foundation
import XCTest
import FovExCheckpoints
@testable import FovExModels
import FovExTensor

/// The built-in convolutional models' blocked bodies: passes that record nothing give PyTorch's logits through the
/// chain, the same logits as the differentiable ops, and the chain stays out of passes that record, capture or
/// compute in bf16.
final class BlockedBodyTests: XCTestCase {
    private func check(_ fixture: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let reader = try SafetensorsReader(url: ModelFixtures.url(fixture))
        let meta = reader.metadata
        let name = try XCTUnwrap(meta["model"]), point = try XCTUnwrap(meta["point"])
        let seed = try XCTUnwrap(UInt64(meta["seed"] ?? ""))
        let shape = try JSONDecoder().decode([Int].self, from: Data((meta["input_shape"] ?? "").utf8))
        let model = try ModelRegistry.randomModel(name, seed: seed)
        let body: BlockedBody, setChains: (Bool) -> Void
        switch model {
        case let resnet as ResNet: (body, setChains) = (resnet.body, { resnet.usesBlockedChains = $0 })
        case let lite as EfficientNetLite: (body, setChains) = (lite.body, { lite.usesBlockedChains = $0 })
        default: return XCTFail("\(name) has no blocked body", file: file, line: line)
        }
        let x = generatedInput(shape, seed: seed)

        setChains(true)
        let blocked = withoutGradients { model.logits(x) }
        XCTAssertEqual(body.chain.runnableShapeCount, 1, "\(name): the chain did not run", file: file, line: line)
        assertMatches(blocked, try reader.tensor(named: "logits"), tolerance: 1e-4, "\(fixture) blocked logits", file: file, line: line)
        // Gradients on but nothing tracked: nothing is recorded, so the chain runs too.
        XCTAssertEqual(model.logits(x).scalars, blocked.scalars, "\(name): untracked pass", file: file, line: line)

        // Passes that record, capture or compute in bf16 take the differentiable ops: no new shape is planned.
        let second = generatedInput([2] + shape.dropFirst(), seed: seed + 1)
        _ = model.logits(second.requiringGradient())
        _ = withoutGradients { model.forward(second, capturing: [point]) }
        withPrecision(.bf16) {
            XCTAssertNil(body.pooledFeatures(second, enabled: true, capturing: []), "bf16 pass ran the chain", file: file, line: line)
        }
        XCTAssertEqual(body.chain.runnableShapeCount, 1, "\(name): a recording or capturing pass ran the chain", file: file, line: line)

        setChains(false)
        let plain = withoutGradients { model.logits(x) }
        let err = zip(plain.scalars, blocked.scalars).map { abs($0 - $1) }.max()!
        let scale = plain.scalars.map(abs).max()!
        XCTAssertLessThanOrEqual(err, 1e-5 * scale, "\(name): blocked and differentiable logits differ by \(err)", file: file, line: line)
    }

    func testResNet18() throws { try check("parity_resnet18_96x80.safetensors") }
    func testResNet50() throws { try check("parity_resnet50_80x64.safetensors") }
    func testEfficientNetLite0() throws { try check("parity_efficientnet-lite0_224x224.safetensors") }
    /// TensorFlow "SAME" padding, asymmetric on an odd, non-square input.
    func testEfficientNetLite0OddSize() throws { try check("parity_efficientnet-lite0_97x113.safetensors") }
}
