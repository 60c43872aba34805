import Foundation
import XCTest
import FovExCheckpoints
@testable import FovExModels
import FovExWeights
import FovExTensor

final class ModelWeightsTests: XCTestCase {
    private let specs = [ParameterSpec("conv.weight", [4, 3, 3, 3], .weight), ParameterSpec("bn.weight", [4], .normScale),
                         ParameterSpec("bn.running_var", [4], .runningVariance), ParameterSpec("fc.bias", [10], .bias)]

    func testRandomWeightsFollowTheirRolesAndSeed() {
        let a = ModelWeights(random: specs, seed: 9), b = ModelWeights(random: specs, seed: 9)
        let c = ModelWeights(random: specs, seed: 10)
        XCTAssertEqual(a["conv.weight"].scalars, b["conv.weight"].scalars)
        XCTAssertNotEqual(a["conv.weight"].scalars, c["conv.weight"].scalars)
        let bound = Float((3.0 / 27).squareRoot())
        XCTAssertTrue(a["conv.weight"].scalars.allSatisfy { abs($0) <= bound })
        XCTAssertTrue(a["bn.weight"].scalars.allSatisfy { $0 >= 0.75 && $0 <= 1.25 })
        XCTAssertTrue(a["bn.running_var"].scalars.allSatisfy { $0 >= 0.5 && $0 <= 1.5 })
        XCTAssertEqual(a.source, "random(seed: 9)")
    }

    func testGeneratorMatchesTheFixtureScript() {
        // Values printed by tools/make_model_fixtures.py's numpy generator (uniform() and generated()).
        XCTAssertEqual(ModelWeights.generatedValues(name: "input", count: 3, seed: 0, center: 0.5, halfWidth: 0.5),
                       [0.6523603796958923, 0.20362424850463867, 0.2744446396827698])
        let range = ParameterRole.weight.randomRange(shape: [64, 3, 7, 7])
        XCTAssertEqual(range.halfWidth, 0.1428571492433548)
        XCTAssertEqual(ModelWeights.generatedValues(name: "conv1.weight", count: 4, seed: 18, center: range.center,
                                                    halfWidth: range.halfWidth),
                       [-0.07029390335083008, -0.07977276295423508, -0.010863457806408405, -0.05909226834774017])
    }

    func testLoadingAcceptsWrappersAndPrefixesAndIgnoresCounters() throws {
        let weights = ModelWeights(random: specs, seed: 1)
        let plain = weights.checkpoint(specs)
        var wrapped = Checkpoint(plain.names.map { ("state_dict.module." + $0, plain[$0]!) })
        wrapped["state_dict.module.bn.num_batches_tracked"] = CheckpointTensor(shape: [], values: [7])
        wrapped["optimizer.step"] = CheckpointTensor(shape: [], values: [1])
        let loaded = try ModelWeights(checkpoint: wrapped, expecting: specs, architecture: "toy", source: "toy.pth")
        for s in specs { XCTAssertEqual(loaded[s.name].scalars, weights[s.name].scalars, s.name) }
        XCTAssertEqual(loaded.source, "toy.pth")
    }

    func testMismatchNamesEveryOffendingKey() {
        let weights = ModelWeights(random: specs, seed: 1)
        var ckpt = weights.checkpoint(specs)
        ckpt["fc.bias"] = nil
        ckpt["bn.weight"] = CheckpointTensor(shape: [5], values: [Float](repeating: 1, count: 5))
        ckpt["head.weight"] = CheckpointTensor(shape: [1], values: [0])
        XCTAssertThrowsError(try ModelWeights(checkpoint: ckpt, expecting: specs, architecture: "toy", source: "bad.safetensors")) {
            let text = "\($0)"
            for fragment in ["bad.safetensors", "toy", "fc.bias", "head.weight", "bn.weight", "[4]", "[5]"] {
                XCTAssertTrue(text.contains(fragment), "'\(text)' does not mention \(fragment)")
            }
        }
    }

    func testModelFromSafetensorsFileMatchesTheRandomModelAndRecordsItsHash() throws {
        let dir = try ModelFixtures.temporaryDirectory(for: self)
        let arch = try ModelRegistry.architecture("resnet18")
        let weights = ModelWeights(random: arch.parameters, seed: 21)
        let url = dir.appendingPathComponent("resnet18-random.safetensors")
        try weights.checkpoint(arch.parameters).writeSafetensors(to: url)

        let loaded = try ModelRegistry.model("resnet18", weightsFile: url)
        let random = try ModelRegistry.randomModel("resnet18", seed: 21)
        XCTAssertEqual(loaded.identity.weights, "resnet18-random.safetensors")
        XCTAssertEqual(loaded.identity.weightsSHA256, try SHA256.hash(fileAt: url).hexString)
        XCTAssertEqual(random.identity.weights, "random(seed: 21)")
        let x = generatedInput([1, 3, 64, 64], seed: 21)
        XCTAssertEqual(withoutGradients { loaded.logits(x) }.scalars, withoutGradients { random.logits(x) }.scalars)

        XCTAssertThrowsError(try ModelRegistry.model("resnet34", weightsFile: url)) {
            XCTAssertTrue("\($0)".contains("layer1.2.conv1.weight"), "\($0)")
        }
    }
}
