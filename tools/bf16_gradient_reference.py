#!/usr/bin/python3
"""Where bf16 input gradients part from fp32's: PyTorch's own autocast, and an emulation of this project's bf16
scheme with parts of it switched off, on real ImageNet images.

Modes (each compared with plain fp32 on the same model and images):
- `autocast`: PyTorch's `torch.autocast("cpu", dtype=torch.bfloat16)` (its convolutions and linear layers run in
  bf16 and return bf16 activations, which the following element-wise layers keep).
- `ours`: what `--precision bf16` does (docs/design/precision.md), emulated in fp32 arithmetic: every convolution
  and linear layer (batch norms folded into the convolutions first, as the Swift models do) rounds its input and
  weight to bf16 in the forward pass, and its incoming gradient and weight in the backward pass, and accumulates
  in fp32; everything else is fp32. A product of bf16-rounded operands is exact in fp32 and the sum differs from
  oneDNN's only in order, so this is the Swift computation up to fp32 rounding.
- parts of `ours`: `fwd` (forward rounding only, fp32 backward products), `bwd` (backward rounding only, fp32
  forward), `weights` (the weights rounded, activations and gradients fp32: an fp32 run of a model whose weights
  moved by bf16's rounding), `acts` (activations and gradients rounded, fp32 weights), `input` (only the
  normalised input image rounded to bf16, the rest fp32: a control for how the gradient reacts to a change of
  the input alone), and `ours-no-LAYERS` (ours, with the named layer kinds — stem, expand, depthwise, project,
  head, fc, or for ResNet conv1x1, conv3x3, downsample — kept fp32).

Per mode it prints the mean over images of: logits max |Δ| / max |fp32|, the input gradient of the top fp32 logit
‖Δ‖₂ / ‖fp32‖₂, and the share of ReLU/ReLU6 gates (forward) that differ from fp32's. With --fovex N it also runs
the reference FovEx search (tools/bench_torch_fovex.py's algorithm, 10 fixations × 20 steps, one seeded generator
per image) on the first N images in fp32 and in each mode and prints the share of fixations within 0.05
(image-fraction units) of the fp32 fixation of the same index.

Run with Debian's PyTorch (1.13) on one thread:

    OMP_NUM_THREADS=1 /usr/bin/python3 tools/bf16_gradient_reference.py --model lite0 \\
        --weights ~/.cache/fovex/efficientnet-lite0/efficientnet-lite0-*.safetensors \\
        --data ../shared/data/imagenet-val-1300 --count 10 --modes autocast,ours,fwd,bwd,weights,acts,input
    OMP_NUM_THREADS=1 /usr/bin/python3 tools/bf16_gradient_reference.py --model resnet50 --count 10 \\
        --modes autocast,ours          # torchvision's ResNet-50, random weights (seed 0)
"""
import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_lite0_onnx as lite  # noqa: E402
import bench_torch_fovex as reference_fovex  # noqa: E402


def bf16(t):
    return t.to(torch.bfloat16).to(torch.float32)


class Rounding:
    """What the emulated products round: forward activations / weights, backward gradients / weights, per layer kind.
    `kinds` None means every kind."""

    def __init__(self, fwd_act=False, fwd_w=False, bwd_grad=False, bwd_w=False, kinds=None):
        self.fwd_act, self.fwd_w, self.bwd_grad, self.bwd_w, self.kinds = fwd_act, fwd_w, bwd_grad, bwd_w, kinds

    def applies(self, kind):
        return self.kinds is None or kind in self.kinds


ROUNDING = Rounding()  # the mode in force; fp32 by default
GATES = []  # forward ReLU/ReLU6 gates of the last forward pass, while RECORD_GATES
RECORD_GATES = False


class EmulatedConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b, stride, padding, groups, kind):
        r = ROUNDING if ROUNDING.applies(kind) else Rounding()
        ctx.save_for_backward(w)
        ctx.conf = (x.shape, stride, padding, groups, r)
        return F.conv2d(bf16(x) if r.fwd_act else x, bf16(w) if r.fwd_w else w, b, stride, padding, 1, groups)

    @staticmethod
    def backward(ctx, g):
        (w,) = ctx.saved_tensors
        shape, stride, padding, groups, r = ctx.conf
        dx = torch.nn.grad.conv2d_input(shape, bf16(w) if r.bwd_w else w, bf16(g) if r.bwd_grad else g,
                                        stride, padding, 1, groups)
        return dx, None, None, None, None, None, None


class EmulatedLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b, kind):
        r = ROUNDING if ROUNDING.applies(kind) else Rounding()
        ctx.save_for_backward(w)
        ctx.r = r
        return F.linear(bf16(x) if r.fwd_act else x, bf16(w) if r.fwd_w else w, b)

    @staticmethod
    def backward(ctx, g):
        (w,) = ctx.saved_tensors
        r = ctx.r
        return (bf16(g) if r.bwd_grad else g) @ (bf16(w) if r.bwd_w else w), None, None, None


def gate(y, low=0.0, high=None):
    if RECORD_GATES:
        mask = (y > low) if high is None else ((y > low) & (y < high))
        GATES.append(mask.detach().flatten())
    return y.clamp(min=low) if high is None else y.clamp(low, high)


# ---------------------------------------------------------------- EfficientNet-Lite0 (real weights, BN folded)

class FoldedConv(nn.Module):
    """Convolution with the batch norm folded in, TF SAME padding, optional ReLU6."""

    def __init__(self, conv_bn, kind):
        super().__init__()
        bn = conv_bn.bn
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        self.weight = (conv_bn.conv.weight * scale[:, None, None, None]).detach()
        self.bias = (bn.bias - bn.running_mean * scale).detach()
        self.pads, self.stride, self.groups = conv_bn.conv.pads, conv_bn.conv.stride, conv_bn.conv.groups
        self.act, self.kind = conv_bn.act, kind

    def forward(self, x):
        t, b, l, r = self.pads
        y = EmulatedConv.apply(F.pad(x, (l, r, t, b)), self.weight, self.bias, self.stride, 0, self.groups, self.kind)
        return gate(y, 0.0, 6.0) if self.act else y


class FoldedLite0(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.stem = FoldedConv(m.stem, "stem")
        self.blocks = []
        for b in m.blocks:
            self.blocks.append((FoldedConv(b.expand, "expand") if b.expand is not None else None,
                                FoldedConv(b.depthwise, "depthwise"), FoldedConv(b.project, "project"), b.residual))
        self.head = FoldedConv(m.head, "head")
        self.fc_w, self.fc_b = m.fc.weight.detach(), m.fc.bias.detach()

    def forward(self, pixels):
        x = self.stem((pixels * 255 - 127) / 128)
        for expand, depthwise, project, residual in self.blocks:
            y = expand(x) if expand is not None else x
            y = project(depthwise(y))
            x = y + x if residual else y
        x = self.head(x)
        return EmulatedLinear.apply(x.mean(dim=(2, 3)), self.fc_w, self.fc_b, "fc")


def _same_conv_forward(self, x):
    top, bottom, left, right = self.pads
    return F.conv2d(F.pad(x, (left, right, top, bottom)), self.weight, None, self.stride, 0, 1, self.groups)


def _conv_bn_forward(self, x):
    x = self.bn(self.conv(x))
    return x.clamp(0, 6) if self.act else x


def build_lite0(weights):
    """The exporter's Lite0 (differentiable, and with a clamp for ReLU6, whose bf16 backward PyTorch 1.13 lacks) for
    autocast, and its batch-norm-folded emulation."""
    lite.SameConv.forward = _same_conv_forward
    lite.ConvBN.forward = _conv_bn_forward
    m = lite.Lite0()
    m.load_lukemelas(dict(lite.read_weights(weights)))
    m.eval()
    return m, FoldedLite0(m)


# ---------------------------------------------------------------- torchvision ResNet-50 (random weights, BN folded)

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225])[:, None, None]


def fold(conv, bn):
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    w = (conv.weight * scale[:, None, None, None]).detach()
    b = (bn.bias - bn.running_mean * scale).detach()
    return w, b, conv.stride[0], conv.padding[0]


class FoldedResNet50(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.stem = fold(m.conv1, m.bn1)
        self.blocks = []
        for layer in [m.layer1, m.layer2, m.layer3, m.layer4]:
            for b in layer:
                self.blocks.append((fold(b.conv1, b.bn1), fold(b.conv2, b.bn2), fold(b.conv3, b.bn3),
                                    fold(b.downsample[0], b.downsample[1]) if b.downsample is not None else None))
        self.fc_w, self.fc_b = m.fc.weight.detach(), m.fc.bias.detach()

    @staticmethod
    def conv(x, p, kind):
        w, b, s, pad = p
        return EmulatedConv.apply(x, w, b, s, pad, 1, kind)

    def forward(self, pixels):
        x = gate(self.conv((pixels - IMAGENET_MEAN) / IMAGENET_STD, self.stem, "stem"))
        x = F.max_pool2d(x, 3, 2, 1)
        for c1, c2, c3, down in self.blocks:
            y = gate(self.conv(x, c1, "conv1x1"))
            y = gate(self.conv(y, c2, "conv3x3"))
            y = self.conv(y, c3, "conv1x1")
            x = gate(y + (self.conv(x, down, "downsample") if down is not None else x))
        return EmulatedLinear.apply(x.mean(dim=(2, 3)), self.fc_w, self.fc_b, "fc")


class Normalized(nn.Module):
    def __init__(self, net, mean, std):
        super().__init__()
        self.net, self.mean, self.std = net, mean, std

    def forward(self, pixels):
        return self.net((pixels - self.mean) / self.std)


def build_torchvision(name):
    torch.manual_seed(0)
    m = getattr(torchvision.models, name)().eval()
    for q in m.parameters():
        q.requires_grad_(False)
    return m


# ---------------------------------------------------------------- measurement

MODES = {
    "ours": Rounding(True, True, True, True),
    "fwd": Rounding(fwd_act=True, fwd_w=True),
    "bwd": Rounding(bwd_grad=True, bwd_w=True),
    "weights": Rounding(fwd_w=True, bwd_w=True),
    "acts": Rounding(fwd_act=True, bwd_grad=True),
}


def mode_rounding(mode, kinds_all):
    """A mode of MODES, or BASE-no-KINDS / BASE-only-KINDS: BASE with the '+'-separated layer kinds kept fp32 /
    with only those rounded."""
    if mode in MODES:
        return MODES[mode]
    for base, r in MODES.items():
        for form in ("-no-", "-only-"):
            if mode.startswith(base + form):
                kinds = set(mode[len(base + form):].split("+"))
                unknown = kinds - set(kinds_all)
                if unknown:
                    sys.exit(f"unknown layer kinds {sorted(unknown)}; known: {kinds_all}")
                return Rounding(r.fwd_act, r.fwd_w, r.bwd_grad, r.bwd_w,
                                kinds=set(kinds_all) - kinds if form == "-no-" else kinds)
    sys.exit(f"unknown mode {mode}")


def run(model, x, mode, kinds_all, autocast_model):
    """Logits, the input (to differentiate with respect to), and the forward gates, for `mode`."""
    global ROUNDING, RECORD_GATES
    x = x.clone().requires_grad_(True)
    GATES.clear()
    if mode == "autocast":
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = autocast_model(x)
        logits = logits.float()
        return logits, x, []
    ROUNDING = Rounding() if mode in ("fp32", "input") else mode_rounding(mode, kinds_all)
    RECORD_GATES = True
    try:
        logits = model(bf16(x) if mode == "input" else x)
    finally:
        RECORD_GATES = False
    return logits, x, list(GATES)


def gradient_stats(model, autocast_model, images, modes, kinds_all):
    global ROUNDING
    rows = {m: [] for m in modes}
    for x in images:
        l32, x32, gates32 = run(model, x, "fp32", kinds_all, autocast_model)
        target = int(l32.argmax())
        (g32,) = torch.autograd.grad(l32[0, target], x32)
        for mode in modes:
            l, xm, gates = run(model, x, mode, kinds_all, autocast_model)
            (g,) = torch.autograd.grad(l[0, target], xm)
            ROUNDING = Rounding()
            flips = (sum(int((a != b).sum()) for a, b in zip(gates, gates32)) / sum(a.numel() for a in gates32)
                     if gates else float("nan"))
            rows[mode].append((float((l - l32).abs().max() / l32.abs().max()),
                               float((g - g32).norm() / g32.norm()), flips, int(l.argmax()) == target))
    return rows


def fovex_search(model, x, generator, fixations=10, steps=20, lr=0.1, sigma=0.15, beta=0.1):
    """tools/bench_torch_fovex.py's search for one image with its own generator; returns the best positions."""
    size = x.shape[2]
    with torch.no_grad():
        target = model(x).argmax(1)
    peripheral = reference_fovex.blur(x) - x
    memory = torch.zeros(1, size, size)
    path = []
    for _ in range(fixations):
        p = torch.zeros(1, 2, requires_grad=True)
        best, best_loss = torch.zeros(1, 2), float("inf")
        for _ in range(steps):
            mask = torch.clip(1 - (memory + reference_fovex.blob(p, size, sigma)), 0, 1)[:, None]
            loss = F.cross_entropy(model(x + peripheral * mask), target)
            (g,) = torch.autograd.grad(loss, p)
            with torch.no_grad():
                p -= torch.sign(g) * lr
                if float(loss) < best_loss:
                    best_loss, best = float(loss), p.clone()
                else:
                    p.copy_(torch.rand(1, 2, generator=generator) * 2 - 1)
        memory = (memory * beta + reference_fovex.blob(best, size, sigma)).detach()
        path.append(best[0].tolist())
    return path


def fovex_agreement(model, autocast_model, images, modes, kinds_all, radius):
    global ROUNDING
    paths = {}
    for mode in ["fp32"] + modes:
        paths[mode] = []
        for x in images:
            generator = torch.Generator().manual_seed(42)
            if mode == "autocast":
                ROUNDING = Rounding()
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    path = fovex_search(lambda t: autocast_model(t).float(), x, generator)
            else:
                ROUNDING = Rounding() if mode in ("fp32", "input") else mode_rounding(mode, kinds_all)
                net = (lambda t: model(bf16(t))) if mode == "input" else model
                path = fovex_search(net, x, generator)
            paths[mode].append(path)
        ROUNDING = Rounding()
    out = {}
    for mode in modes:
        close = total = 0
        for p32, pm in zip(paths["fp32"], paths[mode]):
            for a, b in zip(p32, pm):
                total += 1
                close += math.dist((a[0] / 2, a[1] / 2), (b[0] / 2, b[1] / 2)) <= radius
        out[mode] = (close, total)
    return out


def load_images(data, count, size=224):
    with open(os.path.join(data, "labels.csv")) as f:
        names = [line.split(",")[0] for line in f.read().splitlines()[1:count + 1]]
    images = []
    for n in names:
        im = Image.open(os.path.join(data, "images", n)).convert("RGB").resize((size, size), Image.BILINEAR)
        images.append(torch.from_numpy(np.asarray(im, dtype=np.float32) / 255).permute(2, 0, 1)[None].contiguous())
    return images


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="lite0", choices=["lite0", "resnet50"])
    ap.add_argument("--weights", help="Lite0's lukemelas weights (.safetensors or .pth); required for lite0")
    ap.add_argument("--data", default="../shared/data/imagenet-val-1300")
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--modes", default="autocast,ours,fwd,bwd,weights,acts,input")
    ap.add_argument("--fovex", type=int, default=0, help="run FovEx on this many of the images")
    ap.add_argument("--fovex-modes", help="modes for FovEx (default: --modes)")
    ap.add_argument("--radius", type=float, default=0.05)
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    if a.model == "lite0":
        if not a.weights:
            sys.exit("--weights is required for lite0")
        plain, model = build_lite0(a.weights)
        autocast_model = lambda t: plain((t * 255 - 127) / 128)  # noqa: E731
        kinds_all = ["stem", "expand", "depthwise", "project", "head", "fc"]
    else:
        plain = build_torchvision("resnet50")
        model = FoldedResNet50(plain)
        autocast_model = Normalized(plain, IMAGENET_MEAN, IMAGENET_STD)
        kinds_all = ["stem", "conv1x1", "conv3x3", "downsample", "fc"]
    images = load_images(a.data, a.count)
    modes = a.modes.split(",")
    # The emulation in fp32 mode must be the plain model: check it once.
    with torch.no_grad():
        d = float((model(images[0]) - autocast_model(images[0])).abs().max())
    print(f"model {a.model}, {len(images)} images; emulated fp32 vs plain PyTorch logits max |Δ| = {d:.2e}\n")
    rows = gradient_stats(model, autocast_model, images, modes, kinds_all)
    print("| mode | logits max rel. Δ | input gradient rel. L2 Δ (mean, min–max) | gates flipped | same top-1 |")
    print("|---|---|---|---|---|")
    for mode in modes:
        r = np.array([row[:3] for row in rows[mode]])
        same = sum(row[3] for row in rows[mode])
        print(f"| {mode} | {100 * r[:, 0].mean():.2f} % | {100 * r[:, 1].mean():.1f} % "
              f"({100 * r[:, 1].min():.1f}–{100 * r[:, 1].max():.1f}) | "
              f"{'–' if math.isnan(r[0, 2]) else f'{100 * r[:, 2].mean():.3f} %'} | {same}/{len(images)} |")
    sys.stdout.flush()
    if a.fovex:
        fmodes = (a.fovex_modes or a.modes).split(",")
        agreement = fovex_agreement(model, autocast_model, images[:a.fovex], fmodes, kinds_all, a.radius)
        print(f"\nFovEx (reference search, 10 × 20, seed 42 per image), {a.fovex} images: fixations within "
              f"{a.radius} of fp32's of the same index\n")
        print("| mode | fixations |\n|---|---|")
        for mode in fmodes:
            c, t = agreement[mode]
            print(f"| {mode} | {c}/{t} = {100 * c / t:.0f} % |")


if __name__ == "__main__":
    sys.exit(main())
