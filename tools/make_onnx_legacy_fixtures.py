#!/usr/bin/env python3
"""Writes the fixtures for ONNX files of opsets 7 to 10 and for LRN, under Tests/FovExONNXTests/Fixtures.

Files from before opset 11 are what older exporters wrote and what the ONNX Model Zoo holds for its classic
classifiers (AlexNet, CaffeNet, GoogLeNet, ZFNet, ResNet, VGG, SqueezeNet …): attributes where later opsets take
inputs (Clip's min and max, Pad's pads, Slice's starts and ends, Squeeze's axes), Upsample, the opset-10 Resize, and
LRN after Caffe's convolutions.

1. Small torchvision families (tools/make_onnx_fixtures.py's own draws, whose NAME.safetensors already holds
   PyTorch's logits and input gradients) exported by torch.onnx.export at an old opset: NAME-opsetK.onnx. Each
   file is run in onnxruntime and must give the recorded logits.
2. One-node graphs, ops/NAME.onnx with ops/NAME.safetensors holding input `x` and onnxruntime's output `y`
   (checked against onnx's reference evaluator): LRN (odd and even sizes), Upsample at opsets 7 (scales as an
   attribute) and 9 (as an input), Resize at opset 10, nearest and linear, up and down.
3. caffe_alexnet-opset9.onnx: a small AlexNet as the Model Zoo's Caffe conversions write it (Conv, Relu, LRN,
   MaxPool, Reshape, Gemm, Dropout, Gemm, Softmax "prob"), built node by node from a PyTorch model whose
   nn.LocalResponseNorm (odd size: the same window as ONNX's LRN) gives caffe_alexnet.safetensors's logits and
   input gradient; onnxruntime's output must be their softmax.

Run with Debian's PyTorch and PyPI's onnx and onnxruntime (as tools/make_onnx_fixtures.py):
    /usr/bin/python3 tools/make_onnx_legacy_fixtures.py
"""
import os
import sys

import numpy as np
import onnx
import onnxruntime
import torch
import torch.nn as nn
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_io import write_safetensors  # noqa: E402
import make_onnx_fixtures  # noqa: E402

OUT = make_onnx_fixtures.OUT
OPS = os.path.join(OUT, "ops")

# Family, old opset: each exercises a legacy form (Clip, Pad and Slice attributes, Squeeze axes, Dropout-7).
FAMILIES = [("squeezenet1_1", 7), ("mobilenet_v2", 7), ("mobilenet_v3_small", 8), ("densenet121", 9), ("vit", 9),
            ("googlenet", 10)]


def onnxruntime_outputs(path, feeds):
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def export_families():
    torch.set_num_threads(1)
    for name, opset in FAMILIES:
        model, size, x, seed = make_onnx_fixtures.draw(name)
        path = os.path.join(OUT, f"{name}-opset{opset}.onnx")
        torch.onnx.export(model, x[:1], path, opset_version=opset, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        with torch.no_grad():
            want = model(x).numpy()
        got = onnxruntime_outputs(path, {"input": x.numpy()})[0]
        error = np.abs(got - want).max() / np.abs(want).max()
        assert error < 1e-4, f"{name} opset {opset}: onnxruntime differs from PyTorch by {error}"
        print(f"{path}: {os.path.getsize(path)} bytes, onnxruntime vs PyTorch {error:.1e}")


def lrn_by_the_definition(x, size, alpha, beta, bias):
    """ONNX's LRN in float64: the squares summed over channels c − floor((size − 1) / 2) … c + ceil((size − 1) / 2)."""
    channels, square_sum = x.shape[1], np.zeros(x.shape)
    for c in range(channels):
        low, high = max(0, c - (size - 1) // 2), min(channels - 1, c + size // 2)
        square_sum[:, c] = (x[:, low:high + 1].astype(np.float64) ** 2).sum(axis=1)
    return (x / (bias + alpha / size * square_sum) ** beta).astype(np.float32)


def resized_asymmetric(x, scales, mode):
    """Upsample's (and opset 10's Resize's) definition, axis by axis: output index i reads input coordinate
    i / scale; nearest takes its floor when upsampling and its ceiling when downsampling (the spec leaves the
    rounding open; this is onnxruntime's rule for opsets before 11), linear interpolates between floor and floor + 1
    (clamped to the axis)."""
    for axis, scale in enumerate(scales):
        n = x.shape[axis]
        source = np.arange(int(np.floor(n * scale))) / np.float64(scale)
        low = np.floor(source).astype(np.int64)
        if mode == "nearest":
            picks = np.ceil(source).astype(np.int64) if scale < 1 else low
            x = np.take(x, np.minimum(picks, n - 1), axis=axis)
            continue
        t = (source - low).reshape([-1 if a == axis else 1 for a in range(x.ndim)])
        x = np.take(x, np.minimum(low, n - 1), axis=axis) * (1 - t) + np.take(x, np.minimum(low + 1, n - 1), axis=axis) * t
    return x.astype(np.float32)


def write_op(name, op, x, inputs, attributes, opset, rank, definition=None, runtime=True):
    """One `op` node whose inputs are x (named "x") or constants. `definition` (a NumPy function of x) stands in
    for onnx's reference evaluator where that is wrong (its LRN, in onnx 1.16); `runtime=False` for a use that
    onnxruntime refuses (LRN of even size), whose output is then the definition's."""
    names, inits = [], []
    for i, value in enumerate(inputs):
        if isinstance(value, str):
            names.append(value)
        else:
            names.append(f"in{i}")
            inits.append(numpy_helper.from_array(value, f"in{i}"))
    node = helper.make_node(op, names, ["y"], **attributes)
    graph = helper.make_graph([node], name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * rank)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=7)
    onnx.checker.check_model(model, full_check=True)
    path = os.path.join(OPS, name + ".onnx")
    onnx.save(model, path)
    reference = definition(x) if definition else ReferenceEvaluator(model).run(None, {"x": x})[0]
    y = onnxruntime_outputs(path, {"x": x})[0] if runtime else reference
    assert y.shape == reference.shape, f"{name}: onnxruntime {y.shape}, reference {reference.shape}"
    assert np.abs(y - reference).max() <= 1e-5 * max(np.abs(reference).max(), 1), f"{name}: onnxruntime and reference differ"
    write_safetensors(os.path.join(OPS, name + ".safetensors"), {"x": x, "y": y})
    print(name, x.shape, "->", y.shape)


def write_ops():
    rng = np.random.default_rng(7)
    f32 = np.float32
    # LRN: AlexNet's size 5, and an even size (ONNX: floor((size − 1) / 2) channels before, ceil after), with a
    # bias, alpha and beta large enough that the normaliser is far from 1.
    lrn5, lrn4 = dict(size=5, alpha=0.5, beta=0.75, bias=1.0), dict(size=4, alpha=0.3, beta=0.6, bias=2.0)
    write_op("lrn-size5", "LRN", rng.standard_normal((2, 7, 3, 4)).astype(f32) * 2, ["x"], lrn5, 13, 4,
             definition=lambda x: lrn_by_the_definition(x, **lrn5))
    write_op("lrn-size4-opset7", "LRN", rng.standard_normal((1, 6, 3, 4)).astype(f32) * 2, ["x"], lrn4, 7, 4,
             definition=lambda x: lrn_by_the_definition(x, **lrn4), runtime=False)
    # Upsample-7: scales as an attribute; Upsample-9 and Resize-10: as an input; Resize-10 downsampling too.
    resizings = [("upsample-7-nearest", "Upsample", (1, 2, 3, 4), [1, 1, 2, 3], "nearest", 7),
                 ("upsample-9-linear", "Upsample", (1, 2, 3, 4), [1, 1, 2, 1.5], "linear", 9),
                 ("upsample-9-nearest-fractional", "Upsample", (1, 2, 3, 4), [1, 1, 1.5, 2.5], "nearest", 9),
                 ("resize-10-nearest-down", "Resize", (1, 2, 7, 9), [1, 1, 0.6, 0.5], "nearest", 10),
                 ("resize-10-linear-up", "Resize", (1, 2, 3, 4), [1, 1, 1.7, 2], "linear", 10),
                 ("resize-10-linear-down", "Resize", (1, 2, 8, 6), [1, 1, 0.5, 0.75], "linear", 10)]
    for name, op, shape, scales, mode, opset in resizings:
        as_attribute = opset < 9
        write_op(name, op, rng.standard_normal(shape).astype(f32), ["x"] if as_attribute else ["x", np.array(scales, f32)],
                 dict(mode=mode, **({"scales": [float(v) for v in scales]} if as_attribute else {})), opset, 4,
                 definition=lambda x, scales=scales, mode=mode: resized_asymmetric(x, scales, mode))

class SmallAlexNet(nn.Module):
    """AlexNet's layout (convolution, ReLU, LRN, max pooling twice; then three convolutions; two hidden linear
    layers with dropout) at a width that keeps the file small."""

    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 12, 7, stride=2, padding=1)
        self.conv2 = nn.Conv2d(12, 16, 5, padding=2, groups=2)
        self.conv3 = nn.Conv2d(16, 20, 3, padding=1)
        self.lrn = nn.LocalResponseNorm(5, alpha=1e-2, beta=0.75, k=1.0)
        self.fc1 = nn.Linear(20 * 3 * 3, 32)
        self.fc2 = nn.Linear(32, classes)

    def features(self, x):
        x = nn.functional.max_pool2d(self.lrn(torch.relu(self.conv1(x))), 3, 2)
        x = nn.functional.max_pool2d(self.lrn(torch.relu(self.conv2(x))), 3, 2)
        return torch.relu(self.conv3(x))

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(self.features(x).flatten(1))))


def write_caffe_alexnet():
    generator = torch.Generator().manual_seed(77)
    model = SmallAlexNet()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * (0.3 if p.dim() > 1 else 0.1))
    model.eval()
    x = torch.rand(2, 3, 35, 35, generator=generator) * 4
    seed = torch.randn(2, 10, generator=generator)
    xg = x.clone().requires_grad_(True)
    logits = model(xg)
    (logits * seed).sum().backward()
    assert xg.grad.abs().max() > 0

    def weight(name, t):
        return numpy_helper.from_array(t.detach().numpy().astype(np.float32), name)

    inits = [weight(f"{n}_w", getattr(model, n).weight) for n in ("conv1", "conv2", "conv3", "fc1", "fc2")]
    inits += [weight(f"{n}_b", getattr(model, n).bias) for n in ("conv1", "conv2", "conv3", "fc1", "fc2")]
    inits.append(numpy_helper.from_array(np.array([0, -1], np.int64), "flat_shape"))
    lrn = dict(size=5, alpha=1e-2, beta=0.75, bias=1.0)
    n = helper.make_node
    nodes = [
        n("Conv", ["data_0", "conv1_w", "conv1_b"], ["conv1"], kernel_shape=[7, 7], strides=[2, 2], pads=[1, 1, 1, 1]),
        n("Relu", ["conv1"], ["relu1"]),
        n("LRN", ["relu1"], ["norm1"], **lrn),
        n("MaxPool", ["norm1"], ["pool1"], kernel_shape=[3, 3], strides=[2, 2]),
        n("Conv", ["pool1", "conv2_w", "conv2_b"], ["conv2"], kernel_shape=[5, 5], pads=[2, 2, 2, 2], group=2),
        n("Relu", ["conv2"], ["relu2"]),
        n("LRN", ["relu2"], ["norm2"], **lrn),
        n("MaxPool", ["norm2"], ["pool2"], kernel_shape=[3, 3], strides=[2, 2]),
        n("Conv", ["pool2", "conv3_w", "conv3_b"], ["conv3"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        n("Relu", ["conv3"], ["relu3"]),
        n("Reshape", ["relu3", "flat_shape"], ["flat"]),
        n("Gemm", ["flat", "fc1_w", "fc1_b"], ["fc6"], transB=1),
        n("Relu", ["fc6"], ["relu6"]),
        n("Dropout", ["relu6"], ["drop6"], ratio=0.5),
        n("Gemm", ["drop6", "fc2_w", "fc2_b"], ["fc8"], transB=1),
        n("Softmax", ["fc8"], ["prob_1"]),
    ]
    graph = helper.make_graph(nodes, "caffe_alexnet",
                              [helper.make_tensor_value_info("data_0", TensorProto.FLOAT, ["N", 3, 35, 35])],
                              [helper.make_tensor_value_info("prob_1", TensorProto.FLOAT, ["N", 10])], inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)], ir_version=4)
    onnx.checker.check_model(proto, full_check=True)
    path = os.path.join(OUT, "caffe_alexnet-opset9.onnx")
    onnx.save(proto, path)
    probabilities = onnxruntime_outputs(path, {"data_0": x.numpy()})[0]
    want = torch.softmax(logits, dim=1).detach().numpy()
    error = np.abs(probabilities - want).max()
    assert error < 1e-5, f"caffe_alexnet: onnxruntime's probabilities differ from PyTorch's by {error}"
    write_safetensors(os.path.join(OUT, "caffe_alexnet.safetensors"),
                      {"input": x, "seed": seed, "logits": logits, "input_gradient": xg.grad})
    print(f"{path}: {os.path.getsize(path)} bytes, onnxruntime vs PyTorch {error:.1e}")


def main():
    os.makedirs(OPS, exist_ok=True)
    export_families()
    write_ops()
    write_caffe_alexnet()


if __name__ == "__main__":
    main()
