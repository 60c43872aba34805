#!/usr/bin/env python3
"""Writes Tests/FovExONNXTests/Fixtures/vit_dynamic-opset13.onnx and vit_dynamic.safetensors: the small torchvision
ViT fixture (vit-opset13.onnx, tools/make_onnx_fixtures.py) quantized by onnxruntime's quantize_dynamic (uint8
weights; DynamicQuantizeLinear before each MatMulInteger and the patch embedding's ConvInteger), with onnxruntime's
logits for vit.safetensors's two images, each run alone (a DynamicQuantizeLinear takes its range from the whole
tensor, so a batch's images would share one).

    python3 tools/make_onnx_dynamic_quantization_fixtures.py      # PyPI onnx and onnxruntime
"""
import os
import sys

import numpy as np
import onnxruntime
from onnxruntime.quantization import QuantType, quantize_dynamic

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_io import write_safetensors  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "FovExONNXTests", "Fixtures")


def read_safetensors(path):
    import json
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    return {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], dtype="<f4").reshape(v["shape"])
            for k, v in header.items() if k != "__metadata__"}


def main():
    target = os.path.join(FIXTURES, "vit_dynamic-opset13.onnx")
    # uint8 weights: onnxruntime runs ConvInteger only on those (and they have zero points other than 0).
    quantize_dynamic(os.path.join(FIXTURES, "vit-opset13.onnx"), target, weight_type=QuantType.QUInt8)
    x = read_safetensors(os.path.join(FIXTURES, "vit.safetensors"))["input"]
    session = onnxruntime.InferenceSession(target, providers=["CPUExecutionProvider"])
    logits = np.concatenate([session.run(None, {"input": x[i:i + 1]})[0] for i in range(len(x))])
    write_safetensors(os.path.join(FIXTURES, "vit_dynamic.safetensors"), {"input": x, "logits": logits})
    print(f"{target}: {os.path.getsize(target)} bytes; logits {logits.shape}")


if __name__ == "__main__":
    main()
