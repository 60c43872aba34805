#!/usr/bin/python3
"""Writes Tests/FovExExplainersTests/Fixtures/fovex_parity_*.safetensors: the FovEx loss and its exact gradient
with respect to the fovea positions, from a PyTorch re-statement of the authors' FovEx.py (foveation, memory,
cross-entropy on the logits), on random-weight ResNet-18 and ViT-Ti built with the same deterministic weights as
the Swift models (see tools/make_model_fixtures.py, which this script imports).

    /usr/bin/python3 tools/make_fovex_fixtures.py

Each file holds the input pixels, the positions p [B, 2] (row, col), the memory s [B, S, S], the class per image,
and the reference loss [B] and dL/dp [B, 2], evaluated in float64."""
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_model_fixtures as mm  # noqa: E402

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "FovExExplainersTests",
                                    "Fixtures"))


def gaussian_blur(x, k=41, sigma=10.0):
    """calculate_blur of the reference: a K×K Gaussian normalised to 1, reflect padding K//2, per channel."""
    g = torch.tensor([math.exp(-(i - k // 2) ** 2 / (2 * sigma ** 2)) for i in range(k)], dtype=torch.float64)
    g = g / g.sum()
    w = (g[:, None] @ g[None, :]).expand(3, 1, k, k).to(x.dtype)
    return F.conv2d(F.pad(x, (k // 2,) * 4, mode="reflect"), w, groups=3)


def blob(p, size, sigma):
    """calc_gaussian: exp(−((u_row − p_row)² + (u_col − p_col)²) / σ) on linspace(−1, 1, size)²."""
    t = torch.linspace(-1, 1, size, dtype=p.dtype)
    rows, cols = torch.meshgrid(t, t, indexing="ij")
    d = (rows[None] - p[:, 0, None, None]) ** 2 + (cols[None] - p[:, 1, None, None]) ** 2
    return torch.exp(-d / sigma)


def case(name, seed, shape, positions, memory_points):
    model = mm.build(name)
    model.net.load_state_dict(mm.random_state_dict(model.net, seed), strict=True)
    model = model.double().eval()
    x = torch.from_numpy(mm.generated("input", shape, seed, 0.5, 0.5)).double()
    size = shape[2]
    with torch.no_grad():
        classes = model(x).argmax(1)
    peripheral = gaussian_blur(x) - x
    memory = 0.4 * blob(torch.tensor(memory_points, dtype=torch.float64), size, 0.15)
    p = torch.tensor(positions, dtype=torch.float64, requires_grad=True)
    mask = torch.clip(1 - (memory + blob(p, size, 0.15)), 0, 1)[:, None]
    loss = F.cross_entropy(model(x + peripheral * mask), classes, reduction="none")
    (grad,) = torch.autograd.grad(loss.sum(), p)
    tensors = {"input": x, "positions": p.detach(), "memory": memory, "classes": classes.double(),
               "loss": loss.detach(), "grad": grad}
    meta = {"model": name, "seed": str(seed)}
    path = os.path.join(OUT, f"fovex_parity_{name}.safetensors")
    mm.write_safetensors(path, tensors, meta)
    print(f"{path}: loss {loss.tolist()} grad {grad.tolist()}")


def main():
    os.makedirs(OUT, exist_ok=True)
    case("resnet18", 18, [2, 3, 64, 64], [[0.1, -0.35], [0.42, 0.05]], [[0.3, -0.2], [-0.5, 0.6]])
    case("vit-ti16", 1016, [1, 3, 224, 224], [[-0.2, 0.3]], [[0.5, 0.1]])


if __name__ == "__main__":
    sys.exit(main())
