#!/usr/bin/env python3
"""Parity of quantized full-size torchvision models: FovEx against onnxruntime (docs/results/onnx-parity.md).

For each model (torchvision 0.14 name, random weights) and format, in a temporary directory deleted afterwards:
  1. export    Debian's PyTorch 1.13 (/usr/bin/python3, or TORCH_PYTHON) at opset 17, as tools/onnx_parity_full.py;
  2. quantize  onnxruntime's quant_pre_process and quantize_static (per-channel int8 weights, uint8 activations,
               eight uniform-noise calibration images): QDQ, or the operator-oriented format (`qop`, with
               reduce_range: on CPUs without VNNI onnxruntime's u8 × s8 kernels saturate on full-range weights);
  3. reference onnxruntime's logits of the quantized file with graph optimisations off (its QDQ nodes then run as
               written) on two uniform-noise images (each alone for `dynamic`: its ranges span the whole tensor), and of the float file (`torch_logits` in the result, so that the
               quantization's own effect is printed beside the distance between the two runtimes);
  4. FovEx     the Swift test ONNXFullSizeParityTests (build the tests first), with a tolerance of 0.05.
Prints one line per file: max |FovEx − onnxruntime| / max |onnxruntime|, and the quantized model's distance from
the float one. Needs PyPI onnx and onnxruntime for the interpreter running this script:

    python3 tools/onnx_parity_quantized.py [--formats qdq,qop,dynamic] resnet18 mobilenet_v2 ...
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_io import write_safetensors  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

EXPORT = """
import sys, torch, torchvision
name, path, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
model = getattr(torchvision.models, name)(weights=None, **({"aux_logits": False, "init_weights": True} if name in ("googlenet", "inception_v3") else {})).eval()
if name.startswith("vit_"):  # torchvision starts the ViT head at zero: every logit would be 0
    torch.nn.init.normal_(model.heads.head.weight, std=0.02)
torch.onnx.export(model, torch.rand(1, 3, size, size), path, opset_version=17, input_names=["input"], output_names=["logits"],
                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
"""


def logits(path, x, optimise, image_by_image=False):
    if image_by_image:
        return np.concatenate([logits(path, x[i:i + 1], optimise) for i in range(len(x))])
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = (onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL if optimise
                                        else onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL)
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def quantize(source, target, size, fmt):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic, quantize_static
    if fmt == "dynamic":
        quantize_dynamic(source, target, weight_type=QuantType.QUInt8)
        return
    operator_oriented = fmt == "qop"
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Noise(CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(0)
            self.batches = iter([{"input": rng.random((1, 3, size, size), dtype=np.float32)} for _ in range(8)])

        def get_next(self):
            return next(self.batches, None)

    prepared = target + ".prepared.onnx"
    quant_pre_process(source, prepared)
    quantize_static(prepared, target, Noise(), per_channel=True, reduce_range=operator_oriented,
                    quant_format=QuantFormat.QOperator if operator_oriented else QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    os.remove(prepared)


def main():
    args = sys.argv[1:]
    formats = ["qdq", "qop"]
    if args[:1] == ["--formats"]:
        formats, args = args[1].split(","), args[2:]
    if not args or not set(formats) <= {"qdq", "qop", "dynamic"}:
        sys.exit(__doc__)
    torch_python = os.environ.get("TORCH_PYTHON", "/usr/bin/python3")
    print(f"{'file':<28} {'FovEx vs ORT':>13} {'quantized vs float':>19}")
    for name in args:
        directory = tempfile.mkdtemp(prefix=f"onnx-quantized-{name}-")
        try:
            size = 299 if name == "inception_v3" else 224
            source = os.path.join(directory, "float.onnx.src")
            subprocess.run([torch_python, "-c", EXPORT, name, source, str(size)], check=True, capture_output=True)
            x = np.random.default_rng(5).random((2, 3, size, size), dtype=np.float32)
            floats = logits(source, x, optimise=True)
            for fmt in formats:
                target = os.path.join(directory, f"{name}-{fmt}.onnx")
                try:
                    quantize(source, target, size, fmt)
                    reference = logits(target, x, optimise=False, image_by_image=fmt == "dynamic")
                except Exception as error:  # the quantizer's or onnxruntime's own failure is the result
                    print(f"{name}-{fmt:<{27 - len(name)}} onnxruntime failed: {(str(error).splitlines() or [type(error).__name__])[0][:120]}")
                    continue
                write_safetensors(target[:-5] + ".safetensors", {"input": x, "ort_logits": reference, "torch_logits": floats})
            os.remove(source)
            env = dict(os.environ, FOVEX_NATIVE="1", FOVEX_ONNX_PARITY_DIR=directory, FOVEX_ONNX_PARITY_TOLERANCE="0.05")
            subprocess.run(["swift", "test", "-c", "release", "-Xswiftc", "-enable-testing", "--skip-build", "--filter",
                            "ONNXFullSizeParityTests"], cwd=ROOT, env=env, capture_output=True, text=True)
            results = os.path.join(directory, "fovex-results.jsonl")
            for line in filter(str.strip, open(results) if os.path.exists(results) else []):
                r = json.loads(line)
                print(f"{r['model']:<28} {r['fovex_vs_ort']:>13.2e} {r['ort_vs_torch']:>19.3f}", flush=True)
        finally:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
