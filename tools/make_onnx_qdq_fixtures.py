#!/usr/bin/env python3
"""Writes Tests/FovExONNXTests/Fixtures/qdq_cnn-opset13.onnx and qdq_cnn.safetensors: a small CNN quantized in
ONNX's QDQ format (QuantizeLinear → DequantizeLinear pairs around float ops, as onnxruntime's quantize_static
writes it), and its reference from PyTorch's fake quantization.

The graph: the input quantized to uint8; a convolution with int8 per-channel weights (axis 0) and a float bias,
ReLU, uint8 activations whose QuantizeLinear is read by two DequantizeLinears (a 3×3 convolution with an int32
bias, and a 1×1 shortcut added to it), ReLU, int8 activations with zero point −10, global average pooling, uint8
with zero point 3, Flatten, and a Gemm with int8 per-tensor weights.

Every scale before the Gemm is a power of two (per channel for the weights, the 3×3 convolution and its shortcut
sharing each channel's), and the pooled map is 16 × 16: every value up to the last quantization is then an integer
multiple of a power of two below 2²⁴ units, so convolutions sum exactly in any order and every rounding is the same
in PyTorch, onnxruntime and this library's kernels (x · (1 / scale) is x / scale; a mean over 256 is exact).

PyTorch (torch.fake_quantize_per_tensor_affine on the same scales and zero points, the weights as their dequantized
floats) gives `logits` and `input_gradient` (its fake quantization's straight-through gradient: the incoming
gradient where the rounding stays inside the type's range); onnxruntime (all graph optimisations off, and on) must
give the same logits.

    /usr/bin/python3 tools/make_onnx_qdq_fixtures.py      # Debian's PyTorch with PyPI onnx and onnxruntime
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

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "FovExONNXTests", "Fixtures")
UINT8, INT8 = (0, 255), (-128, 127)
# Activation quantizations: name -> (scale, zero point, range).
ACTIVATIONS = {"input": (2.0 ** -7, 0, UINT8), "a1": (2.0 ** -4, 0, UINT8), "a2": (2.0 ** -3, -10, INT8),
               "pool": (2.0 ** -5, 3, UINT8)}


def per_channel_int8(w, scale=None, limit=127):
    """Symmetric int8 weights within ±limit, one power-of-two scale per output channel (or the given ones): (q, scale)."""
    flat = w.reshape(w.shape[0], -1)
    if scale is None:
        scale = np.exp2(np.ceil(np.log2(np.abs(flat).max(axis=1) / limit))).astype(np.float32)
    q = np.clip(np.rint(flat / scale[:, None]), -limit, limit).astype(np.int8).reshape(w.shape)
    return q, scale


def dequantized(q, scale, axis_shape):
    return (q.astype(np.float32) * scale.reshape(axis_shape)).astype(np.float32)


def draw_weights(rng):
    w = {}
    w["w1q"], w["w1s"] = per_channel_int8(rng.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.6)
    # On conv1's grid (input scale × weight scale), as a quantizer's int32 bias would be.
    w["b1"] = (np.rint(rng.standard_normal(8) * 0.1 / (ACTIVATIONS["input"][0] * w["w1s"]))
               * ACTIVATIONS["input"][0] * w["w1s"]).astype(np.float32)
    w["w2q"], w["w2s"] = per_channel_int8(rng.standard_normal((12, 8, 3, 3)).astype(np.float32) * 0.3)
    # The int32 bias of conv2, at scale input scale × weight scale (as quantizers write it).
    w["b2s"] = (ACTIVATIONS["a1"][0] * w["w2s"]).astype(np.float32)
    w["b2q"] = np.rint(rng.standard_normal(12) * 0.2 / w["b2s"]).astype(np.int32)
    w["wsq"], w["wss"] = per_channel_int8(rng.standard_normal((12, 8, 1, 1)).astype(np.float32) * 0.2, w["w2s"])
    wfc = rng.standard_normal((10, 12)).astype(np.float32) * 0.5
    w["wfcs"] = np.float32(np.abs(wfc).max() / 127)
    w["wfcq"] = np.clip(np.rint(wfc / w["wfcs"]), -127, 127).astype(np.int8)
    w["bfc"] = (rng.standard_normal(10) * 0.1).astype(np.float32)
    return w


def torch_forward(w, x):
    """The fake-quantized network in PyTorch."""
    def fq(t, name):
        scale, zero, (low, high) = ACTIVATIONS[name]
        return torch.fake_quantize_per_tensor_affine(t, scale, zero, low, high)

    def t(a):
        return torch.from_numpy(np.ascontiguousarray(a))

    w1 = t(dequantized(w["w1q"], w["w1s"], (-1, 1, 1, 1)))
    w2 = t(dequantized(w["w2q"], w["w2s"], (-1, 1, 1, 1)))
    ws = t(dequantized(w["wsq"], w["wss"], (-1, 1, 1, 1)))
    b2 = t((w["b2q"].astype(np.float32) * w["b2s"]).astype(np.float32))
    wfc = t((w["wfcq"].astype(np.float32) * w["wfcs"]).astype(np.float32))
    a = fq(x, "input")
    a = fq(torch.relu(F.conv2d(a, w1, t(w["b1"]), stride=2, padding=1)), "a1")
    a = fq(torch.relu(F.conv2d(a, w2, b2, padding=1) + F.conv2d(a, ws)), "a2")
    a = fq(a.mean(dim=(2, 3), keepdim=True), "pool").flatten(1)
    return F.linear(a, wfc, t(w["bfc"]))


def onnx_graph(w):
    n, inits = helper.make_node, []

    def init(name, value):
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    for name, (scale, zero, (low, _)) in ACTIVATIONS.items():
        init(f"{name}_scale", np.float32(scale))
        init(f"{name}_zero", np.array(zero, dtype=np.uint8 if low == 0 else np.int8))
    nodes = []

    def qdq(value, name, readers=1):
        nodes.append(n("QuantizeLinear", [value, f"{name}_scale", f"{name}_zero"], [f"{name}_q"], name=f"{name}/Q"))
        outs = []
        for k in range(readers):
            out = f"{name}_dq{k}"
            nodes.append(n("DequantizeLinear", [f"{name}_q", f"{name}_scale", f"{name}_zero"], [out], name=f"{name}/DQ{k}"))
            outs.append(out)
        return outs

    def weight(prefix, q, scale, axis=0):
        init(f"{prefix}_q", q)
        init(f"{prefix}_s", scale)
        init(f"{prefix}_z", np.zeros(np.shape(scale), np.int8))
        nodes.append(n("DequantizeLinear", [f"{prefix}_q", f"{prefix}_s", f"{prefix}_z"], [prefix], axis=axis,
                       name=f"{prefix}/DQ"))
        return prefix

    (x,) = qdq("input", "input")
    nodes.append(n("Conv", [x, weight("w1", w["w1q"], w["w1s"]), init("b1", w["b1"])], ["c1"], kernel_shape=[3, 3],
                   strides=[2, 2], pads=[1, 1, 1, 1]))
    nodes.append(n("Relu", ["c1"], ["r1"]))
    main, shortcut = qdq("r1", "a1", readers=2)
    init("b2_q", w["b2q"])
    init("b2_s", w["b2s"])
    nodes.append(n("DequantizeLinear", ["b2_q", "b2_s"], ["b2"], axis=0, name="b2/DQ"))
    nodes.append(n("Conv", [main, weight("w2", w["w2q"], w["w2s"]), "b2"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
    nodes.append(n("Conv", [shortcut, weight("ws", w["wsq"], w["wss"])], ["cs"], kernel_shape=[1, 1]))
    nodes.append(n("Add", ["c2", "cs"], ["sum"]))
    nodes.append(n("Relu", ["sum"], ["r2"]))
    (r2,) = qdq("r2", "a2")
    nodes.append(n("GlobalAveragePool", [r2], ["gap"]))
    (gap,) = qdq("gap", "pool")
    nodes.append(n("Flatten", [gap], ["flat"]))
    init("wfc_q", w["wfcq"])
    init("wfc_s", w["wfcs"])
    init("wfc_z", np.int8(0))
    nodes.append(n("DequantizeLinear", ["wfc_q", "wfc_s", "wfc_z"], ["wfc"], name="wfc/DQ"))
    nodes.append(n("Gemm", ["flat", "wfc", init("bfc", w["bfc"])], ["logits"], transB=1))
    graph = helper.make_graph(nodes, "qdq_cnn", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 32, 32])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=7)
    onnx.checker.check_model(model, full_check=True)
    return model


def main():
    torch.set_num_threads(1)
    rng = np.random.default_rng(1300)
    w = draw_weights(rng)
    x = torch.from_numpy((rng.random((2, 3, 32, 32)) * 2.2).astype(np.float32))
    xg = x.clone().requires_grad_(True)
    logits = torch_forward(w, xg)
    seed = torch.from_numpy(rng.standard_normal((2, 10)).astype(np.float32))
    (logits * seed).sum().backward()
    model = onnx_graph(w)
    path = os.path.join(OUT, "qdq_cnn-opset13.onnx")
    onnx.save(model, path)
    for level in (onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL, onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL):
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = level
        got = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
        error = np.abs(got - logits.detach().numpy()).max() / np.abs(logits.detach().numpy()).max()
        print(f"onnxruntime ({level}) vs PyTorch: {error:.1e}")
        if level == onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL:
            assert error < 1e-5, "onnxruntime's QDQ graph and PyTorch's fake quantization differ"
    saturated = float((xg.grad == 0).float().mean())
    print(f"input gradient zero (saturated inputs, dead units) at {saturated:.1%}")
    write_safetensors(os.path.join(OUT, "qdq_cnn.safetensors"),
                      {"input": x, "seed": seed, "logits": logits, "input_gradient": xg.grad})
    print(f"{path}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
