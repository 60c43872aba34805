#!/usr/bin/python3
"""Writes the PyTorch parity fixtures for Tests/FovExTensorTests/Fixtures (files core_*.safetensors).

Needs PyTorch (Debian's python3-torch; run with /usr/bin/python3). The safetensors files are written with
a tiny pure-Python writer, so nothing else is needed. Run from anywhere:

    /usr/bin/python3 tools/make_core_fixtures.py

Inputs are random float32 values (fixed seed); every reference is computed in float64 from those float32
inputs and stored as float32, so the Swift tests measure their own error, not PyTorch's rounding.
Backward references are vector-Jacobian products for a random upstream gradient `g` (also stored).

Files written (about 200 KB together):
  core_conv.safetensors    conv2d cases: x, w, b (optional), y, g, dx; each case's settings are a JSON
                           object string in the metadata under the case name (padding given as explicit
                           top/bottom/left/right zeros, "same", or "reflect" with its amount)
  core_matmul.safetensors  batched matmul (a, b, c, g, da, db) and linear (x, w, b, y, g, dx)
  core_rows.safetensors    layer-norm, softmax, log-softmax, cross-entropy (per row, with labels stored as
                           float32 class indices) and GELU (erf form), each forward and backward;
                           the metadata holds layer-norm's epsilon
"""
import json
import math
import os

import torch
import torch.nn.functional as F

import fixture_io  # noqa: E402  (tools/ is on sys.path when a script runs)

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "FovExTensorTests",
                                    "Fixtures"))


write_safetensors = fixture_io.write_safetensors


def vjp(fn, inputs, g):
    """Forward value and the gradients of <fn(inputs), g> with respect to each input, in float64."""
    xs = [x.double().requires_grad_(True) for x in inputs]
    y = fn(*xs)
    grads = torch.autograd.grad(y, xs, g.double())
    return y.detach(), [d.detach() for d in grads]


def same_pads(size, kernel, stride, dilation):
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def conv_cases():
    # name, N, C, H, W, O, kh, kw, stride, padding, dilation, groups, bias
    return [
        ("sym3x3", 1, 4, 9, 8, 6, 3, 3, 1, ("zeros", 1, 1, 1, 1), 1, 1, True),
        ("asym", 2, 3, 8, 9, 5, 3, 3, 1, ("zeros", 1, 2, 0, 1), 1, 1, False),
        ("same_s1_even_kernel", 1, 3, 7, 7, 4, 4, 4, 1, ("same",), 1, 1, True),
        ("same_s2", 1, 4, 10, 11, 6, 3, 3, 2, ("same",), 1, 1, False),
        ("same_s2_k5", 1, 3, 12, 12, 4, 5, 5, 2, ("same",), 1, 1, True),
        ("reflect1", 1, 3, 8, 8, 4, 3, 3, 1, ("reflect", 1), 1, 1, True),
        ("reflect2_s2", 1, 2, 9, 10, 3, 5, 5, 2, ("reflect", 2), 1, 1, False),
        ("stride2_pad1", 1, 5, 11, 10, 7, 3, 3, 2, ("zeros", 1, 1, 1, 1), 1, 1, True),
        ("dilation2", 1, 4, 12, 11, 5, 3, 3, 1, ("zeros", 2, 2, 2, 2), 2, 1, False),
        ("dilation3_s2", 1, 3, 15, 14, 4, 3, 3, 2, ("zeros", 1, 2, 3, 0), 3, 1, True),
        ("groups2", 2, 6, 7, 8, 4, 3, 3, 1, ("zeros", 1, 1, 1, 1), 1, 2, True),
        ("groups3_1x1", 1, 9, 6, 5, 6, 1, 1, 1, ("zeros", 0, 0, 0, 0), 1, 3, False),
        ("depthwise", 1, 8, 10, 9, 8, 3, 3, 1, ("zeros", 1, 1, 1, 1), 1, 8, True),
        ("depthwise_same_s2", 1, 6, 11, 12, 6, 5, 5, 2, ("same",), 1, 6, False),
        ("depthwise_multiplier2", 1, 4, 8, 8, 8, 3, 3, 1, ("zeros", 1, 1, 1, 1), 1, 4, True),
        ("stem7x7_s2", 1, 3, 20, 18, 8, 7, 7, 2, ("zeros", 3, 3, 3, 3), 1, 1, False),
        ("pointwise", 1, 16, 6, 7, 12, 1, 1, 1, ("zeros", 0, 0, 0, 0), 1, 1, True),
        ("rect_kernel", 1, 3, 9, 10, 4, 1, 3, 1, ("zeros", 0, 0, 1, 1), 1, 1, True),
    ]


def make_conv(gen):
    tensors, meta = {}, {}
    for name, n, c, h, w, o, kh, kw, stride, padding, dilation, groups, has_bias in conv_cases():
        x = torch.randn(n, c, h, w, generator=gen)
        wt = torch.randn(o, c // groups, kh, kw, generator=gen) / math.sqrt(c // groups * kh * kw)
        b = torch.randn(o, generator=gen) if has_bias else None
        if padding[0] == "zeros":
            pads, mode = padding[1:], "constant"
        elif padding[0] == "same":
            (t, bo), (le, r) = same_pads(h, kh, stride, dilation), same_pads(w, kw, stride, dilation)
            pads, mode = (t, bo, le, r), "constant"
        else:
            pads, mode = (padding[1],) * 4, "reflect"
        top, bottom, left, right = pads

        def conv(xx, wt=wt, b=b, mode=mode, top=top, bottom=bottom, left=left, right=right, stride=stride,
                 dilation=dilation, groups=groups):
            xp = F.pad(xx, (left, right, top, bottom), mode=mode)
            return F.conv2d(xp, wt.double(), None if b is None else b.double(), stride=stride, dilation=dilation,
                            groups=groups)

        with torch.no_grad():
            out_shape = conv(x.double()).shape
        g = torch.randn(*out_shape, generator=gen)
        y, (dx,) = vjp(conv, [x], g)
        tensors.update({f"{name}.x": x, f"{name}.w": wt, f"{name}.y": y, f"{name}.g": g, f"{name}.dx": dx})
        if b is not None:
            tensors[f"{name}.b"] = b
        meta[name] = json.dumps({"stride": stride, "dilation": dilation, "groups": groups,
                                 "padding": padding[0], "pads": list(pads) if padding[0] == "zeros" else [],
                                 "reflect": padding[1] if padding[0] == "reflect" else 0})
    return tensors, meta


def make_matmul(gen):
    tensors = {}
    a = torch.randn(2, 3, 5, 7, generator=gen)
    b = torch.randn(2, 3, 7, 4, generator=gen)
    g = torch.randn(2, 3, 5, 4, generator=gen)
    c, (da, db) = vjp(torch.matmul, [a, b], g)
    tensors.update({"batched.a": a, "batched.b": b, "batched.c": c, "batched.g": g, "batched.da": da,
                    "batched.db": db})

    x = torch.randn(2, 9, 24, generator=gen)
    w = torch.randn(17, 24, generator=gen) / math.sqrt(24)
    bias = torch.randn(17, generator=gen)
    g = torch.randn(2, 9, 17, generator=gen)
    y, (dx,) = vjp(lambda xx: F.linear(xx, w.double(), bias.double()), [x], g)
    tensors.update({"linear.x": x, "linear.w": w, "linear.b": bias, "linear.y": y, "linear.g": g, "linear.dx": dx})
    return tensors, {}


def make_rows(gen):
    tensors, meta = {}, {}
    # Layer-norm over the last axis with a constant affine transform, at ViT's eps.
    eps = 1e-6
    x = torch.randn(3, 5, 40, generator=gen) * 2 + 0.5
    w = torch.randn(40, generator=gen)
    b = torch.randn(40, generator=gen)
    g = torch.randn(3, 5, 40, generator=gen)
    y, (dx,) = vjp(lambda xx: F.layer_norm(xx, (40,), w.double(), b.double(), eps), [x], g)
    tensors.update({"layernorm.x": x, "layernorm.w": w, "layernorm.b": b, "layernorm.y": y, "layernorm.g": g,
                    "layernorm.dx": dx})
    meta["layernorm"] = json.dumps({"eps": eps})

    x = torch.randn(4, 6, 37, generator=gen) * 3
    g = torch.randn(4, 6, 37, generator=gen)
    y, (dx,) = vjp(lambda xx: torch.softmax(xx, dim=-1), [x], g)
    tensors.update({"softmax.x": x, "softmax.y": y, "softmax.g": g, "softmax.dx": dx})
    y, (dx,) = vjp(lambda xx: torch.log_softmax(xx, dim=-1), [x], g)
    tensors.update({"logsoftmax.x": x, "logsoftmax.y": y, "logsoftmax.g": g, "logsoftmax.dx": dx})

    logits = torch.randn(7, 13, generator=gen) * 4
    labels = torch.randint(0, 13, (7,), generator=gen)
    g = torch.randn(7, generator=gen)
    y, (dx,) = vjp(lambda xx: F.cross_entropy(xx, labels, reduction="none"), [logits], g)
    tensors.update({"crossentropy.x": logits, "crossentropy.labels": labels.float(), "crossentropy.y": y,
                    "crossentropy.g": g, "crossentropy.dx": dx})

    x = torch.randn(5, 61, generator=gen) * 2.5
    g = torch.randn(5, 61, generator=gen)
    y, (dx,) = vjp(lambda xx: F.gelu(xx), [x], g)
    tensors.update({"gelu.x": x, "gelu.y": y, "gelu.g": g, "gelu.dx": dx})
    return tensors, meta


def main():
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(20250101)
    for file, make in (("core_conv", make_conv), ("core_matmul", make_matmul), ("core_rows", make_rows)):
        tensors, meta = make(gen)
        path = os.path.join(OUT, file + ".safetensors")
        write_safetensors(path, tensors, meta)
        print(f"{path}: {len(tensors)} tensors, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
