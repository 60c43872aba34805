import XCTest
import FovExCheckpoints
import FovExModels
@testable import FovExExplainers
import FovExTensor

/// ∂L/∂p against a PyTorch re-statement of the reference FovEx code (tools/make_fovex_fixtures.py) on
/// random-weight ResNet-18 and ViT-Ti whose weights both sides draw from the same seeded generator.
final class FovExParityTests: XCTestCase {
    func check(_ name: String) throws {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        let reader = try SafetensorsReader(url: dir.appendingPathComponent("fovex_parity_\(name).safetensors"))
        func tensor(_ key: String) throws -> Tensor {
            let t = try reader.tensor(named: key)
            return Tensor(shape: t.shape, scalars: t.values)
        }
        let seed = try XCTUnwrap(UInt64(reader.metadata["seed"] ?? ""))
        let model = try ModelRegistry.randomModel(name, seed: seed)
        let x = try tensor("input"), memory = try tensor("memory")
        let classes = try tensor("classes").scalars.map { Int($0) }
        XCTAssertEqual(model.probabilities(x).argmax(alongAxis: 1), classes, "predicted classes")
        let peripheral = withoutGradients { x.gaussianBlurred(kernelSize: 41, sigma: 10) - x }
        let p = try tensor("positions").requiringGradient()
        let loss = model.logits(FovEx.foveate(x, peripheral: peripheral, memory: memory, positions: p, sigma: 0.15))
            .crossEntropy(labels: classes)
        let grad = try gradients(of: loss.sum(), withRespectTo: [p])[0].scalars
        let refLoss = try tensor("loss").scalars, refGrad = try tensor("grad").scalars
        // zip stops at the shorter side: the counts must agree first (one loss per image, two coordinates each).
        XCTAssertEqual(loss.count, classes.count, "\(name) losses")
        XCTAssertEqual(refLoss.count, classes.count, "\(name) reference losses")
        XCTAssertEqual(grad.count, 2 * classes.count, "\(name) gradient components")
        XCTAssertEqual(refGrad.count, grad.count, "\(name) reference gradient components")
        XCTAssertGreaterThan(classes.count, 0)
        for (a, b) in zip(loss.scalars, refLoss) { XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(b)), "\(name) loss") }
        let scale = refGrad.map(abs).max()!
        for (a, b) in zip(grad, refGrad) { XCTAssertEqual(a, b, accuracy: 1e-3 * scale, "\(name) dL/dp") }
    }

    func testResNet18() throws { try check("resnet18") }
    func testViTTiny() throws { try check("vit-ti16") }
}
