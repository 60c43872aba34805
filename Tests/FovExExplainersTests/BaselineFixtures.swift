import Foundation
import XCTest
import FovExCheckpoints
@testable import FovExModels
import FovExTensor

/// A PyTorch parity fixture written by tools/make_baseline_fixtures.py (`baseline_*.safetensors`):
/// model weights, inputs `x`, the reference maps by case name and each case's JSON settings.
struct BaselineFixture {
    let reader: SafetensorsReader
    let name: String

    init(_ name: String) throws {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil),
                                "the test bundle has no Fixtures folder")
        self.name = name
        reader = try SafetensorsReader(url: dir.appendingPathComponent(name + ".safetensors"))
    }

    func tensor(_ key: String) throws -> Tensor {
        let t = try reader.tensor(named: key)
        return Tensor(shape: t.shape, scalars: t.values)
    }

    func settings(_ key: String) throws -> [String: Any] {
        let json = try XCTUnwrap(reader.metadata[key], "\(name) has no settings for \(key)")
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
                             "settings of \(key) are not a JSON object")
    }

    /// The classes a case explains: explicit ones from its settings, or nil for top-1.
    func classes(_ key: String) throws -> [Int]? {
        try settings(key)["classes"] as? [Int]
    }

    /// The stored top-1 predictions of the reference model.
    func top1() throws -> [Int] { try tensor("top1").scalars.map { Int($0) } }

    /// The tensors whose names start with `prefix`, prefix removed, as a checkpoint.
    func checkpoint(prefix: String = "", names: [String]) throws -> Checkpoint {
        Checkpoint(try names.map { ($0, try reader.tensor(named: prefix + $0)) })
    }
}

/// The fixture's small CNN (see tools/make_baseline_fixtures.py): three ReLU convolutions up to
/// `features` [N, 16, 8, 8], a 1×1 convolution with tanh, a global mean and a linear layer.
final class FixtureCNN: ImageClassifier {
    private let p: [String: Tensor]

    init(_ fixture: BaselineFixture) throws {
        var p: [String: Tensor] = [:]
        for layer in ["conv1", "conv2", "conv3", "conv4", "fc"] {
            for kind in ["weight", "bias"] { p["\(layer).\(kind)"] = try fixture.tensor("cnn.\(layer).\(kind)") }
        }
        self.p = p
    }

    var identity: ModelIdentity { ModelIdentity(architecture: "fixture-cnn", weights: "baseline_cnn.safetensors") }
    var preprocessing: Preprocessing {
        Preprocessing(geometry: .direct(size: 32), interpolation: .bilinear, antialias: false,
                      mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
    }
    var classNames: [String] { (0..<10).map { "class \($0)" } }
    var innerPoints: [String] { ["features"] }
    var defaultCAMPoint: String { "features" }

    func forward(_ pixels: Tensor, capturing points: Set<String>) -> ClassifierOutput {
        func conv(_ x: Tensor, _ name: String, stride: Int = 1, padding: Int) -> Tensor {
            x.conv2d(weight: p[name + ".weight"]!, bias: p[name + ".bias"]!, stride: stride, padding: .symmetric(padding))
        }
        var h = conv(preprocessing.normalized(pixels), "conv1", padding: 1).relu()
        h = conv(h, "conv2", stride: 2, padding: 1).relu()
        let features = conv(h, "conv3", stride: 2, padding: 1).relu()
        let pooled = conv(features, "conv4", padding: 0).tanh().mean(alongAxes: [2, 3])
        return ClassifierOutput(logits: pooled.linear(weight: p["fc.weight"]!, bias: p["fc.bias"]!),
                                captured: points.contains("features") ? ["features": features] : [:])
    }
}

extension BaselineFixture {
    /// The fixture's tiny ViT as the project's own `VisionTransformer` with the stored weights.
    func visionTransformer() throws -> VisionTransformer {
        let model = try settings("model")
        let configuration = VisionTransformer.Configuration(
            dimension: try XCTUnwrap(model["dimension"] as? Int), depth: try XCTUnwrap(model["depth"] as? Int),
            heads: try XCTUnwrap(model["heads"] as? Int), patch: try XCTUnwrap(model["patch"] as? Int),
            imageSize: try XCTUnwrap(model["image_size"] as? Int))
        let classes = try XCTUnwrap(model["classes"] as? Int)
        let specs = VisionTransformer.parameters(configuration, classes: classes)
        let weights = try ModelWeights(checkpoint: try checkpoint(names: specs.map(\.name)), expecting: specs,
                                       architecture: "fixture-vit", source: name + ".safetensors")
        return VisionTransformer(configuration, weights: weights,
                                 identity: ModelIdentity(architecture: "fixture-vit", weights: name + ".safetensors"),
                                 classNames: (0..<classes).map { "class \($0)" })
    }
}

/// max |a − b| over two maps of equal shape.
func maxAbsDifference(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.shape == b.shape, "comparing maps of shapes \(a.shape) and \(b.shape)")
    return zip(a.scalars, b.scalars).reduce(0) { Swift.max($0, Swift.abs($1.0 - $1.1)) }
}
