#!/usr/bin/env python3
"""Writes Tests/FovExONNXTests/Fixtures/qop_cnn-opset13.onnx and qop_cnn.safetensors: a small CNN in onnxruntime's
operator-oriented quantized format (the ONNX Model Zoo's int8 classifiers): QuantizeLinear, QLinearConv with int8
per-channel weights and an int32 bias, MaxPool on the uint8 values, a 3×3 QLinearConv and a 1×1 shortcut,
QLinearAdd and QLinearGlobalAveragePool (com.microsoft), Flatten, QLinearMatMul, DequantizeLinear.

The int8 weights stay within ±63, as onnxruntime's quantizer makes them with `reduce_range` for CPUs without
VNNI: there its u8 × s8 kernels add pairs of products in 16-bit saturating arithmetic (255 · 127 · 2 overflows),
so full-range weights would make onnxruntime's result, not ours, the one that departs from the definition.

Every scale is a power of two and the pooled map is 8 × 8, so each value is an integer multiple of a power of two
below 2²⁴ units: integer kernels (onnxruntime's), float kernels in any summation order (this library's) and
PyTorch's fake quantization all round the same numbers the same way. onnxruntime's output is `logits`, and must
equal PyTorch's fake-quantized model's (torch.fake_quantize_per_tensor_affine at each quantization, the weights as
their dequantized floats); PyTorch's straight-through gradient of sum(logits · seed) is `input_gradient`.

    /usr/bin/python3 tools/make_onnx_qoperator_fixtures.py      # Debian's PyTorch with PyPI onnx and onnxruntime
"""
import os
import sys

import numpy as np
import onnx
import onnxruntime
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_io import write_safetensors  # noqa: E402
from make_onnx_qdq_fixtures import OUT, per_channel_int8, dequantized  # noqa: E402

UINT8, INT8 = (0, 255), (-128, 127)
# Quantized values: name -> (scale, zero point, range).
# onnxruntime's QLinear kernels keep the input's type for the output: uint8 activations throughout, with zero
# points away from 0 after the first convolution (int8 activations are in tools/make_onnx_qdq_fixtures.py).
Q = {"x": (2.0 ** -7, 0, UINT8), "c1": (2.0 ** -4, 0, UINT8), "c2": (2.0 ** -3, 118, UINT8),
     "cs": (2.0 ** -3, 122, UINT8), "sum": (2.0 ** -3, 133, UINT8), "pool": (2.0 ** -5, 131, UINT8),
     "fc": (2.0 ** -4, 128, UINT8)}


def draw(rng):
    w = {}
    w["w1q"], w["w1s"] = per_channel_int8(rng.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.6, limit=63)
    w["b1q"] = np.rint(rng.standard_normal(8) * 0.1 / (Q["x"][0] * w["w1s"])).astype(np.int32)
    w["w2q"], w["w2s"] = per_channel_int8(rng.standard_normal((12, 8, 3, 3)).astype(np.float32) * 0.3, limit=63)
    w["b2q"] = np.rint(rng.standard_normal(12) * 0.2 / (Q["c1"][0] * w["w2s"])).astype(np.int32)
    w["wsq"], w["wss"] = per_channel_int8(rng.standard_normal((12, 8, 1, 1)).astype(np.float32) * 0.3, limit=63)
    wfc = rng.standard_normal((12, 10)).astype(np.float32) * 0.5  # [K, N] as MatMul's B
    w["wfcs"] = np.float32(np.exp2(np.ceil(np.log2(np.abs(wfc).max() / 63))))
    w["wfcq"] = np.clip(np.rint(wfc / w["wfcs"]), -63, 63).astype(np.int8)
    return w


def torch_forward(w, x):
    def fq(t, name):
        scale, zero, (low, high) = Q[name]
        return torch.fake_quantize_per_tensor_affine(t, scale, zero, low, high)

    def t(a):
        return torch.from_numpy(np.ascontiguousarray(a))

    def bias(q, scale):
        return t((q.astype(np.float32) * scale).astype(np.float32))

    a = fq(x, "x")
    a = fq(F.conv2d(a, t(dequantized(w["w1q"], w["w1s"], (-1, 1, 1, 1))), bias(w["b1q"], Q["x"][0] * w["w1s"]),
                    stride=2, padding=1), "c1")
    a = F.max_pool2d(a, 2)
    main = fq(F.conv2d(a, t(dequantized(w["w2q"], w["w2s"], (-1, 1, 1, 1))), bias(w["b2q"], Q["c1"][0] * w["w2s"]),
                       padding=1), "c2")
    shortcut = fq(F.conv2d(a, t(dequantized(w["wsq"], w["wss"], (-1, 1, 1, 1)))), "cs")
    a = fq(fq(main + shortcut, "sum").mean(dim=(2, 3)), "pool")
    return fq(a @ t((w["wfcq"].astype(np.float32) * w["wfcs"]).astype(np.float32)), "fc")


def graph(w):
    inits = []

    def init(name, value):
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    for name, (scale, zero, (low, _)) in Q.items():
        init(f"{name}_s", np.float32(scale))
        init(f"{name}_z", np.array(zero, dtype=np.uint8 if low == 0 else np.int8))
    for name in ("w1", "w2", "ws"):
        init(f"{name}_q", w[f"{name}q"])
        init(f"{name}_s_", w[f"{name}s"])
        init(f"{name}_z_", np.zeros(len(w[f"{name}s"]), np.int8))
    init("b1_q", w["b1q"])
    init("b2_q", w["b2q"])
    init("wfc_q", w["wfcq"])
    init("wfc_s", w["wfcs"])
    init("wfc_z", np.int8(0))
    n, ms = helper.make_node, "com.microsoft"
    nodes = [
        n("QuantizeLinear", ["input", "x_s", "x_z"], ["xq"]),
        n("QLinearConv", ["xq", "x_s", "x_z", "w1_q", "w1_s_", "w1_z_", "c1_s", "c1_z", "b1_q"], ["c1q"],
          kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        n("MaxPool", ["c1q"], ["p1q"], kernel_shape=[2, 2], strides=[2, 2]),
        n("QLinearConv", ["p1q", "c1_s", "c1_z", "w2_q", "w2_s_", "w2_z_", "c2_s", "c2_z", "b2_q"], ["c2q"],
          kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        n("QLinearConv", ["p1q", "c1_s", "c1_z", "ws_q", "ws_s_", "ws_z_", "cs_s", "cs_z"], ["csq"], kernel_shape=[1, 1]),
        n("QLinearAdd", ["c2q", "c2_s", "c2_z", "csq", "cs_s", "cs_z", "sum_s", "sum_z"], ["sumq"], domain=ms),
        n("QLinearGlobalAveragePool", ["sumq", "sum_s", "sum_z", "pool_s", "pool_z"], ["poolq"], domain=ms, channels_last=0),
        n("Flatten", ["poolq"], ["flatq"]),
        n("QLinearMatMul", ["flatq", "pool_s", "pool_z", "wfc_q", "wfc_s", "wfc_z", "fc_s", "fc_z"], ["fcq"]),
        n("DequantizeLinear", ["fcq", "fc_s", "fc_z"], ["logits"]),
    ]
    g = helper.make_graph(nodes, "qop_cnn", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 32, 32])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(ms, 1)], ir_version=7)
    onnx.checker.check_model(model)
    return model


def main():
    torch.set_num_threads(1)
    rng = np.random.default_rng(2024)
    w = draw(rng)
    x = torch.from_numpy((rng.random((2, 3, 32, 32)) * 2.2).astype(np.float32))
    xg = x.clone().requires_grad_(True)
    logits = torch_forward(w, xg)
    seed = torch.from_numpy(rng.standard_normal((2, 10)).astype(np.float32))
    (logits * seed).sum().backward()
    path = os.path.join(OUT, "qop_cnn-opset13.onnx")
    onnx.save(graph(w), path)
    got = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
    error = np.abs(got - logits.detach().numpy()).max()
    print(f"onnxruntime's int8 kernels vs PyTorch's fake quantization: max |difference| {error}")
    assert error == 0, "onnxruntime and PyTorch round differently somewhere"
    assert len(np.unique(got)) > 5 and xg.grad.abs().max() > 0, "a degenerate draw"
    write_safetensors(os.path.join(OUT, "qop_cnn.safetensors"),
                      {"input": x, "seed": seed, "logits": torch.from_numpy(got), "input_gradient": xg.grad})
    print(f"{path}: {os.path.getsize(path)} bytes; input gradient zero at {float((xg.grad == 0).float().mean()):.1%}")


if __name__ == "__main__":
    main()
