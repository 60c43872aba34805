#!/usr/bin/env python3
"""Writes Tests/FovExONNXTests/Fixtures/NAME-dynamo-opsetK.onnx: small torchvision models of
tools/make_onnx_fixtures.py (rebuilt with the same seeds and checked against the logits recorded in NAME.safetensors,
which stays their reference) exported by PyTorch 2's default exporter, as `torch.onnx.export(model, (x,), path,
dynamo=True, opset_version=K)` writes them: a graph traced by torch.export and written by onnxscript, a fixed batch
of one, LayerNormalization and Gelu as ops of their own, and from opset 23 each scaled_dot_product_attention as one
Attention node. resnet18's weights go to external data beside the file (NAME-dynamo-opsetK.onnx.data), as that
exporter writes them by default; the others are inline.

Needs PyTorch ≥ 2.5 with onnxscript (PyPI: pip install torch torchvision onnxscript onnx):
    python3 tools/make_onnx_dynamo_fixtures.py
"""
import os
import sys
import warnings

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_onnx_fixtures as fixtures  # noqa: E402
from make_onnx_function_fixtures import recorded_logits  # noqa: E402

# family -> opsets; opset 20 is the default of PyTorch 2.15's exporter, 23 the first with Attention.
EXPORTS = {"resnet18": [18], "mobilenet_v3_small": [20], "efficientnet_b0": [20], "convnext_tiny": [20],
           "swin_t": [20], "vit": [20, 23]}
EXTERNAL = {"resnet18"}


def main():
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    for name, opsets in EXPORTS.items():
        model, size, x, _ = fixtures.draw(name)
        with torch.no_grad():
            assert torch.allclose(model(x), recorded_logits(name), atol=1e-5), f"{name}: rebuilt model differs"
        for opset in opsets:
            path = os.path.join(fixtures.OUT, f"{name}-dynamo-opset{opset}.onnx")
            for stale in (path, path + ".data"):
                if os.path.exists(stale):
                    os.remove(stale)
            torch.onnx.export(model, (x[:1],), path, dynamo=True, opset_version=opset,
                              external_data=name in EXTERNAL, verbose=False)
            size_bytes = sum(os.path.getsize(f) for f in (path, path + ".data") if os.path.exists(f))
            print(f"{path}: {size_bytes} bytes")


if __name__ == "__main__":
    main()
