import Foundation
import FovExCheckpoints
import FovExModels
import FovExTensor
@testable import FovExONNX

/// The committed fixtures written by tools/make_onnx_fixtures.py.
enum ONNXFixtures {
    static func url(_ name: String) -> URL {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent(name)
    }

    /// PyTorch's input, logits seed, logits and input gradient for a family.
    static func reference(_ family: String) throws -> [String: Tensor] {
        try load(url("\(family).safetensors"))
    }

    /// Every tensor of a safetensors file.
    static func load(_ file: URL) throws -> [String: Tensor] {
        let checkpoint = try Checkpoint.load(file)
        var out: [String: Tensor] = [:]
        for name in checkpoint.names {
            let t = checkpoint[name]!
            out[name] = Tensor(shape: t.shape, scalars: t.values)
        }
        return out
    }

    /// Preprocessing that passes pixels through unchanged, so that the fixture input reaches the graph as is.
    static func raw(size: Int) -> Preprocessing {
        Preprocessing(geometry: .direct(size: size), interpolation: .bilinear, antialias: false, mean: [0, 0, 0], std: [1, 1, 1])
    }
}

/// max |a − b| / max |b|.
func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.shape == b.shape, "shapes \(a.shape) and \(b.shape)")
    let x = a.scalars, y = b.scalars
    let scale = y.map { abs($0) }.max() ?? 1
    return zip(x, y).map { abs($0 - $1) }.max()! / max(scale, 1e-30)
}

/// Builders of small hand-made graphs for the error-path tests.
enum GraphBuilder {
    static func valueInfo(_ name: String, _ dims: [Int64?]) -> Onnx_ValueInfoProto {
        var v = Onnx_ValueInfoProto()
        v.name = name
        v.type.tensorType.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        v.type.tensorType.shape.dim = dims.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            if let d { dim.dimValue = d } else { dim.dimParam = "batch" }
            return dim
        }
        return v
    }

    static func node(_ op: String, _ name: String, _ inputs: [String], _ outputs: [String]) -> Onnx_NodeProto {
        var n = Onnx_NodeProto()
        n.opType = op
        n.name = name
        n.input = inputs
        n.output = outputs
        return n
    }

    /// A model with one [N, 3, 8, 8] input `x`, the given nodes and output `y`.
    static func model(_ nodes: [Onnx_NodeProto], outputDims: [Int64?], opset: Int64 = 13) -> Onnx_ModelProto {
        var m = Onnx_ModelProto()
        m.irVersion = 8
        var op = Onnx_OperatorSetIdProto()
        op.version = opset
        m.opsetImport = [op]
        m.graph.name = "test"
        m.graph.node = nodes
        m.graph.input = [valueInfo("x", [nil, 3, 8, 8])]
        m.graph.output = [valueInfo("y", outputDims)]
        return m
    }
}

/// The data directory: $FOVEX_DATA, or ../shared/data next to the package root.
func dataDirectory() -> URL {
    if let env = ProcessInfo.processInfo.environment["FOVEX_DATA"], !env.isEmpty { return URL(fileURLWithPath: env) }
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    return packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data")
}
