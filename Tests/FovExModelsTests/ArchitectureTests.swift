import Foundation
import XCTest
@testable import FovExModels
import FovExTensor

/// Parameter names, shapes and order of all fourteen architectures against torchvision's ResNets and
/// the script's timm / lukemelas re-statements (architectures.json), and the models' named points.
final class ArchitectureTests: XCTestCase {
    func testEveryArchitectureMatchesItsReferenceLayout() throws {
        let data = try Data(contentsOf: ModelFixtures.url("architectures.json"))
        let layouts = try JSONDecoder().decode([String: [[Layout]]].self, from: data)
        XCTAssertEqual(Set(layouts.keys), Set(ModelRegistry.names))
        for name in ModelRegistry.names {
            let reference = try XCTUnwrap(layouts[name]).map { ($0[0].name!, $0[1].shape!) }
            let ours = try ModelRegistry.architecture(name).parameters
            XCTAssertEqual(ours.map(\.name), reference.map(\.0), "\(name) names")
            XCTAssertEqual(ours.map(\.shape), reference.map(\.1), "\(name) shapes")
        }
    }

    /// One element of the JSON's [name, shape] pairs.
    private enum Layout: Decodable {
        case name(String), shape([Int])
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let s = try? c.decode(String.self) { self = .name(s) } else { self = .shape(try c.decode([Int].self)) }
        }
        var name: String? { if case .name(let s) = self { return s } else { return nil } }
        var shape: [Int]? { if case .shape(let s) = self { return s } else { return nil } }
    }

    func testLiteScalingFollowsTheReference() {
        // TensorFlow's round_filters: 1.1 × 16 = 17.6 rounds to 16; 1.4 × 320 = 448.
        XCTAssertEqual(EfficientNetLite.Configuration.lite2.roundFilters(16), 16)
        XCTAssertEqual(EfficientNetLite.Configuration.lite4.roundFilters(320), 448)
        XCTAssertEqual(EfficientNetLite.Configuration.lite0.blocks.count, 16)
        XCTAssertEqual(EfficientNetLite.Configuration.lite4.blocks.count, 30)
    }

    func testResNetPointsAreStageAndBlockOutputs() throws {
        let model = try ModelRegistry.randomModel("resnet18", seed: 3)
        XCTAssertEqual(model.defaultCAMPoint, "layer4")
        XCTAssertEqual(Array(model.innerPoints.prefix(4)), ["conv1", "layer1.0", "layer1.1", "layer1"])
        let x = generatedInput([1, 3, 64, 64], seed: 3)
        let out = withoutGradients { model.forward(x, capturing: ["conv1", "layer4", "layer4.1", "layer3.0"]) }
        XCTAssertEqual(out.captured["conv1"]?.shape, [1, 64, 32, 32])
        XCTAssertEqual(out.captured["layer3.0"]?.shape, [1, 256, 4, 4])
        XCTAssertEqual(out.captured["layer4"]?.shape, [1, 512, 2, 2])
        // `layer4` is the last stage's output: the one the head pools and classifies.
        let weights = ModelWeights(random: try ModelRegistry.architecture("resnet18").parameters, seed: 3)
        let layer4 = try XCTUnwrap(out.captured["layer4"])
        let head = withoutGradients {
            layer4.mean(alongAxes: [2, 3]).linear(weight: weights["fc.weight"], bias: weights["fc.bias"])
        }
        for (a, b) in zip(head.scalars, out.logits.scalars) { XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(b))) }
        XCTAssertEqual(head.count, 1000)
        XCTAssertEqual(out.logits.shape, [1, 1000])
    }

    /// Without gradient recording a block's last convolution accumulates onto its shortcut in place; the logits are
    /// those of a recording run (which copies the shortcut) exactly, and a captured block output that the next
    /// block takes as its shortcut is returned untouched. (The differentiable ops' path: blocked chains, which
    /// compute in other layouts, are off; BlockedBodyTests checks them.)
    func testShortcutsAreConsumedInPlaceOnlyWhenNotCaptured() throws {
        // resnet18: layer1.1's shortcut is layer1.0's output; Lite0: _blocks.2's residual is _blocks.1's output.
        for (name, point) in [("resnet18", "layer1.0"), ("efficientnet-lite0", "_blocks.1")] {
            let model = try ModelRegistry.randomModel(name, seed: 3)
            (model as? ResNet)?.usesBlockedChains = false
            (model as? EfficientNetLite)?.usesBlockedChains = false
            let x = generatedInput([2, 3, 64, 64], seed: 5)
            let inference = withoutGradients { model.forward(x, capturing: []) }
            let recorded = model.forward(x.requiringGradient(), capturing: [point])
            XCTAssertTrue(inference.logits.scalars == recorded.logits.scalars, "\(name): logits differ from a recording run's")
            let captured = withoutGradients { model.forward(x, capturing: [point]) }
            XCTAssertTrue(captured.logits.scalars == recorded.logits.scalars, "\(name): logits differ when capturing")
            XCTAssertTrue(try XCTUnwrap(captured.captured[point]).scalars == XCTUnwrap(recorded.captured[point]).scalars,
                          "\(name): the captured \(point) was overwritten")
        }
    }

    func testLitePointsAndHead() throws {
        let model = try ModelRegistry.randomModel("efficientnet-lite0", seed: 3)
        XCTAssertEqual(model.defaultCAMPoint, "_conv_head")
        XCTAssertEqual(model.innerPoints.first, "_conv_stem")
        XCTAssertTrue(model.innerPoints.contains("_blocks.15"))
        let x = generatedInput([1, 3, 64, 64], seed: 3)
        let out = withoutGradients { model.forward(x, capturing: ["_conv_stem", "_blocks.3", "_conv_head"]) }
        XCTAssertEqual(out.captured["_conv_stem"]?.shape, [1, 32, 32, 32])
        XCTAssertEqual(out.captured["_blocks.3"]?.shape, [1, 40, 8, 8])
        XCTAssertEqual(out.captured["_conv_head"]?.shape, [1, 1280, 2, 2])
        // ReLU6 bounds the head activation.
        XCTAssertLessThanOrEqual(out.captured["_conv_head"]!.scalars.max()!, 6)
    }

    func testViTPointsSpatialMapAndTokenProjection() throws {
        let model = try XCTUnwrap(try ModelRegistry.randomModel("vit-ti16", seed: 4) as? VisionTransformer)
        XCTAssertEqual(model.defaultCAMPoint, "blocks.11.norm1")
        XCTAssertEqual(model.blockCount, 12)
        XCTAssertEqual(model.attentionProbabilitiesPoint(block: 3), "blocks.3.attn.probs")
        XCTAssertEqual(model.attentionOutputPoint(block: 3), "blocks.3.attn")
        let x = generatedInput([2, 3, 224, 224], seed: 4)
        let out = withoutGradients { model.forward(x, capturing: ["blocks.11.norm1", "blocks.3.attn.probs"]) }
        let probs = try XCTUnwrap(out.captured["blocks.3.attn.probs"])
        XCTAssertEqual(probs.shape, [2, 3, 197, 197])
        let rowSums = probs.sum(alongAxes: [3]).scalars
        XCTAssertEqual(rowSums.map { abs($0 - 1) }.max()!, 0, accuracy: 1e-5)

        let tokens = try XCTUnwrap(out.captured["blocks.11.norm1"])
        let map = model.spatialMap(of: tokens, at: "blocks.11.norm1")
        XCTAssertEqual(map.shape, [2, 192, 14, 14])
        // Grid cell (row 2, column 5) of image 1 is patch token 1 + 2·14 + 5.
        XCTAssertEqual(map[1, 7, 2, 5], tokens[1, 1 + 2 * 14 + 5, 7])

        // The final norm and head applied to every token reproduce the logits at the class token.
        let perToken = withoutGradients {
            model.projectTokensToClasses(model.forward(x, capturing: ["blocks.11"]).captured["blocks.11"]!)
        }
        XCTAssertEqual(perToken.shape, [2, 197, 1000])
        let atClassToken = perToken.selecting(axis: 1, index: 0).scalars, logits = out.logits.scalars
        let scale = logits.map(abs).max()!
        XCTAssertLessThan(zip(atClassToken, logits).map { abs($0 - $1) }.max()!, 1e-5 * scale)
    }

    func testViTCanSkipNormalisation() throws {
        let arch = try ModelRegistry.architecture("vit-ti16")
        let weights = ModelWeights(random: arch.parameters, seed: 5)
        let plain = VisionTransformer(.tiny, weights: weights, identity: ModelIdentity(architecture: "vit-ti16", weights: "r"),
                                      normalizesInput: false)
        let normalising = VisionTransformer(.tiny, weights: weights, identity: ModelIdentity(architecture: "vit-ti16", weights: "r"))
        let x = generatedInput([1, 3, 224, 224], seed: 5)
        // Feeding 2x − 1 without normalisation equals feeding x with mean = std = 0.5.
        let a = withoutGradients { plain.logits(x * 2 - 1) }, b = withoutGradients { normalising.logits(x) }
        let diff = zip(a.scalars, b.scalars).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(diff, 1e-4 * b.scalars.map(abs).max()!)
        XCTAssertEqual(plain.preprocessing.mean, [0, 0, 0])
    }

    func testUnknownModelNamesTheKnownOnes() {
        XCTAssertThrowsError(try ModelRegistry.architecture("resnet51")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("resnet51") && text.contains("efficientnet-lite0") && text.contains("vit-b16"), text)
        }
    }
}
