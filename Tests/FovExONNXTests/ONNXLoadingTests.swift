import Foundation
import FovExModels
import FovExTensor
@testable import FovExONNX
import SwiftProtobuf
import XCTest

/// Reading files: external data, bad bytes, unsupported ops, a non-classifier output, batch-norm folding.
final class ONNXLoadingTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fovex-onnx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func resnetProto() throws -> Onnx_ModelProto {
        try Onnx_ModelProto(serializedBytes: Data(contentsOf: ONNXFixtures.url("resnet18-opset13.onnx")))
    }

    /// Every initializer moved to one data file beside the model (ONNX's external-data layout): the logits
    /// still match PyTorch's.
    func testExternalDataBesideTheFile() throws {
        var proto = try resnetProto()
        var blob = Data()
        for i in proto.graph.initializer.indices {
            var t = proto.graph.initializer[i]
            guard t.hasRawData else { continue }
            let entries = [("location", "weights.bin"), ("offset", "\(blob.count)"), ("length", "\(t.rawData.count)")]
            t.externalData = entries.map { k, v in
                var e = Onnx_StringStringEntryProto()
                e.key = k
                e.value = v
                return e
            }
            blob += t.rawData
            t.clearRawData()
            t.dataLocation = .external
            proto.graph.initializer[i] = t
        }
        XCTAssertGreaterThan(blob.count, 100_000)
        let url = directory.appendingPathComponent("model.onnx")
        try proto.serializedData().write(to: url)
        try blob.write(to: directory.appendingPathComponent("weights.bin"))
        let model = try ONNXClassifier(contentsOf: url, preprocessing: ONNXFixtures.raw(size: 64))
        let reference = try ONNXFixtures.reference("resnet18")
        XCTAssertLessThanOrEqual(relativeError(model.logits(reference["input"]!), reference["logits"]!), 1e-4)

        // A data file that is too short, or a location outside the model's directory, is refused by name.
        try blob.prefix(1000).write(to: directory.appendingPathComponent("weights.bin"))
        XCTAssertThrowsError(try ONNXModel(contentsOf: url)) { error in
            XCTAssertTrue("\(error)".contains("weights.bin") && "\(error)".contains("model.onnx"), "\(error)")
        }
        proto.graph.initializer[0].externalData[0].value = "../weights.bin"
        try proto.serializedData().write(to: url)
        XCTAssertThrowsError(try ONNXModel(contentsOf: url)) { error in
            XCTAssertTrue("\(error)".contains("leaves the model's directory"), "\(error)")
        }
    }

    /// A model path that is a device or a FIFO is refused by name before it is opened (`/dev/zero` never
    /// ends; opening a FIFO blocks until a writer comes).
    func testSpecialFilesAreRefusedBeforeOpening() throws {
        XCTAssertThrowsError(try ONNXModel(contentsOf: URL(fileURLWithPath: "/dev/zero"))) { error in
            XCTAssertTrue(error is ONNXError, "\(error)")
            XCTAssertTrue("\(error)".contains("a character device, not a regular file"), "\(error)")
        }
        let fifo = directory.appendingPathComponent("model.onnx")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        XCTAssertThrowsError(try ONNXModel(contentsOf: fifo)) { error in
            XCTAssertTrue("\(error)".contains("model.onnx"), "\(error)")
            XCTAssertTrue("\(error)".contains("a FIFO (named pipe), not a regular file"), "\(error)")
        }
    }

    func testGarbageIsAClearError() throws {
        let url = directory.appendingPathComponent("broken.onnx")
        try Data("this is not a protobuf \u{1}\u{2}\u{3}".utf8).write(to: url)
        XCTAssertThrowsError(try ONNXClassifier(contentsOf: url)) { error in
            XCTAssertTrue(error is ONNXError, "\(error)")
            XCTAssertTrue("\(error)".contains("broken.onnx"), "\(error)")
        }
        // Truncated real models fail the same way.
        let bytes = try Data(contentsOf: ONNXFixtures.url("vit-opset17.onnx"))
        for cut in [10, 1000, bytes.count / 2] {
            XCTAssertThrowsError(try ONNXClassifier(ONNXModel(serializedBytes: bytes.prefix(cut)),
                                                    identity: ModelIdentity(architecture: "onnx", weights: "cut")))
        }
    }

    /// Float initializers stored as raw little-endian bytes are read bit for bit (signed zero, a subnormal, a NaN
    /// payload and the extremes included), and raw data whose length does not fit the shape is an error that
    /// names the tensor, whether it is a byte short or a value long.
    func testRawFloatInitializersAreReadExactly() throws {
        let bits: [UInt32] = [0x0000_0000, 0x8000_0000, 0x0000_0001, 0x7fc0_1234, 0x7f7f_ffff, 0xff80_0000,
                              0x3f80_0000, 0xbeaa_aaab, 0x4049_0fdb, 0x0080_0000, 0x1234_5678, 0xc2f6_e979]
        func model(rawBytes: Data) throws -> ONNXModel {
            var t = Onnx_TensorProto()
            t.name = "w"
            t.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
            t.dims = [3, 4]
            t.rawData = rawBytes
            var proto = try resnetProto()
            proto.graph.initializer.append(t)
            return try ONNXModel(serializedBytes: proto.serializedData(), file: "raw.onnx")
        }
        var bytes = Data()
        for b in bits { withUnsafeBytes(of: b.littleEndian) { bytes.append(contentsOf: $0) } }
        guard case .float(let w)? = try model(rawBytes: bytes).initializers["w"] else { return XCTFail("no float tensor 'w'") }
        XCTAssertEqual(w.shape, [3, 4])
        XCTAssertEqual(w.scalars.map(\.bitPattern), bits)
        for wrong in [bytes.dropLast(), bytes + Data(count: 4)] {
            XCTAssertThrowsError(try model(rawBytes: Data(wrong))) { error in
                XCTAssertTrue("\(error)".contains("'w'") && "\(error)".contains("raw.onnx"), "\(error)")
            }
        }
    }

    /// An op this library does not run is named with its node, the opset and the file, before any work.
    func testUnsupportedOpIsNamed() throws {
        let proto = GraphBuilder.model([
            GraphBuilder.node("Relu", "first", ["x"], ["a"]),
            GraphBuilder.node("GridSample", "warp", ["a", "a"], ["b"]),
            GraphBuilder.node("GlobalAveragePool", "pool", ["b"], ["c"]),
            GraphBuilder.node("Flatten", "flat", ["c"], ["y"]),
        ], outputDims: [nil, 3], opset: 17)
        let url = directory.appendingPathComponent("custom.onnx")
        try proto.serializedData().write(to: url)
        XCTAssertThrowsError(try ONNXClassifier(contentsOf: url)) { error in
            guard let e = error as? UnsupportedONNXOperatorsError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.uses.map(\.opType), ["GridSample"])
            XCTAssertEqual(e.uses.map(\.node), ["warp"])
            XCTAssertEqual(e.opset, 17)
            let text = "\(e)"
            XCTAssertTrue(text.contains("custom.onnx") && text.contains("GridSample") && text.contains("'warp'")
                          && text.contains("opset 17"), text)
        }
        // A supported op with an attribute value it cannot take is named with the reason.
        var pool = GraphBuilder.node("MaxPool", "dilated", ["x"], ["p"])
        var kernel = Onnx_AttributeProto()
        (kernel.name, kernel.type, kernel.ints) = ("kernel_shape", .ints, [3, 3])
        var dilations = Onnx_AttributeProto()
        (dilations.name, dilations.type, dilations.ints) = ("dilations", .ints, [2, 2])
        pool.attribute = [kernel, dilations]
        var pad = GraphBuilder.node("Pad", "wrap", ["p", "pads"], ["y"])
        var mode = Onnx_AttributeProto()
        (mode.name, mode.type, mode.s) = ("mode", .string, Data("wrap".utf8))
        pad.attribute = [mode]
        let model = try ONNXModel(serializedBytes: GraphBuilder.model([pool, pad], outputDims: [nil, 3, 3, 3]).serializedData(),
                                  file: "pool.onnx")
        XCTAssertThrowsError(try ONNXProgram(model)) { error in
            guard let e = error as? UnsupportedONNXOperatorsError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.uses.map(\.node), ["dilated", "wrap"], "every unusable node, before any work")
            XCTAssertTrue("\(error)".contains("MaxPool at node 'dilated': dilations [2, 2] are not supported"), "\(error)")
            XCTAssertTrue("\(error)".contains("Pad at node 'wrap': mode = 'wrap' is not supported"), "\(error)")
            XCTAssertTrue("\(error)".contains("pool.onnx") && "\(error)".contains("opset 13"), "\(error)")
        }
    }

    func testOutputThatIsNotClassScoresIsRefused() throws {
        let proto = GraphBuilder.model([GraphBuilder.node("GlobalAveragePool", "pool", ["x"], ["y"])], outputDims: [nil, 3, 1, 1])
        let url = directory.appendingPathComponent("pool.onnx")
        try proto.serializedData().write(to: url)
        XCTAssertThrowsError(try ONNXClassifier(contentsOf: url)) { error in
            XCTAssertTrue("\(error)".contains("[1, 3, 1, 1]") && "\(error)".contains("[N, classes]"), "\(error)")
        }
    }

    /// Uses of opsets 7 to 10 that the library does not implement are named before any work: a per-activation
    /// batch norm (`spatial` = 0, opsets 7 and 8), Upsample's cubic mode (the spec has nearest and linear), and an
    /// LRN window of no channels.
    func testUnimplementedLegacyUsesAreNamed() throws {
        func attribute(_ name: String, int: Int64? = nil, string: String? = nil) -> Onnx_AttributeProto {
            var a = Onnx_AttributeProto()
            a.name = name
            if let int { (a.type, a.i) = (.int, int) }
            if let string { (a.type, a.s) = (.string, Data(string.utf8)) }
            return a
        }
        var norm = GraphBuilder.node("BatchNormalization", "per-activation", ["x", "s", "b", "m", "v"], ["a"])
        norm.attribute = [attribute("spatial", int: 0)]
        var upsample = GraphBuilder.node("Upsample", "cubic", ["a"], ["b"])
        var scales = Onnx_AttributeProto()
        (scales.name, scales.type, scales.floats) = ("scales", .floats, [1, 1, 2, 2])
        upsample.attribute = [attribute("mode", string: "cubic"), scales]
        var lrn = GraphBuilder.node("LRN", "empty-window", ["b"], ["y"])
        lrn.attribute = [attribute("size", int: 0)]
        let model = try ONNXModel(serializedBytes: GraphBuilder.model([norm, upsample, lrn], outputDims: [nil, 3, 16, 16],
                                                                      opset: 8).serializedData(), file: "caffe.onnx")
        XCTAssertThrowsError(try ONNXProgram(model)) { error in
            guard let e = error as? UnsupportedONNXOperatorsError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.uses.map(\.node), ["per-activation", "cubic", "empty-window"], "\(error)")
            XCTAssertTrue("\(error)".contains("attribute spatial = 0 is not supported"), "\(error)")
            XCTAssertTrue("\(error)".contains("mode = 'cubic' is not supported"), "\(error)")
            XCTAssertTrue("\(error)".contains("size = 0 must be positive"), "\(error)")
        }
    }

    /// Quantized graphs: a DequantizeLinear reading a QuantizeLinear of another scale, blocked quantization and
    /// an operator-oriented op this library does not expand are named before any work.
    func testUnimplementedQuantizationUsesAreNamed() throws {
        var proto = GraphBuilder.model([
            GraphBuilder.node("QuantizeLinear", "quantize", ["x", "s1", "z"], ["q"]),
            GraphBuilder.node("DequantizeLinear", "other-scale", ["q", "s2", "z"], ["a"]),
            GraphBuilder.node("QuantizeLinear", "blocked", ["a", "s1", "z"], ["b"]),
            GraphBuilder.node("QLinearSoftmax", "softmax", ["b"], ["y"]),
        ], outputDims: [nil, 3], opset: 21)
        proto.graph.node[3].domain = "com.microsoft"
        var block = Onnx_AttributeProto()
        (block.name, block.type, block.i) = ("block_size", .int, 4)
        proto.graph.node[2].attribute = [block]
        for (name, value) in [("s1", Float(0.5)), ("s2", 0.25)] {
            var t = Onnx_TensorProto()
            (t.name, t.dataType, t.floatData) = (name, Int32(Onnx_TensorProto.DataType.float.rawValue), [value])
            proto.graph.initializer.append(t)
        }
        var zero = Onnx_TensorProto()
        (zero.name, zero.dataType, zero.rawData) = ("z", Int32(Onnx_TensorProto.DataType.uint8.rawValue), Data([0]))
        proto.graph.initializer.append(zero)
        let model = try ONNXModel(serializedBytes: proto.serializedData(), file: "int8.onnx")
        XCTAssertThrowsError(try ONNXProgram(model)) { error in
            guard let e = error as? UnsupportedONNXOperatorsError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.uses.map(\.opType), ["com.microsoft.QLinearSoftmax"], "unknown ops are listed first, alone")
        }
        proto.graph.node.removeLast()
        proto.graph.node[2].output = ["y"]
        proto.graph.output[0].name = "y"
        let known = try ONNXModel(serializedBytes: proto.serializedData(), file: "int8.onnx")
        XCTAssertThrowsError(try ONNXProgram(known)) { error in
            guard let e = error as? UnsupportedONNXOperatorsError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.uses.map(\.node), ["other-scale", "blocked"], "\(error)")
            XCTAssertTrue("\(error)".contains("differs from those of the QuantizeLinear it reads"), "\(error)")
            XCTAssertTrue("\(error)".contains("blocked quantization (block_size) is not supported"), "\(error)")
        }
    }

    func testOpsetOutsideTheSupportedRangeIsRefused() throws {
        let proto = GraphBuilder.model([GraphBuilder.node("Relu", "r", ["x"], ["y"])], outputDims: [nil, 3, 8, 8], opset: 6)
        let model = try ONNXModel(serializedBytes: proto.serializedData(), file: "old.onnx")
        XCTAssertThrowsError(try ONNXProgram(model)) { error in
            XCTAssertTrue("\(error)".contains("old.onnx") && "\(error)".contains("opset 6"), "\(error)")
        }
    }

    /// A BatchNormalization after a convolution (as exporters write in training mode or from other frameworks)
    /// is folded into it. The stem's weights are halved and its bias moved by the mean, and a batch norm with
    /// scale 2·√(var + ε) undoes both: the logits must stay PyTorch's, which needs every statistic applied.
    func testBatchNormalizationFoldsIntoTheConvolution() throws {
        var proto = try resnetProto()
        let conv = proto.graph.node.firstIndex { $0.opType == "Conv" }!
        let weightName = proto.graph.node[conv].input[1], biasName = proto.graph.node[conv].input[2]
        func floats(_ name: String) -> [Float] {
            let t = proto.graph.initializer.first { $0.name == name }!
            return t.rawData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
        func setFloats(_ name: String, _ values: [Float], dims: [Int64]? = nil) {
            var t = Onnx_TensorProto()
            t.name = name
            t.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
            t.dims = dims ?? [Int64(values.count)]
            t.rawData = values.withUnsafeBufferPointer { Data(buffer: $0) }
            if let i = proto.graph.initializer.firstIndex(where: { $0.name == name }) {
                t.dims = proto.graph.initializer[i].dims
                proto.graph.initializer[i] = t
            } else { proto.graph.initializer.append(t) }
        }
        let channels = floats(biasName).count
        let mean = (0..<channels).map { Float($0) * 0.1 - 0.3 }, variance = (0..<channels).map { Float($0) * 0.05 + 0.5 }
        let eps: Float = 1e-5
        setFloats(weightName, floats(weightName).map { $0 / 2 })
        setFloats(biasName, zip(floats(biasName), mean).map { $0 / 2 + $1 })
        setFloats("bn.scale", variance.map { 2 * ($0 + eps).squareRoot() })
        setFloats("bn.bias", [Float](repeating: 0, count: channels))
        setFloats("bn.mean", mean)
        setFloats("bn.var", variance)
        let convOut = proto.graph.node[conv].output[0]
        proto.graph.node[conv].output[0] = "conv.raw"
        var bn = GraphBuilder.node("BatchNormalization", "bn", ["conv.raw", "bn.scale", "bn.bias", "bn.mean", "bn.var"], [convOut])
        var epsilon = Onnx_AttributeProto()
        (epsilon.name, epsilon.type, epsilon.f) = ("epsilon", .float, eps)
        bn.attribute = [epsilon]
        proto.graph.node.insert(bn, at: conv + 1)

        let model = try ONNXModel(serializedBytes: proto.serializedData(), file: "bn.onnx")
        let program = try ONNXProgram(model)
        XCTAssertFalse(program.steps.contains { $0.node.opType == "BatchNormalization" }, "folded into the convolution")
        let classifier = try ONNXClassifier(model, identity: ModelIdentity(architecture: "onnx", weights: "bn.onnx"),
                                            preprocessing: ONNXFixtures.raw(size: 64))
        let reference = try ONNXFixtures.reference("resnet18")
        XCTAssertLessThanOrEqual(relativeError(classifier.logits(reference["input"]!), reference["logits"]!), 1e-4)
    }

    /// A model-local function's attribute that refers to one of the function's (`ref_attr_name`) takes the call's
    /// value, else the function's default; a function that calls itself is refused, not expanded forever.
    func testLocalFunctionsTakeTheCallsAttributesOrTheirDefaults() throws {
        var slope = Onnx_AttributeProto()
        (slope.name, slope.type, slope.f) = ("slope", .float, 0.5)
        var alpha = Onnx_AttributeProto()
        (alpha.name, alpha.type, alpha.refAttrName) = ("alpha", .float, "slope")
        var leaky = GraphBuilder.node("LeakyRelu", "inner", ["in"], ["out"])
        leaky.attribute = [alpha]
        var function = Onnx_FunctionProto()
        (function.name, function.domain, function.input, function.output) = ("Leaky", "local", ["in"], ["out"])
        function.attribute = ["slope"]
        function.attributeProto = [slope]
        function.node = [leaky]
        var withDefault = GraphBuilder.node("Leaky", "first", ["x"], ["h"])
        withDefault.domain = "local"
        var withValue = GraphBuilder.node("Leaky", "second", ["h"], ["y"])
        withValue.domain = "local"
        var given = Onnx_AttributeProto()
        (given.name, given.type, given.f) = ("slope", .float, 0.1)
        withValue.attribute = [given]
        var proto = GraphBuilder.model([withDefault, withValue], outputDims: [nil, 3, 8, 8], opset: 15)
        var local = Onnx_OperatorSetIdProto()
        (local.domain, local.version) = ("local", 1)
        proto.opsetImport.append(local)
        proto.functions = [function]
        let program = try ONNXProgram(ONNXModel(serializedBytes: proto.serializedData(), file: "functions.onnx"))
        let x = Tensor(shape: [1, 3, 8, 8], scalars: (0..<192).map { Float($0 % 7) - 3 })
        let y = try program.run(x).output
        // Negative inputs scaled by 0.5 (the default), then by 0.1 (the call's value).
        XCTAssertEqual(y.scalars, x.scalars.map { $0 < 0 ? $0 * 0.05 : $0 })

        var recursive = function
        recursive.node = [{ var n = GraphBuilder.node("Leaky", "again", ["in"], ["out"]); n.domain = "local"; return n }()]
        proto.functions = [recursive]
        XCTAssertThrowsError(try ONNXModel(serializedBytes: proto.serializedData(), file: "functions.onnx")) { error in
            XCTAssertTrue("\(error)".hasPrefix("functions.onnx: function 'Leaky' (domain local) nests more than 64 deep"), "\(error)")
        }

        // Forty functions each calling the next twice would inline to 2^40 nodes: refused once the count passes the
        // limit, not expanded.
        proto.functions = (0..<40).map { level in
            var f = Onnx_FunctionProto()
            (f.name, f.domain, f.input, f.output) = ("F\(level)", "local", ["in"], ["out"])
            if level == 39 {
                f.node = [GraphBuilder.node("Relu", "leaf", ["in"], ["out"])]
            } else {
                f.node = ["a", "b"].map { part in
                    var n = GraphBuilder.node("F\(level + 1)", part, [part == "a" ? "in" : "mid"], [part == "a" ? "mid" : "out"])
                    n.domain = "local"
                    return n
                }
            }
            return f
        }
        var call = GraphBuilder.node("F0", "call", ["x"], ["y"])
        call.domain = "local"
        proto.graph.node = [call]
        XCTAssertThrowsError(try ONNXModel(serializedBytes: proto.serializedData(), file: "functions.onnx")) { error in
            XCTAssertTrue("\(error)".contains("more than 1000000 nodes"), "\(error)")
        }
    }
}
