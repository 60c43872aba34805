#!/usr/bin/python3
"""Exports EfficientNet-Lite0 with its real weights to ONNX, for the check that an exported model explains
like the built-in one (Tests/FovExONNXTests/ONNXLite0ExportTests.swift, skipped unless FOVEX_LITE0_ONNX names
the file this script writes).

The network is built here in PyTorch from the lukemelas EfficientNet-PyTorch layout of the weights
(`_conv_stem`, `_bn0`, `_blocks.i._expand_conv` / `._bn0`, `._depthwise_conv` / `._bn1`, `._project_conv` /
`._bn2`, `_conv_head`, `_bn1`, `_fc`; the Lite settings: ReLU6, no squeeze-and-excitation, batch-norm eps 1e-3,
TensorFlow "SAME" padding), independently of the Swift model. SAME padding at 224 px is asymmetric on the
stride-2 convolutions; each convolution is exported as one ONNX Conv with its explicit `pads` (what TensorFlow
converters write) and its batch norm as a separate BatchNormalization node.

Run with Debian's PyTorch, giving the weights (`fovex models fetch efficientnet-lite0` prints their path; a
lukemelas .pth file or the cached .safetensors) and the output file:

    /usr/bin/python3 tools/export_lite0_onnx.py WEIGHTS lite0.onnx

The exported file is large (19 MB) and is not committed.
"""
import json
import math
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# (repeats, kernel, stride, expansion, in, out) per stage: EfficientNet-B0's, which Lite0 keeps.
STAGES = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)]
SIZE = 224


def read_weights(path):
    if path.endswith(".safetensors"):
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n))
            data = f.read()
        out = {}
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            assert entry["dtype"] == "F32", f"{name}: {entry['dtype']}"
            a, b = entry["data_offsets"]
            out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype=np.float32).reshape(entry["shape"]).copy())
        return out
    return torch.load(path, map_location="cpu")


def same_pads(size, kernel, stride):
    """TensorFlow SAME: output ceil(size / stride); the odd pixel of padding goes after (bottom, right)."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConvFunction(torch.autograd.Function):
    """A convolution with asymmetric zero padding, exported as a single ONNX Conv with explicit pads."""

    @staticmethod
    def forward(ctx, x, weight, stride, groups, pads):
        top, bottom, left, right = pads
        return F.conv2d(F.pad(x, (left, right, top, bottom)), weight, None, stride, 0, 1, groups)

    @staticmethod
    def symbolic(g, x, weight, stride, groups, pads):
        top, bottom, left, right = pads
        k = weight.type().sizes()[2:]
        return g.op("Conv", x, weight, kernel_shape_i=list(k), strides_i=[stride, stride], group_i=groups,
                    pads_i=[top, left, bottom, right], dilations_i=[1, 1])


class SameConv(nn.Module):
    def __init__(self, cin, cout, kernel, stride, groups, size):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(cout, cin // groups, kernel, kernel))
        self.stride, self.groups = stride, groups
        self.pads = same_pads(size, kernel, stride) * 2  # (top, bottom) then (left, right): a square input
        self.output_size = math.ceil(size / stride)

    def forward(self, x):
        return SameConvFunction.apply(x, self.weight, self.stride, self.groups, self.pads)


class ConvBN(nn.Module):
    def __init__(self, cin, cout, kernel, stride, groups, size, act=True):
        super().__init__()
        self.conv = SameConv(cin, cout, kernel, stride, groups, size)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3)
        self.act = act
        self.output_size = self.conv.output_size

    def forward(self, x):
        x = self.bn(self.conv(x))
        return F.relu6(x) if self.act else x


class Block(nn.Module):
    def __init__(self, cin, cout, kernel, stride, expand, size):
        super().__init__()
        hidden = cin * expand
        self.expand = ConvBN(cin, hidden, 1, 1, 1, size) if expand != 1 else None
        self.depthwise = ConvBN(hidden, hidden, kernel, stride, hidden, size)
        self.project = ConvBN(hidden, cout, 1, 1, 1, self.depthwise.output_size, act=False)
        self.residual = stride == 1 and cin == cout
        self.output_size = self.depthwise.output_size

    def forward(self, x):
        y = self.expand(x) if self.expand is not None else x
        y = self.project(self.depthwise(y))
        return y + x if self.residual else y


class Lite0(nn.Module):
    """Lite0's network on normalised [N, 3, 224, 224] input. Lite normalises pixels x in [0, 1] as
    (255 x − 127) / 128, that is mean 127/255 and standard deviation 128/255: the graph leaves that to the
    caller, as torchvision's exported models do (`--mean 0.498039,0.498039,0.498039 --std 0.501961,0.501961,0.501961`)."""

    def __init__(self):
        super().__init__()
        self.stem = ConvBN(3, 32, 3, 2, 1, SIZE)
        size = self.stem.output_size
        blocks = []
        for repeats, kernel, stride, expand, cin, cout in STAGES:
            for r in range(repeats):
                b = Block(cin if r == 0 else cout, cout, kernel, stride if r == 0 else 1, expand, size)
                size = b.output_size
                blocks.append(b)
        self.blocks = nn.ModuleList(blocks)
        self.head = ConvBN(320, 1280, 1, 1, 1, size)
        self.fc = nn.Linear(1280, 1000)

    def forward(self, x):
        x = self.stem(x)
        for b in self.blocks:
            x = b(x)
        x = self.head(x)
        return self.fc(x.mean(dim=(2, 3)))

    def load_lukemelas(self, w):
        def conv_bn(m, conv, bn):
            m.conv.weight.data.copy_(w.pop(conv + ".weight"))
            for ours, theirs in [("weight", "weight"), ("bias", "bias"), ("running_mean", "running_mean"),
                                 ("running_var", "running_var")]:
                getattr(m.bn, ours).data.copy_(w.pop(f"{bn}.{theirs}"))
            w.pop(f"{bn}.num_batches_tracked", None)
        conv_bn(self.stem, "_conv_stem", "_bn0")
        for i, b in enumerate(self.blocks):
            p = f"_blocks.{i}"
            if b.expand is not None:
                conv_bn(b.expand, p + "._expand_conv", p + "._bn0")
            conv_bn(b.depthwise, p + "._depthwise_conv", p + "._bn1")
            conv_bn(b.project, p + "._project_conv", p + "._bn2")
        conv_bn(self.head, "_conv_head", "_bn1")
        self.fc.weight.data.copy_(w.pop("_fc.weight"))
        self.fc.bias.data.copy_(w.pop("_fc.bias"))
        assert not w, f"weights left unused: {sorted(w)[:5]}"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    model = Lite0()
    model.load_lukemelas(dict(read_weights(sys.argv[1])))
    model.eval()
    x = torch.rand(1, 3, SIZE, SIZE)
    torch.onnx.export(model, x, sys.argv[2], opset_version=13, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    print(f"wrote {sys.argv[2]}")


if __name__ == "__main__":
    main()
