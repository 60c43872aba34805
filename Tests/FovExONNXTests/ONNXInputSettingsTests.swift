import Foundation
import FovExModels
import FovExTensor
@testable import FovExONNX
import SwiftProtobuf
import XCTest

/// Preprocessing and labels from a file's `metadata_props` and from the caller, the torchvision defaults,
/// and the opsets a file may import.
final class ONNXInputSettingsTests: XCTestCase {
    /// With nothing recorded: torchvision's evaluation transform (Resize(256) + CenterCrop(224) for 224,
    /// Resize(342) + CenterCrop(299) for Inception's 299), bilinear, ImageNet's normalisation.
    func testDefaultsAreTorchvisionsEvaluationTransform() throws {
        let p = try ONNXInputSettings().preprocessing(declaredSize: nil, file: "m.onnx")
        XCTAssertEqual(p.geometry, .shortSideThenCenterCrop(resize: 256, crop: 224))
        XCTAssertEqual(p.interpolation, .bilinear)
        XCTAssertEqual(p.mean, [0.485, 0.456, 0.406])
        XCTAssertEqual(p.std, [0.229, 0.224, 0.225])
        XCTAssertEqual(try ONNXInputSettings().preprocessing(declaredSize: 299, file: "m.onnx").geometry,
                       .shortSideThenCenterCrop(resize: 342, crop: 299))
        var direct = ONNXInputSettings()
        direct.resize = .direct
        XCTAssertEqual(try direct.preprocessing(declaredSize: 64, file: "m.onnx").geometry, .direct(size: 64))
        var tooShort = ONNXInputSettings()
        (tooShort.resize, tooShort.inputSize) = (.shortSide(200), 224)
        XCTAssertThrowsError(try tooShort.preprocessing(declaredSize: nil, file: "m.onnx")) { error in
            XCTAssertEqual("\(error)", "m.onnx: the resize (short side 200) is smaller than the crop 224")
        }
    }

    /// timm's `pretrained_cfg` names (input_size as (C, H, W), crop_pct, interpolation, mean, std) and a
    /// JSON object of class names.
    func testTimmStyleMetadata() throws {
        let s = try ONNXInputSettings(metadata: [
            "input_size": "(3, 288, 288)", "crop_pct": "0.95", "interpolation": "bicubic",
            "mean": "[0.5, 0.5, 0.5]", "std": "0.5 0.5 0.5", "class_names": #"{"1": "dog", "0": "cat"}"#,
            "author": "ignored",
        ], file: "timm.onnx")
        XCTAssertEqual(s.labels, ["cat", "dog"])
        let p = try s.preprocessing(declaredSize: 224, file: "timm.onnx")
        XCTAssertEqual(p.geometry, .shortSideThenCenterCrop(resize: 303, crop: 288), "round(288 / 0.95) = 303")
        XCTAssertEqual(p.interpolation, .bicubic)
        XCTAssertEqual(p.mean, [0.5, 0.5, 0.5])
        XCTAssertEqual(p.std, [0.5, 0.5, 0.5])

        let plain = try ONNXInputSettings(metadata: ["resize": "40", "crop": "32", "preprocess": "raw",
                                                     "interpolation": "nearest", "labels": "a\nb\n\n"], file: "m.onnx")
        XCTAssertEqual(plain.labels, ["a", "b"])
        let q = try plain.preprocessing(declaredSize: nil, file: "m.onnx")
        XCTAssertEqual(q.geometry, .shortSideThenCenterCrop(resize: 40, crop: 32))
        XCTAssertEqual(q.interpolation, .nearest)
        XCTAssertEqual(q.mean, [0, 0, 0])
        XCTAssertEqual(q.std, [1, 1, 1])
    }

    /// A value that cannot be read names the file, the key and the value.
    func testUnreadableMetadataIsNamed() {
        for (key, value) in [("input_size", "[3, 224, 200]"), ("input_size", "big"), ("resize", "-3"), ("crop_pct", "1.5"),
                             ("interpolation", "lanczos"), ("preprocess", "tf"), ("mean", "0.5,0.5"),
                             ("std", "[0.2, 0, 0.2]"), ("labels", "[1, 2]"), ("class_names", #"{"0": "a", "2": "c"}"#)] {
            XCTAssertThrowsError(try ONNXInputSettings(metadata: [key: value], file: "meta.onnx"), key) { error in
                XCTAssertTrue(error is ONNXError, "\(error)")
                XCTAssertTrue("\(error)".hasPrefix("meta.onnx: metadata '\(key)' = '\(value)': "), "\(error)")
            }
        }
    }

    /// The caller's settings win; a preset given by the caller replaces the recorded mean and std as a whole,
    /// a lone mean keeps the recorded std.
    func testCallerSettingsOverrideMetadata() throws {
        let recorded = try ONNXInputSettings(metadata: ["input_size": "32", "mean": "0.1,0.2,0.3", "std": "0.4,0.5,0.6",
                                                        "interpolation": "bicubic", "resize": "direct"], file: "m.onnx")
        var given = ONNXInputSettings()
        given.inputSize = 48
        given.preset = .inception
        var p = try given.overriding(recorded).preprocessing(declaredSize: nil, file: "m.onnx")
        XCTAssertEqual(p.geometry, .direct(size: 48))
        XCTAssertEqual(p.interpolation, .bicubic)
        XCTAssertEqual(p.mean, [0.5, 0.5, 0.5])
        XCTAssertEqual(p.std, [0.5, 0.5, 0.5])
        given = ONNXInputSettings()
        given.mean = [0, 0, 0]
        given.resize = .shortSide(40)
        p = try given.overriding(recorded).preprocessing(declaredSize: nil, file: "m.onnx")
        XCTAssertEqual(p.geometry, .shortSideThenCenterCrop(resize: 40, crop: 32))
        XCTAssertEqual(p.mean, [0, 0, 0])
        XCTAssertEqual(p.std, [0.4, 0.5, 0.6])
    }

    /// A file that records its preprocessing and labels loads with them: the ViT fixture told (in its
    /// metadata) to take its input unnormalised at 32 px gives PyTorch's logits, with the recorded names.
    func testClassifierReadsItsFilesMetadata() throws {
        var proto = try Onnx_ModelProto(serializedBytes: Data(contentsOf: ONNXFixtures.url("vit-opset13.onnx")))
        let names = (0..<10).map { "kind \($0)" }
        let json = String(decoding: try JSONSerialization.data(withJSONObject: names), as: UTF8.self)
        proto.metadataProps = [("preprocess", "raw"), ("input_size", "32"), ("resize", "direct"), ("labels", json)].map { k, v in
            var e = Onnx_StringStringEntryProto()
            (e.key, e.value) = (k, v)
            return e
        }
        let model = try ONNXModel(serializedBytes: proto.serializedData(), file: "vit-meta.onnx")
        let classifier = try ONNXClassifier(model, identity: ModelIdentity(architecture: "onnx", weights: "vit-meta.onnx"))
        XCTAssertEqual(classifier.classNames, names)
        XCTAssertEqual(classifier.preprocessing.geometry, .direct(size: 32))
        let reference = try ONNXFixtures.reference("vit")
        XCTAssertLessThanOrEqual(relativeError(classifier.logits(reference["input"]!), reference["logits"]!), 1e-4)

        // Names that do not match the outputs are refused with both counts.
        proto.metadataProps[3].value = #"["a", "b"]"#
        let wrong = try ONNXModel(serializedBytes: proto.serializedData(), file: "vit-meta.onnx")
        XCTAssertThrowsError(try ONNXClassifier(wrong, identity: ModelIdentity(architecture: "onnx", weights: "x"))) { error in
            XCTAssertTrue("\(error)".contains("10 outputs, but 2 class names"), "\(error)")
        }
    }

    /// Opsets 11 to 28 load and run (the same small graph imported at each); 10 and 29 are refused by name.
    /// Keras's preprocessing modes: `caffe` (BGR, 0…255 less the means) and 0…255 pixels; the channel order from
    /// the preset, the metadata or the caller, the caller's preset bringing its own.
    func testKerasPresetsAndChannelOrder() throws {
        var caffe = ONNXInputSettings()
        caffe.preset = .caffe
        let p = try caffe.preprocessing(declaredSize: 224, file: "m.onnx")
        // (x − mean) / std on [0, 1] pixels is Keras's x·255 − (123.68, 116.779, 103.939) for R, G, B.
        for (got, expected) in zip(p.mean.map { $0 * 255 }, [123.68, 116.779, 103.939] as [Float]) {
            XCTAssertEqual(got, expected, accuracy: 1e-4)
        }
        XCTAssertEqual(p.std, [1 / 255, 1 / 255, 1 / 255])
        XCTAssertEqual(caffe.resolvedChannelOrder, .bgr)
        XCTAssertEqual(ONNXInputSettings().resolvedChannelOrder, .rgb)

        let recorded = try ONNXInputSettings(metadata: ["preprocess": "raw255", "channel_order": "BGR"], file: "k.onnx")
        XCTAssertEqual(recorded.resolvedChannelOrder, .bgr)
        XCTAssertEqual(try recorded.preprocessing(declaredSize: nil, file: "k.onnx").std, [1 / 255, 1 / 255, 1 / 255])
        XCTAssertEqual(ONNXInputSettings().overriding(recorded).resolvedChannelOrder, .bgr, "the file's order when the caller gives none")
        var imagenet = ONNXInputSettings()
        imagenet.preset = .imagenet
        XCTAssertEqual(imagenet.overriding(recorded).resolvedChannelOrder, .rgb, "a preset given replaces the file's normalisation")
        var order = ONNXInputSettings()
        order.channelOrder = .rgb
        XCTAssertEqual(order.overriding(try ONNXInputSettings(metadata: ["preprocess": "caffe"], file: "k.onnx")).resolvedChannelOrder, .rgb)
        XCTAssertThrowsError(try ONNXInputSettings(metadata: ["channel_order": "grb"], file: "k.onnx")) { error in
            XCTAssertEqual("\(error)", "k.onnx: metadata 'channel_order' = 'grb': expected rgb or bgr")
        }
    }

    /// A BGR model fed RGB pixels computes what an RGB model computes on the pixels with their channels reversed.
    func testBGRModelReversesTheChannels() throws {
        let reference = try ONNXFixtures.reference("keras_cnn")
        let x = reference["input"]!
        let url = ONNXFixtures.url("keras_cnn-opset13.onnx")
        let rgb = try ONNXClassifier(contentsOf: url, preprocessing: ONNXFixtures.raw(size: 32))
        let bgr = try ONNXClassifier(contentsOf: url, preprocessing: ONNXFixtures.raw(size: 32), channelOrder: .bgr)
        XCTAssertEqual(bgr.channelOrder, .bgr)
        let reversed = Tensor.concatenate([2, 1, 0].map { x.sliced(axis: 1, $0..<($0 + 1)) }, axis: 1)
        XCTAssertLessThanOrEqual(relativeError(bgr.logits(x), rgb.logits(reversed)), 1e-6)
        XCTAssertGreaterThan(relativeError(bgr.logits(x), rgb.logits(x)), 1e-3, "the order changes the logits")
    }

    func testOpsetsSevenToTwentyEightAreAccepted() throws {
        let nodes = [GraphBuilder.node("Relu", "relu", ["x"], ["a"]), GraphBuilder.node("GlobalAveragePool", "pool", ["a"], ["b"]),
                     GraphBuilder.node("Flatten", "flat", ["b"], ["y"])]
        let pixels = Tensor(shape: [1, 3, 8, 8], scalars: (0..<192).map { Float($0 % 7) / 7 - 0.3 })
        let expected = withoutGradients { pixels.relu().mean(alongAxes: [2, 3]) }
        for opset in 7...28 {
            let model = try ONNXModel(serializedBytes: GraphBuilder.model(nodes, outputDims: [nil, 3], opset: Int64(opset)).serializedData(),
                                      file: "opset\(opset).onnx")
            let classifier = try ONNXClassifier(model, identity: ModelIdentity(architecture: "onnx", weights: "x"),
                                                preprocessing: ONNXFixtures.raw(size: 8))
            XCTAssertEqual(classifier.model.opset, opset)
            XCTAssertLessThanOrEqual(relativeError(classifier.logits(pixels), expected.reshaped([1, 3])), 1e-6, "opset \(opset)")
        }
        for opset in [6, 29] {
            let model = try ONNXModel(serializedBytes: GraphBuilder.model(nodes, outputDims: [nil, 3], opset: Int64(opset)).serializedData(),
                                      file: "opset\(opset).onnx")
            XCTAssertThrowsError(try ONNXClassifier(model, identity: ModelIdentity(architecture: "onnx", weights: "x"))) { error in
                XCTAssertEqual("\(error)", "opset\(opset).onnx: opset \(opset) is outside the supported 7…28")
            }
        }
    }

    /// Token outputs [N, T, C] are not class scores: refused, naming the shape.
    func testTokenOutputIsRefused() throws {
        let nodes = [GraphBuilder.node("Reshape", "tokens", ["x", "shape"], ["y"])]
        var proto = GraphBuilder.model(nodes, outputDims: [nil, 64, 3])
        var shape = Onnx_TensorProto()
        (shape.name, shape.dataType, shape.dims, shape.int64Data) = ("shape", Int32(Onnx_TensorProto.DataType.int64.rawValue), [3], [1, 64, 3])
        proto.graph.initializer = [shape]
        let model = try ONNXModel(serializedBytes: proto.serializedData(), file: "tokens.onnx")
        XCTAssertThrowsError(try ONNXClassifier(model, identity: ModelIdentity(architecture: "onnx", weights: "x"),
                                                preprocessing: ONNXFixtures.raw(size: 8))) { error in
            XCTAssertTrue("\(error)".hasPrefix("tokens.onnx: output 'y' has shape [1, 64, 3]"), "\(error)")
            XCTAssertTrue("\(error)".contains("must be [N, classes]"), "\(error)")
        }
    }
}
