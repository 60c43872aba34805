#!/usr/bin/env python3
"""Parity of full-size Keras applications converted by tf2onnx: FovEx against TensorFlow and onnxruntime.

For each model (default: the list below) and opset (default 13 and 17), in a temporary directory deleted afterwards:
  1. export   tf.keras.applications.NAME(weights=None) (random weights, the softmax head Keras classifiers carry),
              converted by tf2onnx with a free batch axis; the graph's input is channels-last [N, H, W, 3];
  2. check    onnx.checker (full check); onnxruntime on the graph with its final Softmax cut off (the graph output
              moved to the Softmax's input), fed the transposed input: `ort_logits`; TensorFlow's logits (the same
              weights with classifier_activation=None): `torch_logits` (the name the Swift side reads). A file
              onnxruntime refuses is reported with what `fovex models inspect` says of it (build fovex first);
  3. FovEx    the Swift test ONNXFullSizeParityTests with FOVEX_ONNX_PARITY_DIR set (build the tests first), which
              loads the unmodified file: FovEx leaves the final Softmax out and lays the channels-first input out.

Run with an interpreter that has TensorFlow, tf2onnx, onnx and onnxruntime (none is a dependency of the project):
    python3 -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install tensorflow-cpu==2.15.1 tf2onnx==1.17.0 onnx==1.15.0 onnxruntime==1.17.3
    /tmp/tfenv/bin/python tools/onnx_parity_keras.py [--opsets 13,17] [MODEL ...]
"""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_io  # noqa: E402
import onnx_parity_full  # noqa: E402  (its report: FovEx's side and the table's lines)

MODELS = ["ResNet50", "MobileNetV2", "MobileNetV3Small", "EfficientNetB0", "EfficientNetV2B0", "DenseNet121",
          "InceptionV3", "Xception", "ConvNeXtTiny", "RegNetX002", "NASNetMobile"]


def export_and_check(directory, name, opsets):
    import onnx
    import onnxruntime
    import tensorflow as tf
    import tf2onnx
    tf.random.set_seed(0)
    build = getattr(tf.keras.applications, name)
    model = build(weights=None)
    twin = build(weights=None, classifier_activation=None)
    twin.set_weights(model.get_weights())
    size = model.input_shape[1] or 224  # MobileNetV3 declares a free size
    # Keras applications take 0–255 pixels (most normalise inside the graph); the Swift side passes `input` through
    # unchanged, channels-first.
    pixels = np.random.default_rng(7).uniform(0, 255, (1, 3, size, size)).astype(np.float32)
    logits = twin(tf.constant(pixels.transpose(0, 2, 3, 1)), training=False).numpy()
    results = {}
    for opset in opsets:
        stem = os.path.join(directory, f"keras-{name}-opset{opset}")
        spec = [tf.TensorSpec([None, size, size, 3], tf.float32, name="input")]
        tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset, output_path=stem + ".onnx")
        try:
            onnx.checker.check_model(stem + ".onnx", full_check=True)
            verdict = "ok"
        except Exception as e:  # the checker's complaint is the result
            verdict = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
        graph = onnx.load(stem + ".onnx")
        last = next(n for n in graph.graph.node if n.output[0] == graph.graph.output[0].name)
        if last.op_type == "Softmax":  # some applications (RegNet) end in their Dense layer
            cut = onnx.helper.make_tensor_value_info(last.input[0], onnx.TensorProto.FLOAT, None)
            graph.graph.output.pop()
            graph.graph.output.append(cut)
            graph.graph.node.remove(last)
        try:
            session = onnxruntime.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
            ort = session.run(None, {session.get_inputs()[0].name: pixels.transpose(0, 2, 3, 1)})[0]
        except Exception as e:  # a file onnxruntime refuses is reported, with what `fovex models inspect` says of it
            inspect = subprocess.run([os.path.join(onnx_parity_full.ROOT, ".build", "release", "fovex"), "models", "inspect", stem + ".onnx"],
                                     capture_output=True, text=True)
            lines = (inspect.stdout + inspect.stderr).splitlines()
            start = next((k for k, l in enumerate(lines) if "unsupported" in l or "Error" in l), len(lines))
            said = [l.strip() for l in lines[start:start + 3]]
            results[os.path.basename(stem)] = {"refused": f"{verdict[:60]}; onnxruntime: {str(e).splitlines()[0][:60]}; "
                                               f"fovex: {' '.join(said)[:160]}"}
            os.remove(stem + ".onnx")
            continue
        fixture_io.write_safetensors(stem + ".safetensors", {"input": pixels, "ort_logits": ort, "torch_logits": logits})
        results[os.path.basename(stem)] = {"checker": verdict, "onnx_bytes": os.path.getsize(stem + ".onnx")}
    return results


def main():
    args = sys.argv[1:]
    opsets = [13, 17]
    if args[:1] == ["--opsets"]:
        opsets = [int(o) for o in args[1].split(",")]
        args = args[2:]
    models = args or MODELS
    print(f"{'export':<34} {'checker':<8} {'FovEx vs ORT':>13} {'FovEx vs TF':>15} {'ORT vs TF':>13} {'MB':>6}")
    for name in models:
        directory = tempfile.mkdtemp(prefix=f"onnx-parity-keras-{name}-")
        try:
            try:
                checks = export_and_check(directory, name, opsets)
            except Exception as e:  # an export or conversion failure is this model's result
                print(f"keras-{name:<28} export failed: {type(e).__name__}: {str(e).splitlines()[0][:100]}", flush=True)
                continue
            onnx_parity_full.report(directory, checks, width=34)
        finally:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
