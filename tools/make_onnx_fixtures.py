#!/usr/bin/env python3
"""Writes the ONNX parity fixtures under Tests/FovExONNXTests/Fixtures.

Small-width, random-weight versions of torchvision 0.14 classifiers (their own classes, fewer channels and
blocks so that the files stay a few hundred KB) are exported with torch.onnx.export at opsets 13 and 17, and
PyTorch's logits and input gradients are recorded as the independent reference the Swift tests compare with.

Run with Debian's PyTorch (apt-get install python3-torch python3-torchvision libopenblas0-pthread):
    /usr/bin/python3 tools/make_onnx_fixtures.py [FAMILY ...]
For each family NAME it writes NAME-opset13.onnx, NAME-opset17.onnx and NAME.safetensors holding
`input` [2, 3, S, S], `seed` [2, classes], `logits` [2, classes] and `input_gradient` [2, 3, S, S], the
gradient of sum(logits * seed) with respect to the input.
"""
import copy
import functools
import json
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet
from torchvision.models.mobilenetv2 import MobileNetV2
from torchvision.models.mobilenetv3 import InvertedResidualConfig, MobileNetV3
from torchvision.models.efficientnet import EfficientNet, FusedMBConvConfig, MBConvConfig
from torchvision.models.regnet import BlockParams, RegNet
from torchvision.models.densenet import DenseNet
from torchvision.models.squeezenet import Fire, SqueezeNet
from torchvision.models.shufflenetv2 import ShuffleNetV2
from torchvision.models.mnasnet import MNASNet
from torchvision.models.googlenet import BasicConv2d as GoogLeNetConv, GoogLeNet, Inception
from torchvision.models.inception import BasicConv2d as InceptionConv, Inception3, InceptionA, InceptionB, \
    InceptionC, InceptionD, InceptionE, InceptionAux
from torchvision.models.convnext import CNBlockConfig, ConvNeXt
from torchvision.models.swin_transformer import SwinTransformer
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


def small_bottleneck_resnet(groups=1, width_per_group=64):
    """torchvision's ResNet with Bottleneck blocks, one block per stage, stage planes 8, 8, 16, 16 and an
    8-channel stem; `groups` and `width_per_group` as in resnext50_32x4d and wide_resnet50_2."""
    m = ResNet(Bottleneck, [1, 1, 1, 1], num_classes=CLASSES, groups=groups, width_per_group=width_per_group)
    m.conv1 = nn.Conv2d(3, 8, kernel_size=7, stride=2, padding=3, bias=False)
    m.bn1 = nn.BatchNorm2d(8)
    m.inplanes = 8
    m.layer1 = m._make_layer(Bottleneck, 8, 1)
    m.layer2 = m._make_layer(Bottleneck, 8, 1, stride=2)
    m.layer3 = m._make_layer(Bottleneck, 16, 1, stride=2)
    m.layer4 = m._make_layer(Bottleneck, 16, 1, stride=2)
    m.fc = nn.Linear(16 * Bottleneck.expansion, CLASSES)
    return m, 32


def small_resnet50():
    return small_bottleneck_resnet()


def small_resnext50():
    """Grouped 3×3 convolutions: 4 groups of 2 channels in the first stage (resnext50_32x4d has 32 groups of 4)."""
    return small_bottleneck_resnet(groups=4, width_per_group=32)


def small_wide_resnet50():
    """Bottleneck width twice the planes, as in wide_resnet50_2."""
    return small_bottleneck_resnet(width_per_group=128)


def small_mobilenet_v3(large):
    """torchvision's MobileNetV3 blocks (squeeze-excitation with HardSigmoid, HardSwish, ReLU, residuals)
    with few narrow blocks; the mix of activations and SE of the small or large configuration."""
    c = functools.partial(InvertedResidualConfig, width_mult=1.0)
    if large:
        setting = [c(8, 3, 8, 8, False, "RE", 1, 1), c(8, 3, 24, 12, False, "RE", 2, 1), c(12, 5, 24, 12, True, "RE", 1, 1),
                   c(12, 3, 32, 16, False, "HS", 2, 1), c(16, 3, 48, 16, True, "HS", 1, 1)]
    else:
        setting = [c(8, 3, 8, 8, True, "RE", 2, 1), c(8, 3, 24, 12, False, "RE", 2, 1), c(12, 5, 32, 16, True, "HS", 2, 1),
                   c(16, 5, 48, 16, True, "HS", 1, 1)]
    return MobileNetV3(setting, last_channel=32, num_classes=CLASSES), 32


def small_efficientnet_b0():
    """torchvision's EfficientNet with MBConv blocks (SiLU, squeeze-excitation, stochastic depth off in eval)."""
    setting = [MBConvConfig(1, 3, 1, 8, 8, 1), MBConvConfig(4, 3, 2, 8, 12, 2), MBConvConfig(4, 5, 2, 12, 16, 1)]
    return EfficientNet(setting, dropout=0.2, num_classes=CLASSES, last_channel=32), 32


def small_efficientnet_v2_s():
    """EfficientNet-V2's FusedMBConv stages (with and without expansion) before an MBConv stage."""
    setting = [FusedMBConvConfig(1, 3, 1, 8, 8, 2), FusedMBConvConfig(4, 3, 2, 8, 16, 2), MBConvConfig(4, 3, 2, 16, 16, 2)]
    norm = functools.partial(nn.BatchNorm2d, eps=1e-3)
    return EfficientNet(setting, dropout=0.2, num_classes=CLASSES, norm_layer=norm, last_channel=32), 32


def small_regnet_y():
    """torchvision's RegNet with Y blocks (grouped convolutions of group width 8, squeeze-excitation)."""
    params = BlockParams(depths=[1, 2], widths=[16, 32], group_widths=[8, 8], bottleneck_multipliers=[1.0, 1.0],
                         strides=[2, 2], se_ratio=0.25)
    return RegNet(params, num_classes=CLASSES, stem_width=8), 32


def small_densenet():
    """torchvision's DenseNet: growth rate 4, two dense blocks of two layers, batch norms after concatenations
    (left in the graph), a transition with average pooling."""
    return DenseNet(growth_rate=4, block_config=(2, 2), num_init_features=8, bn_size=2, num_classes=CLASSES), 32


def small_squeezenet():
    """torchvision's SqueezeNet 1.1 layout with narrow Fire modules; 34-pixel inputs make the ceil-mode max
    pooling windows hang over the border."""
    m = SqueezeNet("1_1", num_classes=CLASSES)
    m.features = nn.Sequential(
        nn.Conv2d(3, 8, kernel_size=3, stride=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        Fire(8, 4, 8, 8), Fire(16, 4, 8, 8),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        Fire(16, 4, 12, 12))
    m.classifier = nn.Sequential(nn.Dropout(p=0.5), nn.Conv2d(24, CLASSES, kernel_size=1), nn.ReLU(inplace=True),
                                 nn.AdaptiveAvgPool2d((1, 1)))
    return m, 34


def small_shufflenet():
    """torchvision's ShuffleNetV2: channel split, concatenation and shuffle, three narrow stages."""
    return ShuffleNetV2([2, 1, 1], [8, 16, 24, 32, 48], num_classes=CLASSES), 32


def small_mnasnet():
    """torchvision's MNASNet at depth multiplier 0.1 with its last two stacks left out and the last 1×1
    convolution narrowed from 1280 to 32."""
    m = MNASNet(0.1, num_classes=CLASSES)
    m.layers[12] = m.layers[13] = nn.Identity()
    width = [mod for mod in m.layers[11].modules() if isinstance(mod, nn.Conv2d)][-1].out_channels
    m.layers[14] = nn.Conv2d(width, 32, 1, bias=False)
    m.layers[15] = nn.BatchNorm2d(32)
    m.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(32, CLASSES))
    return m, 32


def small_googlenet():
    """torchvision's GoogLeNet (aux_logits=False, init_weights=False) with narrow Inception modules; four of the
    repeated modules are left out (their op types are those of the others); 34-pixel inputs make three of the
    ceil-mode max pooling windows hang over the border."""
    m = GoogLeNet(num_classes=CLASSES, aux_logits=False, transform_input=False, init_weights=False)
    m.conv1 = GoogLeNetConv(3, 8, kernel_size=7, stride=2, padding=3)
    m.conv2 = GoogLeNetConv(8, 8, kernel_size=1)
    m.conv3 = GoogLeNetConv(8, 12, kernel_size=3, padding=1)
    m.inception3a = Inception(12, 4, 4, 8, 2, 4, 4)
    m.inception3b = Inception(20, 4, 4, 8, 2, 4, 4)
    m.inception4a = Inception(20, 8, 4, 8, 2, 4, 4)
    m.inception4b = m.inception4c = m.inception4d = nn.Identity()
    m.inception4e = Inception(24, 8, 4, 8, 2, 4, 4)
    m.inception5a = nn.Identity()
    m.inception5b = Inception(24, 8, 4, 12, 2, 4, 4)
    m.fc = nn.Linear(28, CLASSES)
    return m, 34


def small_inception_v3():
    """torchvision's Inception3 (aux_logits=False, init_weights=False) with every convolution 16 times narrower
    (the blocks' own channel counts divided by 16) and the repeated blocks of equal width left out; 75 pixels,
    the smallest input it takes."""
    def narrow(in_channels, out_channels, **kwargs):
        return InceptionConv(in_channels if in_channels == 3 else in_channels // 16, out_channels // 16, **kwargs)
    blocks = [narrow] + [functools.partial(b, conv_block=narrow)
                         for b in (InceptionA, InceptionB, InceptionC, InceptionD, InceptionE, InceptionAux)]
    m = Inception3(num_classes=CLASSES, aux_logits=False, transform_input=False, init_weights=False,
                   inception_blocks=blocks)
    m.Mixed_5d = m.Mixed_6c = m.Mixed_6d = m.Mixed_6e = m.Mixed_7c = nn.Identity()
    m.fc = nn.Linear(2048 // 16, CLASSES)
    return m, 75


def small_convnext():
    """torchvision's ConvNeXt: two stages of one block (7×7 depthwise convolution, channels-last LayerNorm,
    GELU, layer scale) with widths 8 and 16."""
    return ConvNeXt([CNBlockConfig(8, 16, 1), CNBlockConfig(16, None, 1)], num_classes=CLASSES), 32


def small_swin():
    """torchvision's SwinTransformer: 4×4 patches, a stage of two blocks (windows of 4×4 tokens, shifted in
    the second block) and one of one block, widths 8 and 16. 40-pixel inputs give 10×10 tokens, so windows are padded, and a
    5×5 second stage, so patch merging pads too."""
    return SwinTransformer(patch_size=[4, 4], embed_dim=8, depths=[2, 1], num_heads=[1, 2], window_size=[4, 4],
                           stochastic_depth_prob=0.0, num_classes=CLASSES), 40


class OpMix(nn.Module):
    """Ops no torchvision classifier exports together: a batch norm after a ReLU (left in the graph), Split,
    Einsum attention with Softmax over a non-last axis, reflect and edge Pad, pooling with asymmetric padding
    and ceil mode, and average pooling with padding counted and not."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3)
        self.fc = nn.Linear(8, CLASSES)

    def forward(self, x):
        x = self.bn(torch.relu(self.conv(x)))
        a, b = torch.split(x, [3, 5], dim=1)
        q = a.flatten(2)
        attention = torch.softmax(torch.einsum("nci,ncj->nij", q, q), dim=1)
        b = torch.einsum("ncj,nij->nci", b.flatten(2), attention).reshape(b.shape)
        x = torch.cat([a, b], dim=1)
        x = F.pad(x, (1, 2, 0, 1), mode="reflect")
        x = F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True)
        x = F.pad(x, (2, 1, 1, 0), mode="replicate")
        x = F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
        x = self.conv2(x)
        # count_include_pad with padding exports as Pad + AveragePool; in ceil mode PyTorch 1.13's exporter then
        # keeps a last window that starts in the padding, which PyTorch drops, so floor mode here.
        x = F.avg_pool2d(x, 2, stride=2, padding=1, count_include_pad=True)
        return self.fc(x.mean(dim=(2, 3)))


def small_opmix():
    return OpMix(), 19


FAMILIES = {"resnet18": small_resnet18, "mobilenet_v2": small_mobilenet_v2, "vit": small_vit,
            "resnet50": small_resnet50, "resnext50_32x4d": small_resnext50, "wide_resnet50_2": small_wide_resnet50,
            "mobilenet_v3_small": lambda: small_mobilenet_v3(False), "mobilenet_v3_large": lambda: small_mobilenet_v3(True),
            "efficientnet_b0": small_efficientnet_b0, "efficientnet_v2_s": small_efficientnet_v2_s,
            "regnet_y_400mf": small_regnet_y, "densenet121": small_densenet, "squeezenet1_1": small_squeezenet,
            "shufflenet_v2_x1_0": small_shufflenet, "mnasnet1_0": small_mnasnet, "googlenet": small_googlenet,
            "inception_v3": small_inception_v3, "convnext_tiny": small_convnext, "swin_t": small_swin,
            "opmix": small_opmix}


NORMALISATIONS = (nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)


def randomize(model, generator):
    """Random weights everywhere, batch-norm statistics included (they are 0 and 1 after construction).

    Normalisation scales are drawn around 1 (1 + 0.1·N(0, 1)); every other vector around 0. Scales drawn around 0
    shrank the signal about ten times at each normalisation: in the deeper families the logits were then their
    biases alone, the two inputs' logits agreeing to 1e−6, and in the small Inception-v3 one layer was dead, so that
    its input gradient was zero."""
    scales = {id(m.weight) for m in model.modules() if isinstance(m, NORMALISATIONS) and m.weight is not None}
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=generator)
            p.copy_(1 + 0.1 * r if id(p) in scales else r * (0.5 if p.dim() > 1 else 0.1))
        for mod in model.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.copy_(torch.randn(mod.running_mean.shape, generator=generator) * 0.1)
                mod.running_var.copy_(torch.rand(mod.running_var.shape, generator=generator) + 0.5)
        # Scale each convolution and linear layer so that activations stay of order one through the depth.
        for mod in model.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                fan_in = mod.weight[0].numel()
                mod.weight.mul_(1.0 / (0.5 * fan_in ** 0.5))


def reference_problem(model, x, seed):
    """Why a random model and input make a poor reference, or None.

    The Swift tests hold logits to 1e−4 and input gradients to 1e−3 of PyTorch's, so the reference must be
    sensitive to its input, the two inputs' logits differing by ten times that bound (else the logits test only the
    biases; both inputs are uniform noise, whose globally pooled features are alike) and well conditioned: where fp32's own input
    gradient is further than 1e−5 from fp64's (a max-pooling window with two nearly equal values, say), the
    comparison would measure round-off, which differs between CPUs, not the code."""
    xg = x.clone().requires_grad_(True)
    logits = model(xg)
    (logits * seed).sum().backward()
    spread = float((logits[0] - logits[1]).abs().max() / logits.abs().max())
    if spread < 1e-3:
        return f"the two inputs' logits differ by only {spread:.1e} of their size"
    if any(float(g.abs().max()) == 0 for g in xg.grad):
        return "an input's gradient is zero"
    exact = copy.deepcopy(model).double()
    xd = x.double().requires_grad_(True)
    (exact(xd) * seed.double()).sum().backward()
    error = float((xg.grad.double() - xd.grad).abs().max() / xd.grad.abs().max())
    if error > 1e-5:
        return f"fp32's input gradient is {error:.1e} from fp64's"
    return None


def draw(name):
    """The family's small model with random weights, its input [2, 3, S, S] and the logits' seed [2, classes].

    The first draw comes from seed 1000 + the family's index; one that ``reference_problem`` rejects is drawn again
    from that seed + 1000, and so on, so that every script rebuilding a family gets the same weights."""
    index = list(FAMILIES).index(name)
    for attempt in range(10):
        generator = torch.Generator().manual_seed(1000 + index + 1000 * attempt)
        model, size = FAMILIES[name]()
        randomize(model, generator)
        model.eval()
        x = torch.rand(2, 3, size, size, generator=generator)
        seed = torch.randn(2, CLASSES, generator=generator)
        problem = reference_problem(model, x, seed)
        if problem is None:
            return model, size, x, seed
        print(f"{name}: draw {attempt} rejected: {problem}")
    raise SystemExit(f"{name}: no usable draw in 10")


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
    only = set(sys.argv[1:])
    for name in FAMILIES:
        if only and name not in only:
            continue
        model, size, x, seed = draw(name)
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
