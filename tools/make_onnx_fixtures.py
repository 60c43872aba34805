#!/usr/bin/env python3
"""Writes the ONNX parity fixtures under Tests/FovExONNXTests/Fixtures.

Small-width, random-weight versions of torchvision 0.14 classifiers (their own classes, fewer channels and
blocks so that the files stay a few hundred KB) are exported with torch.onnx.export at opsets 13 and 17, and
PyTorch's logits and input gradients are recorded as the independent reference the Swift tests compare with.

Run with Debian's PyTorch (apt-get install python3-torch python3-torchvision libopenblas0-pthread):
    /usr/bin/python3 tools/make_onnx_fixtures.py
For each family NAME it writes NAME-opset13.onnx, NAME-opset17.onnx and NAME.safetensors holding
`input` [2, 3, S, S], `seed` [2, classes], `logits` [2, classes] and `input_gradient` [2, 3, S, S], the
gradient of sum(logits * seed) with respect to the input.
"""
import json
import os
import struct

import torch
import torch.nn as nn
import torchvision
from torchvision.models.resnet import BasicBlock, ResNet
from torchvision.models.mobilenetv2 import MobileNetV2
from torchvision.models.vision_transformer import VisionTransformer
from torchvision.ops.misc import Conv2dNormActivation

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "FovExONNXTests", "Fixtures")
CLASSES = 10


def small_resnet18():
    """torchvision's ResNet-18 (BasicBlock, [2, 2, 2, 2]) with stage widths 8, 12, 16, 32 and an 8-channel stem."""
    m = ResNet(BasicBlock, [2, 2, 2, 2], num_classes=CLASSES)
    m.conv1 = nn.Conv2d(3, 8, kernel_size=7, stride=2, padding=3, bias=False)
    m.bn1 = nn.BatchNorm2d(8)
    m.inplanes = 8
    m.layer1 = m._make_layer(BasicBlock, 8, 2)
    m.layer2 = m._make_layer(BasicBlock, 12, 2, stride=2)
    m.layer3 = m._make_layer(BasicBlock, 16, 2, stride=2)
    m.layer4 = m._make_layer(BasicBlock, 32, 2, stride=2)
    m.fc = nn.Linear(32, CLASSES)
    return m, 64


def small_mobilenet_v2():
    """torchvision's MobileNetV2 at width 0.25 with a shortened block list and a 64-channel last convolution."""
    setting = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 2, 2], [6, 64, 1, 2], [6, 96, 2, 1]]
    m = MobileNetV2(num_classes=CLASSES, width_mult=0.25, inverted_residual_setting=setting)
    last_in = m.features[-1][0].in_channels
    m.features[-1] = Conv2dNormActivation(last_in, 64, kernel_size=1, activation_layer=nn.ReLU6)
    m.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(64, CLASSES))
    return m, 64


def small_vit():
    """torchvision's VisionTransformer: 32×32 images, 8×8 patches, 2 layers, 2 heads, width 32."""
    m = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
                          num_classes=CLASSES)
    return m, 32


FAMILIES = {"resnet18": small_resnet18, "mobilenet_v2": small_mobilenet_v2, "vit": small_vit}


def randomize(model, generator):
    """Random weights everywhere, batch-norm statistics included (they are 0 and 1 after construction)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * (0.5 if p.dim() > 1 else 0.1))
        for mod in model.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.copy_(torch.randn(mod.running_mean.shape, generator=generator) * 0.1)
                mod.running_var.copy_(torch.rand(mod.running_var.shape, generator=generator) + 0.5)
        # Scale each convolution and linear layer so that activations stay of order one through the depth.
        for mod in model.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                fan_in = mod.weight[0].numel()
                mod.weight.mul_(1.0 / (0.5 * fan_in ** 0.5))


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        data = t.detach().contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    for i, (name, build) in enumerate(FAMILIES.items()):
        generator = torch.Generator().manual_seed(1000 + i)
        model, size = build()
        randomize(model, generator)
        model.eval()
        x = torch.rand(2, 3, size, size, generator=generator)
        seed = torch.randn(2, CLASSES, generator=generator)
        xg = x.clone().requires_grad_(True)
        logits = model(xg)
        (logits * seed).sum().backward()
        write_safetensors(os.path.join(OUT, f"{name}.safetensors"),
                          {"input": x, "seed": seed, "logits": logits, "input_gradient": xg.grad})
        for opset in (13, 17):
            path = os.path.join(OUT, f"{name}-opset{opset}.onnx")
            torch.onnx.export(model, x[:1], path, opset_version=opset, input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
            print(f"{path}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
