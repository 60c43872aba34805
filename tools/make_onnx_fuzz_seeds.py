"""Writes the seed corpus of the ONNX fuzz target (fuzz/Corpus/onnx): two tiny random-weight classifiers,
a CNN (Conv, BatchNormalization, Relu, global pooling, Gemm) and a token model (patch Conv, attention with
Softmax, LayerNormalization, Gelu), each exported at opsets 13 and 17 with a dynamic batch, the CNN also with every
module as a model-local function (opset 15), plus the first 700 bytes of the CNN as a truncated file. Run with Debian's python3-torch: /usr/bin/python3 tools/make_onnx_fuzz_seeds.py
"""
import os
import torch
import torch.nn as nn

OUT = os.path.join(os.path.dirname(__file__), "..", "fuzz", "Corpus", "onnx")


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.c, self.b, self.f = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Linear(4, 3)

    def forward(self, x):
        y = torch.relu(self.b(self.c(x)))
        return self.f(nn.functional.adaptive_avg_pool2d(y, 1).flatten(1))


class Tokens(nn.Module):
    def __init__(self):
        super().__init__()
        self.p, self.n = nn.Conv2d(3, 8, 4, stride=4), nn.LayerNorm(8)
        self.a, self.h = nn.MultiheadAttention(8, 2, batch_first=True), nn.Linear(8, 3)

    def forward(self, x):
        t = self.p(x).flatten(2).transpose(1, 2)
        t = t + self.a(t, t, t, need_weights=False)[0]
        return self.h(nn.functional.gelu(self.n(t)).mean(1))


def main():
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    for name, model in [("cnn", CNN()), ("tokens", Tokens())]:
        model.eval()
        for opset in (13, 17):
            torch.onnx.export(model, torch.randn(1, 3, 8, 8), os.path.join(OUT, f"{name}-opset{opset}.onnx"),
                              opset_version=opset, input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
        if name == "cnn":
            # Every module a model-local function (calls with attributes their bodies refer to), opset 15.
            torch.onnx.export(model, torch.randn(1, 3, 8, 8), os.path.join(OUT, "cnn-functions-opset15.onnx"),
                              opset_version=15, input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                              export_modules_as_functions=True)
    with open(os.path.join(OUT, "cnn-opset13.onnx"), "rb") as f:
        head = f.read(700)
    with open(os.path.join(OUT, "truncated.onnx"), "wb") as f:
        f.write(head)


if __name__ == "__main__":
    main()
