#!/usr/bin/env python3
"""Writes Tests/FovExONNXTests/Fixtures/NAME-functions-opset15.onnx for NAME in resnet18 and vit: the small
torchvision models of tools/make_onnx_fixtures.py (rebuilt with the same seeds, so NAME.safetensors holds their
reference logits and input gradients), exported with `export_modules_as_functions=True`. Every module becomes a
model-local ONNX function (`ModelProto.functions`) called from the graph, with its settings passed as attributes
that the function's nodes refer to (`ref_attr_name`): the layout PyTorch's dynamo exporter writes too. Local
functions need opset 15 or later.

Run with Debian's PyTorch:  /usr/bin/python3 tools/make_onnx_function_fixtures.py
"""
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_onnx_fixtures as fixtures  # noqa: E402


def recorded_logits(name):
    """The logits make_onnx_fixtures.py recorded in NAME.safetensors."""
    with open(os.path.join(fixtures.OUT, f"{name}.safetensors"), "rb") as f:
        length = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(length))
        data = f.read()
    start, end = header["logits"]["data_offsets"]
    return torch.frombuffer(bytearray(data[start:end]), dtype=torch.float32).reshape(header["logits"]["shape"])


def main():
    torch.set_num_threads(1)
    for name in ("resnet18", "vit"):
        model, size, x, _ = fixtures.draw(name)
        with torch.no_grad():
            assert torch.allclose(model(x), recorded_logits(name), atol=1e-5), f"{name}: rebuilt model differs"
        path = os.path.join(fixtures.OUT, f"{name}-functions-opset15.onnx")
        torch.onnx.export(model, x[:1], path, opset_version=15, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, export_modules_as_functions=True)
        print(f"{path}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
