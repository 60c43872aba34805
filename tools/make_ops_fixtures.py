#!/usr/bin/python3
"""Writes the PyTorch parity fixtures for resizing, blurring, pooling and layer-norm
(Tests/FovExTensorTests/Fixtures/ops_*.safetensors).

Needs PyTorch and torchvision (Debian's python3-torch and python3-torchvision; run with /usr/bin/python3).
The safetensors files are written by a tiny pure-Python writer, so nothing else is needed. Run from anywhere:

    /usr/bin/python3 tools/make_ops_fixtures.py

Inputs are random float32 values (fixed seed); each reference is computed in float64 from those float32
inputs and stored as float32. Backward references are vector-Jacobian products for a random upstream
gradient `g` (also stored). Every case is named `<case>.y`, `<case>.g`, `<case>.dx` and reads the file's
input `x` (or the input named in its settings); the settings are a JSON string in the metadata under the
case name.

Files written (about 150 KB together):
  ops_resize.safetensors   F.interpolate bilinear / bicubic, align_corners=False, with and without antialias,
                           shrinking, enlarging and mixed; a one-channel map enlarged to 32x32; nearest-exact
                           (checked equal to PIL's NEAREST)
  ops_blur.safetensors     torchvision gaussian_blur (reflect padding) for kernel 7, 11 and 41
  ops_pool.safetensors     max_pool2d, avg_pool2d (count_include_pad both ways), adaptive_avg_pool2d and
                           the global average
  ops_layernorm.safetensors  layer_norm over a 768-wide last axis with a large mean, eps 1e-6
"""
import json
import os

import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF

import fixture_io  # noqa: E402  (tools/ is on sys.path when a script runs)

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "FovExTensorTests",
                                    "Fixtures"))


write_safetensors = fixture_io.write_safetensors


def add_case(tensors, meta, gen, name, fn, x, settings):
    """Stores fn(x), a random upstream gradient g and the input gradient of <fn(x), g>, all in float64."""
    xd = x.double().requires_grad_(True)
    y = fn(xd)
    g = torch.randn(y.shape, generator=gen)
    (dx,) = torch.autograd.grad(y, [xd], g.double())
    tensors.update({name + ".y": y.detach(), name + ".g": g, name + ".dx": dx.detach()})
    meta[name] = json.dumps(settings)


def make_resize(gen):
    tensors, meta = {}, {}
    x = torch.randn(1, 2, 13, 17, generator=gen)
    tensors["x"] = x
    for method in ["bilinear", "bicubic"]:
        for antialias in [False, True]:
            for h, w in [(7, 9), (20, 31), (5, 40)]:
                name = f"{method}{'_aa' if antialias else ''}_{h}x{w}"
                add_case(tensors, meta, gen, name,
                         lambda t, h=h, w=w, m=method, a=antialias:
                         F.interpolate(t, size=(h, w), mode=m, align_corners=False, antialias=a),
                         x, {"input": "x", "method": method, "antialias": antialias, "height": h, "width": w})
    m = torch.randn(1, 1, 7, 7, generator=gen)
    tensors["map"] = m
    add_case(tensors, meta, gen, "map_bilinear_32x32",
             lambda t: F.interpolate(t, size=(32, 32), mode="bilinear", align_corners=False), m,
             {"input": "map", "method": "bilinear", "antialias": False, "height": 32, "width": 32})
    # Nearest: PyTorch's 'nearest-exact' picks the source pixel floor((i + 0.5) * in / out), which is PIL's
    # NEAREST (what torchvision's Resize does to PIL images); checked here on an 8-bit image for the same sizes.
    # Its own generator, so that the cases above and the other files stay as they were.
    ngen = torch.Generator().manual_seed(77)
    for h, w in [(7, 9), (20, 31), (5, 40)]:
        add_case(tensors, meta, ngen, f"nearest_{h}x{w}",
                 lambda t, h=h, w=w: F.interpolate(t, size=(h, w), mode="nearest-exact"),
                 x, {"input": "x", "method": "nearest", "antialias": False, "height": h, "width": w})
        check_nearest_is_pil(ngen, h, w)
    return tensors, meta


def check_nearest_is_pil(gen, h, w):
    import numpy as np
    from PIL import Image
    image = torch.randint(0, 256, (13, 17, 3), generator=gen, dtype=torch.uint8)
    pil = torch.from_numpy(np.asarray(Image.fromarray(image.numpy()).resize((w, h), Image.NEAREST)).copy())
    exact = F.interpolate(image.permute(2, 0, 1)[None].float(), size=(h, w), mode="nearest-exact")[0].permute(1, 2, 0)
    assert torch.equal(pil.float(), exact), f"PIL NEAREST differs from nearest-exact at {h}x{w}"


def make_blur(gen):
    tensors, meta = {}, {}
    x = torch.rand(1, 2, 24, 21, generator=gen)
    tensors["x"] = x
    big = torch.rand(1, 1, 45, 44, generator=gen)
    tensors["big"] = big
    for k, sigma, inp, t in [(7, 1.5, "x", x), (11, 5.0, "x", x), (41, 10.0, "big", big)]:
        add_case(tensors, meta, gen, f"k{k}",
                 lambda v, k=k, s=sigma: TF.gaussian_blur(v, [k, k], [s, s]), t,
                 {"input": inp, "kernel": k, "sigma": sigma})
    return tensors, meta


def make_pool(gen):
    tensors, meta = {}, {}
    x = torch.randn(2, 3, 11, 10, generator=gen)
    tensors["x"] = x
    cases = [
        ("max_k3s2p1", lambda t: F.max_pool2d(t, 3, 2, 1), {"op": "max", "kernel": 3, "stride": 2, "padding": 1}),
        ("max_k2s2p0", lambda t: F.max_pool2d(t, 2, 2, 0), {"op": "max", "kernel": 2, "stride": 2, "padding": 0}),
        ("max_k3s1p0", lambda t: F.max_pool2d(t, 3, 1, 0), {"op": "max", "kernel": 3, "stride": 1, "padding": 0}),
        ("avg_k3s2p1_incl", lambda t: F.avg_pool2d(t, 3, 2, 1, count_include_pad=True),
         {"op": "avg", "kernel": 3, "stride": 2, "padding": 1, "countIncludePad": True}),
        ("avg_k3s2p1_excl", lambda t: F.avg_pool2d(t, 3, 2, 1, count_include_pad=False),
         {"op": "avg", "kernel": 3, "stride": 2, "padding": 1, "countIncludePad": False}),
        ("adaptive_3x4", lambda t: F.adaptive_avg_pool2d(t, (3, 4)), {"op": "adaptive", "height": 3, "width": 4}),
        ("adaptive_13x7", lambda t: F.adaptive_avg_pool2d(t, (13, 7)), {"op": "adaptive", "height": 13, "width": 7}),
        ("global", lambda t: t.mean(dim=(2, 3)), {"op": "global"}),
    ]
    for name, fn, settings in cases:
        add_case(tensors, meta, gen, name, fn, x, settings)
    return tensors, meta


def make_layernorm(gen):
    tensors, meta = {}, {}
    x = torch.randn(2, 3, 768, generator=gen) * 3 + 20
    w = torch.randn(768, generator=gen)
    b = torch.randn(768, generator=gen)
    tensors.update({"x": x, "w": w, "b": b})
    add_case(tensors, meta, gen, "vit", lambda t: F.layer_norm(t, (768,), w.double(), b.double(), 1e-6), x,
             {"input": "x", "eps": 1e-6})
    return tensors, meta


def main():
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(20251128)
    for name, make in [("ops_resize", make_resize), ("ops_blur", make_blur), ("ops_pool", make_pool),
                       ("ops_layernorm", make_layernorm)]:
        tensors, meta = make(gen)
        path = os.path.join(OUT, name + ".safetensors")
        write_safetensors(path, tensors, meta)
        print(f"wrote {path} ({os.path.getsize(path)} bytes, {len(tensors)} tensors)")


if __name__ == "__main__":
    main()
