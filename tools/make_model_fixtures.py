#!/usr/bin/python3
"""Writes the PyTorch parity fixtures for Tests/FovExModelsTests/Fixtures (files parity_*.safetensors and
architectures.json).

Needs PyTorch and torchvision (Debian's python3-torch / python3-torchvision; run with /usr/bin/python3):

    /usr/bin/python3 tools/make_model_fixtures.py

Weights are not stored. Both this script and the Swift package derive every parameter from a seed with the same
tiny generator, so the fixtures only hold the expected outputs (a few MB for models of up to 86 M parameters):

  * SplitMix64 (Swift's `SeededGenerator`): state = seed + G; each draw adds G = 0x9E3779B97F4A7C15 and mixes;
    a uniform float is (draw >> 40) * 2^-24, exactly representable in float32.
  * A tensor's seed is FNV-1a-64(its name, UTF-8) XOR the model seed; element i takes draw i (row-major).
  * value = center + half_width * (2u - 1), in float32, with (center, half_width) by the parameter's role:
      convolution / linear weight   (0, sqrt(3 / fan_in))   fan_in = product of all but the first axis
      bias, norm offset             (0, 0.1)
      norm scale                    (1, 0.25)
      running mean                  (0, 0.1)
      running variance              (1, 0.5)
      cls_token, pos_embed          (0, 0.5)
  * The input image is generated the same way under the name "input" with (0.5, 0.5): uniform in [0, 1).

The references are the real torchvision ResNets and plain-PyTorch re-statements of timm's
vit_*_patch16_224 and of lukemelas' EfficientNet-Lite (key names as in their checkpoints), evaluated in
float64 from those float32 weights and stored as float32, so the Swift tests measure their own error.
Each parity file holds `logits` [N, 1000], `input_grad` (the gradient of Σ_n logits[n, class] with respect to
the [0, 1] input), and for one named inner point its value and gradient (`point`, `point_grad`); the metadata
names the model, seed, input shape, class, point (and, for ViT, the batch element and number of leading heads
kept of the attention probabilities).

A case's seed is the first from its listed one at which no ReLU / ReLU6 input lies within 1e-7 (relative to
its tensor's largest magnitude) of the kink: float32 rounding may put such a value on the other side, and one
flipped unit moves the input gradient by more than the tests' tolerance. The metadata holds the seed used.

architectures.json lists every parameter name and shape (in state-dict order, num_batches_tracked dropped) of
torchvision's resnet18…152 and of the re-statements of vit-ti/s/b/l16 and efficientnet-lite0…4, so the Swift
test can check all fifteen architectures' key layouts, not only the five with parity fixtures.
"""
import json
import math
import os
import re
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

import fixture_io  # noqa: E402  (tools/ is on sys.path when a script runs)

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "FovExModelsTests",
                                    "Fixtures"))
MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


# ---------------------------------------------------------------------------------------------------------------
# The shared deterministic generator

def fnv1a64(text):
    h = 0xCBF29CE484222325
    for b in text.encode("utf-8"):
        h ^= b
        h = (h * 0x100000001B3) & MASK64
    return h


def uniform(seed, n):
    """n float32 draws in [0, 1) from Swift's SeededGenerator(seed:)."""
    with np.errstate(over="ignore"):
        i = np.arange(1, n + 1, dtype=np.uint64)
        z = np.uint64((seed + GOLDEN) & MASK64) + i * np.uint64(GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -24)


def generated(name, shape, model_seed, center, half_width):
    n = int(np.prod(shape)) if len(shape) else 1
    u = uniform(fnv1a64(name) ^ model_seed, n)
    t = np.float32(2) * u - np.float32(1)
    v = np.float32(center) + np.float32(half_width) * t
    return v.astype(np.float32).reshape(shape)


NORM_OWNER = re.compile(r"(^|\.)(_bn\d|bn\d|norm\d?|downsample\.1)$")


def role(name, shape):
    """(center, half_width) for a parameter, from its name and shape (mirrors the Swift specs' roles)."""
    owner, _, leaf = name.rpartition(".")
    if leaf == "running_mean":
        return 0.0, 0.1
    if leaf == "running_var":
        return 1.0, 0.5
    if leaf in ("cls_token", "pos_embed"):
        return 0.0, 0.5
    if NORM_OWNER.search(owner):
        return (1.0, 0.25) if leaf == "weight" else (0.0, 0.1)
    if leaf == "bias":
        return 0.0, 0.1
    fan_in = int(np.prod(shape[1:]))
    return 0.0, float(np.float32(math.sqrt(3.0 / fan_in)))


def random_state_dict(model, seed):
    state = {}
    for name, t in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            state[name] = t
            continue
        center, hw = role(name, list(t.shape))
        state[name] = torch.from_numpy(generated(name, list(t.shape), seed, center, hw))
    return state


# ---------------------------------------------------------------------------------------------------------------
# Reference architectures

class Normalized(nn.Module):
    """(x − mean) / std per channel in front of a network, as the Swift models do inside forward."""

    def __init__(self, net, mean, std):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def forward(self, x):
        return self.net((x - self.mean.to(x.dtype)) / self.std.to(x.dtype))


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.probs = None

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
        if attn.requires_grad:
            attn.retain_grad()
        self.probs = attn
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, 4 * dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    """timm's vit_*_patch16_224 (class token, learned position embedding, pre-norm blocks, head on the CLS token)."""

    def __init__(self, dim, depth, heads, classes=1000):
        super().__init__()
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, dim, 16, 16)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 197, dim))
        self.blocks = nn.ModuleList([Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x)[:, 0])


VIT = {"vit-ti16": (192, 12, 3), "vit-s16": (384, 12, 6), "vit-b16": (768, 12, 12), "vit-l16": (1024, 24, 16)}


class SameConv(nn.Conv2d):
    """TensorFlow "SAME" padding computed from the actual input (lukemelas' Conv2dDynamicSamePadding)."""

    def forward(self, x):
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        s = self.stride[0]
        ph = max((math.ceil(ih / s) - 1) * s + kh - ih, 0)
        pw = max((math.ceil(iw / s) - 1) * s + kw - iw, 0)
        x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, 1, self.groups)


# Set to a list while a reference runs: each ReLU / ReLU6 input's smallest distance to a kink, relative to
# its largest magnitude (see kink_margin).
KINK_MARGINS = None


def note_kinks(x, kinks):
    if KINK_MARGINS is not None:
        x = x.detach()
        KINK_MARGINS.append(min(float((x - k).abs().min()) for k in kinks) / float(x.abs().max()))


def relu6(x):
    note_kinks(x, (0.0, 6.0))
    return F.relu6(x)


def bn(c):
    return nn.BatchNorm2d(c, eps=1e-3)


class MBConv(nn.Module):
    def __init__(self, cin, cout, k, s, e):
        super().__init__()
        mid = cin * e
        self.expand = e != 1
        self.skip = s == 1 and cin == cout
        if self.expand:
            self._expand_conv = SameConv(cin, mid, 1, bias=False)
            self._bn0 = bn(mid)
        self._depthwise_conv = SameConv(mid, mid, k, s, groups=mid, bias=False)
        self._bn1 = bn(mid)
        self._project_conv = SameConv(mid, cout, 1, bias=False)
        self._bn2 = bn(cout)

    def forward(self, x):
        y = relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


LITE = {"efficientnet-lite0": (1.0, 1.0), "efficientnet-lite1": (1.0, 1.1), "efficientnet-lite2": (1.1, 1.2),
        "efficientnet-lite3": (1.2, 1.4), "efficientnet-lite4": (1.4, 1.8)}
LITE_STAGES = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
               (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)]


def round_filters(filters, width):
    filters *= width
    new = max(8, int(filters + 4) // 8 * 8)
    if new < 0.9 * filters:
        new += 8
    return int(new)


class EfficientNetLite(nn.Module):
    """lukemelas/EfficientNet-PyTorch with the Lite settings (ReLU6, no SE, stem and head fixed at 32 and 1280,
    first and last stage repeats unscaled)."""

    def __init__(self, width, depth, classes=1000):
        super().__init__()
        self._conv_stem = SameConv(3, 32, 3, 2, bias=False)
        self._bn0 = bn(32)
        blocks = []
        for i, (r, k, s, e, cin, cout) in enumerate(LITE_STAGES):
            cin, cout = round_filters(cin, width), round_filters(cout, width)
            if i == 0 or i == len(LITE_STAGES) - 1:
                if i == 0:
                    cin = 32
            else:
                r = int(math.ceil(depth * r))
            blocks.append(MBConv(cin, cout, k, s, e))
            blocks += [MBConv(cout, cout, k, 1, e) for _ in range(r - 1)]
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv(cout, 1280, 1, bias=False)
        self._bn1 = bn(1280)
        self._fc = nn.Linear(1280, classes)
        self.head_output = None

    def forward(self, x):
        x = relu6(self._bn0(self._conv_stem(x)))
        for b in self._blocks:
            x = b(x)
        x = relu6(self._bn1(self._conv_head(x)))
        if x.requires_grad:
            x.retain_grad()
        self.head_output = x
        return self._fc(x.mean(dim=(2, 3)))


IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
LITE_MEAN, LITE_STD = [127 / 255] * 3, [128 / 255] * 3


def build(name):
    if name.startswith("resnet"):
        return Normalized(getattr(torchvision.models, name)(), IMAGENET_MEAN, IMAGENET_STD)
    if name in VIT:
        return Normalized(VisionTransformer(*VIT[name]), [0.5] * 3, [0.5] * 3)
    return Normalized(EfficientNetLite(*LITE[name]), LITE_MEAN, LITE_STD)


# ---------------------------------------------------------------------------------------------------------------
# Fixtures

write_safetensors = fixture_io.write_safetensors


# name, model seed, input shape, class whose logit is differentiated, named point
PARITY = [
    ("resnet18", 18, [2, 3, 96, 80], 7, "layer4"),
    ("resnet50", 50, [1, 3, 80, 64], 281, "layer3.5"),
    ("vit-ti16", 1016, [2, 3, 224, 224], 7, "blocks.11.attn.probs"),
    ("vit-b16", 1216, [1, 3, 224, 224], 281, "blocks.5.attn.probs"),
    ("efficientnet-lite0", 10, [1, 3, 224, 224], 7, "_conv_head"),
    ("efficientnet-lite0", 11, [2, 3, 97, 113], 281, "_conv_head"),
]


def point_tensor(model, name, point, x, feats):
    if point.endswith("attn.probs"):
        return model.net.blocks[int(point.split(".")[1])].attn.probs
    if point == "_conv_head":
        return model.net.head_output
    return feats[point]


def reference(name, seed, shape, cls, point):
    """Logits, input gradient and the point's value and gradient in float64, and the smallest relative distance of
    any ReLU / ReLU6 input to its kink."""
    global KINK_MARGINS
    model = build(name)
    model.net.load_state_dict(random_state_dict(model.net, seed), strict=True)
    model = model.double().eval()
    for module in model.modules():
        if isinstance(module, nn.ReLU):
            module.register_forward_pre_hook(lambda _m, inputs: note_kinks(inputs[0], (0.0,)))
    x = torch.from_numpy(generated("input", shape, seed, 0.5, 0.5)).double().requires_grad_(True)
    feats = {}
    if name.startswith("resnet"):
        def hook(_m, _i, out):
            out.retain_grad()
            feats[point] = out
        model.net.get_submodule(point).register_forward_hook(hook)
    KINK_MARGINS = []
    logits = model(x)
    margin = min(KINK_MARGINS, default=1.0)
    KINK_MARGINS = None
    logits[:, cls].sum().backward()
    p = point_tensor(model, name, point, x, feats)
    return logits.detach(), x.grad.detach(), p.detach(), p.grad.detach(), margin


def make_parity(name, seed, shape, cls, point):
    # A float32 implementation cannot be expected to agree on which side of a ReLU kink a value within rounding
    # error of it falls, and one flipped unit moves the input gradient by far more than the tolerance; so the seed
    # is advanced until no ReLU / ReLU6 input lies within 1e-7 (relative) of a kink.
    for attempt in range(100):
        logits, input_grad, value, grad, margin = reference(name, seed + attempt, shape, cls, point)
        if margin > 1e-7:
            break
    seed += attempt
    meta = {"model": name, "seed": str(seed), "input_shape": json.dumps(shape), "class": str(cls), "point": point}
    if name in VIT:
        # keep two heads of one image's attention maps to bound the file size
        value, grad = value[-1, :2], grad[-1, :2]
        meta["point_batch_index"] = str(shape[0] - 1)
        meta["point_heads"] = "2"
    tag = f"{name}_{shape[2]}x{shape[3]}"
    write_safetensors(os.path.join(OUT, f"parity_{tag}.safetensors"),
                      {"logits": logits, "input_grad": input_grad, "point": value, "point_grad": grad}, meta)
    print(f"parity_{tag}: seed {seed}, kink margin {margin:.2g}, logits |max| {logits.abs().max():.3g}, "
          f"input_grad |max| {input_grad.abs().max():.3g}")


def make_architectures():
    layout = {}
    for name in ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", *VIT, *LITE]:
        net = build(name).net
        layout[name] = [[k, list(v.shape)] for k, v in net.state_dict().items()
                        if not k.endswith("num_batches_tracked")]
    with open(os.path.join(OUT, "architectures.json"), "w") as f:
        json.dump(layout, f, separators=(",", ":"))
        f.write("\n")


def main():
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    make_architectures()
    for case in PARITY:
        make_parity(*case)


if __name__ == "__main__":
    sys.exit(main())
