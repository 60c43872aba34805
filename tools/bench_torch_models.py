#!/usr/bin/python3
"""PyTorch's side of `fovex bench models`: ms per image for the forward pass and for forward + the gradient of
each image's top logit with respect to the input, on random weights.

Needs PyTorch and torchvision (Debian's python3-torch / python3-torchvision). `fovex bench models` runs it once
per OpenMP wait policy (unset, then PASSIVE) with OMP_NUM_THREADS and OPENBLAS_NUM_THREADS set to the thread count,
and keeps the faster setting for each row; by hand:

    OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 /usr/bin/python3 tools/bench_torch_models.py --batches 1,8

Models: torchvision resnet50 and vit_b_16 (the same computation as timm's vit_base_patch16_224: exact-erf GELU,
LayerNorm eps 1e-6, class token), and a plain-PyTorch EfficientNet-Lite0 (lukemelas layout, TF "SAME" padding
precomputed for 224x224). Each takes [0, 1] pixels and normalises them itself, as the Swift models do. The CNNs are
also timed with their batch norms folded into the convolutions (torch.fx's fuse), the inference form the Swift
models use; the `setting` field says which variant a row is, and the caller keeps the faster.

Method: parameters frozen (requires_grad False), eval mode; one warm-up, then the median of --repeats timed runs.
Forward runs under no_grad. Forward + gradient: x.requires_grad_(); out = model(x);
out[range(B), out.argmax(1)].sum().backward(). Peak memory is the process's peak resident set during the timed
runs (VmHWM after resetting it through /proc/self/clear_refs), in MB.

Prints one JSON document on stdout.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
LITE = ([127 / 255] * 3, [128 / 255] * 3)
VIT = ([0.5] * 3, [0.5] * 3)


class Normalized(nn.Module):
    def __init__(self, net, mean_std):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean_std[0]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(mean_std[1]).view(1, 3, 1, 1), persistent=False)

    def forward(self, x):
        return self.net((x - self.mean) / self.std)


class SamePad(nn.Module):
    """TF "SAME" padding for a fixed input size: total = max((ceil(i/s) - 1)·s + k - i, 0), the extra pixel right/bottom."""

    def __init__(self, size, k, s):
        super().__init__()
        total = max((math.ceil(size / s) - 1) * s + k - size, 0)
        self.pad = [total // 2, total - total // 2, total // 2, total - total // 2]

    def forward(self, x):
        return F.pad(x, self.pad)


def same_conv(size, cin, cout, k, s=1, groups=1):
    """(padding, conv, output size) for a bias-free conv with TF SAME padding on a size×size input."""
    return SamePad(size, k, s), nn.Conv2d(cin, cout, k, s, 0, groups=groups, bias=False), math.ceil(size / s)


class MBConv(nn.Module):
    def __init__(self, size, cin, cout, k, s, e):
        super().__init__()
        mid = cin * e
        self.expand = e != 1
        self.skip = s == 1 and cin == cout
        if self.expand:
            _, self._expand_conv, _ = same_conv(size, cin, mid, 1)
            self._bn0 = nn.BatchNorm2d(mid, eps=1e-3)
        self.pad, self._depthwise_conv, self.out_size = same_conv(size, mid, mid, k, s, groups=mid)
        self._bn1 = nn.BatchNorm2d(mid, eps=1e-3)
        _, self._project_conv, _ = same_conv(self.out_size, mid, cout, 1)
        self._bn2 = nn.BatchNorm2d(cout, eps=1e-3)

    def forward(self, x):
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(self.pad(y))))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class EfficientNetLite0(nn.Module):
    STAGES = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
              (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)]

    def __init__(self, size=224, classes=1000):
        super().__init__()
        self.pad, self._conv_stem, size = same_conv(size, 3, 32, 3, 2)
        self._bn0 = nn.BatchNorm2d(32, eps=1e-3)
        blocks = []
        for repeats, k, s, e, cin, cout in self.STAGES:
            for i in range(repeats):
                block = MBConv(size, cin if i == 0 else cout, cout, k, s if i == 0 else 1, e)
                size = block.out_size
                blocks.append(block)
        self._blocks = nn.ModuleList(blocks)
        _, self._conv_head, _ = same_conv(size, 320, 1280, 1)
        self._bn1 = nn.BatchNorm2d(1280, eps=1e-3)
        self._fc = nn.Linear(1280, classes)

    def forward(self, x):
        x = F.relu6(self._bn0(self._conv_stem(self.pad(x))))
        for b in self._blocks:
            x = b(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean(dim=(2, 3)))


def build(name):
    if name == "resnet50":
        return Normalized(torchvision.models.resnet50(), IMAGENET)
    if name == "vit-b16":
        return Normalized(torchvision.models.vit_b_16(), VIT)
    if name == "efficientnet-lite0":
        return Normalized(EfficientNetLite0(), LITE)
    raise SystemExit(f"unknown model {name}")


def randomize_batch_norms(model, generator):
    """Non-trivial running statistics, so that folding them changes the arithmetic as it would for trained weights."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1, generator=generator)
            m.running_var.uniform_(0.5, 1.5, generator=generator)
            m.weight.data.uniform_(0.75, 1.25, generator=generator)
            m.bias.data.uniform_(-0.1, 0.1, generator=generator)


def reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_mb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def forward(model, x):
    with torch.no_grad():
        model(x)


def forward_gradient(model, x):
    x = x.detach().requires_grad_(True)
    out = model(x)
    out[torch.arange(out.shape[0]), out.argmax(1)].sum().backward()
    return x.grad


def measure(fn, model, x, repeats):
    fn(model, x)
    reset_peak_rss()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(model, x)
        times.append(time.perf_counter() - start)
    return statistics.median(times), peak_rss_mb()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="efficientnet-lite0,resnet50,vit-b16")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    parser.add_argument("--no-fuse", action="store_true", help="skip the batch-norm-folded variants")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    rows = []
    for name in args.models.split(","):
        torch.manual_seed(0)
        model = build(name).eval()
        randomize_batch_norms(model, generator)
        for p in model.parameters():
            p.requires_grad_(False)
        variants = [("eager", model)]
        if not args.no_fuse and name != "vit-b16":
            from torch.fx.experimental.optimization import fuse
            variants.append(("eager, BN folded (fx fuse)", fuse(model)))
        for batch in [int(b) for b in args.batches.split(",")]:
            x = torch.rand(batch, 3, 224, 224, generator=generator)
            for mode, fn in [("forward", forward), ("forward+gradient", forward_gradient)]:
                for setting, net in variants:
                    seconds, peak = measure(fn, net, x, args.repeats)
                    rows.append({"model": name, "batch": batch, "mode": mode, "setting": setting,
                                 "ms_per_image": seconds * 1000 / batch, "peak_rss_mb": peak, "repeats": args.repeats})
                    print(f"{name} b{batch} {mode} [{setting}]: {seconds * 1000 / batch:.1f} ms/image", file=sys.stderr)
    json.dump({"torch": torch.__version__, "threads": args.threads,
               "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "rows": rows}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
