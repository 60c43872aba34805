import Foundation
import XCTest
@testable import FovExModels
import FovExTensor

/// The cascading re-initialisation behind `fovex sanity`: the layers' top-down order, which parameters
/// each step redraws, and that the redrawn values depend only on the seed.
final class LayerRandomizationTests: XCTestCase {
    func randomizable(_ name: String, seed: UInt64 = 3) throws -> any LayerRandomizable {
        try XCTUnwrap(try ModelRegistry.randomModel(name, seed: seed) as? any LayerRandomizable, "\(name) is not LayerRandomizable")
    }

    func testLayersRunFromTheLogitsDownToTheStemAndOwnEveryParameterOnce() throws {
        let expectations: [(String, [String], Int)] = [
            ("resnet18", ["fc", "layer4.1", "layer4.0", "layer3.1"], 10),
            ("efficientnet-lite0", ["_fc", "_conv_head", "_blocks.15", "_blocks.14"], 19),
            ("vit-ti16", ["head", "norm", "blocks.11", "blocks.10"], 15),
        ]
        for (name, top, count) in expectations {
            let layers = try randomizable(name).layersTopDown
            XCTAssertEqual(Array(layers.prefix(4).map(\.name)), top, name)
            XCTAssertEqual(layers.count, count, name)
            XCTAssertEqual(layers.last?.name, ["resnet18": "conv1", "efficientnet-lite0": "_conv_stem", "vit-ti16": "embedding"][name])
            let owned = layers.flatMap(\.parameters)
            XCTAssertEqual(Set(owned).count, owned.count, "\(name): a parameter is in two layers")
            XCTAssertEqual(Set(owned), Set(try ModelRegistry.architecture(name).parameters.map(\.name)), name)
        }
        let resnet = try randomizable("resnet18").layersTopDown
        XCTAssertEqual(resnet.first { $0.name == "layer2.0" }?.parameters.filter { $0.contains("downsample") }.count, 5,
                       "a block owns its downsample convolution and batch norm")
        XCTAssertEqual(resnet.last?.parameters, ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"])
    }

    func testEachStepRedrawsExactlyTheLayersAboveItFromTheSeed() throws {
        let specs = try ModelRegistry.architecture("efficientnet-lite0").parameters
        let trained = ModelWeights(random: specs, seed: 1)
        let layers = try randomizable("efficientnet-lite0").layersTopDown
        for k in [0, 1, 2, 7, layers.count] {
            let redrawn = trained.redrawing(Array(layers.prefix(k)), specs: specs, seed: 99)
            let again = trained.redrawing(Array(layers.prefix(k)), specs: specs, seed: 99)
            let other = trained.redrawing(Array(layers.prefix(k)), specs: specs, seed: 100)
            let changedLayers = Set(layers.prefix(k).flatMap(\.parameters))
            for spec in specs {
                let same = redrawn[spec.name].scalars == trained[spec.name].scalars
                XCTAssertEqual(same, !changedLayers.contains(spec.name), "step \(k): \(spec.name)")
                XCTAssertEqual(redrawn[spec.name].scalars, again[spec.name].scalars, "step \(k): \(spec.name) not deterministic")
                if changedLayers.contains(spec.name) {
                    XCTAssertNotEqual(redrawn[spec.name].scalars, other[spec.name].scalars, "step \(k): \(spec.name) ignores the seed")
                    // A layer's values are those of a fully random model of the seed, whatever the step.
                    XCTAssertEqual(redrawn[spec.name].scalars, ModelWeights(random: [spec], seed: 99)[spec.name].scalars)
                }
            }
        }
    }

    func testRandomisedModelsComputeWithTheRedrawnWeights() throws {
        for name in ["resnet18", "efficientnet-lite0", "vit-ti16"] {
            let model = try randomizable(name, seed: 3)
            let x = generatedInput([1, 3, 224, 224], seed: 5)
            let logits = model.logits(x).scalars
            let layers = model.layersTopDown.count
            XCTAssertEqual(model.randomizingLayers(0, seed: 8).logits(x).scalars, logits, "\(name): step 0 is the model itself")
            // Redrawing every layer from the model's own seed rebuilds the same weights.
            XCTAssertEqual(model.randomizingLayers(layers, seed: 3).logits(x).scalars, logits, name)
            let full = model.randomizingLayers(layers, seed: 8)
            XCTAssertEqual(full.logits(x).scalars, try ModelRegistry.randomModel(name, seed: 8).logits(x).scalars,
                           "\(name): full randomisation from seed 8 is the random model of seed 8")
            XCTAssertNotEqual(model.randomizingLayers(1, seed: 8).logits(x).scalars, logits, "\(name): the head was not redrawn")
            XCTAssertEqual(full.preprocessing, model.preprocessing)
            XCTAssertEqual(full.identity.architecture, name)
            XCTAssertTrue(full.identity.weights.contains("\(layers) layers re-initialised (seed 8)"), full.identity.weights)
        }
    }
}
