#!/usr/bin/python3
"""PyTorch's side of `fovex bench fovex`: seconds per image of the FovEx search, the reference algorithm (the
authors' FovEx.py: foveation with a K 41 / σ 10 reflect-padded blur computed once, memory with forgetting β,
signed-gradient steps on the cross-entropy of the logits, best position kept, random restarts) re-stated on CPU.

Models come from tools/bench_torch_models.py (torchvision resnet50 and vit_b_16, a plain-PyTorch
EfficientNet-Lite0), random weights, parameters frozen. `fovex bench fovex` runs this script once per OpenMP wait
policy (unset, then PASSIVE) with OMP_NUM_THREADS and OPENBLAS_NUM_THREADS set to the thread count and keeps the
faster. Prints one JSON document on stdout: {"torch": version, "rows": [{model, batch, seconds_per_image}]}.
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_torch_models as btm  # noqa: E402


def blur(x, k=41, sigma=10.0):
    g = torch.tensor([math.exp(-(i - k // 2) ** 2 / (2 * sigma ** 2)) for i in range(k)])
    g = g / g.sum()
    w = (g[:, None] @ g[None, :]).expand(3, 1, k, k).contiguous()
    return F.conv2d(F.pad(x, (k // 2,) * 4, mode="reflect"), w, groups=3)


def blob(p, size, sigma):
    t = torch.linspace(-1, 1, size)
    rows, cols = torch.meshgrid(t, t, indexing="ij")
    return torch.exp(-((rows[None] - p[:, 0, None, None]) ** 2 + (cols[None] - p[:, 1, None, None]) ** 2) / sigma)


def fovex(model, x, fixations, steps, lr=0.1, sigma=0.15, beta=0.1):
    b, size = x.shape[0], x.shape[2]
    with torch.no_grad():
        targets = model(x).argmax(1)
    peripheral = blur(x) - x
    memory = torch.zeros(b, size, size)
    for _ in range(fixations):
        p = torch.zeros(b, 2, requires_grad=True)
        best = torch.zeros(b, 2)
        best_loss = torch.full((b,), float("inf"))
        for _ in range(steps):
            mask = torch.clip(1 - (memory + blob(p, size, sigma)), 0, 1)[:, None]
            loss = F.cross_entropy(model(x + peripheral * mask), targets, reduction="none")
            (g,) = torch.autograd.grad(loss.mean(), p)
            with torch.no_grad():
                p -= torch.sign(g) * lr
                better = loss < best_loss
                best_loss[better] = loss[better]
                best[better] = p[better]
                if (~better).any():
                    p[~better] = torch.rand_like(p[~better]) * 2 - 1
        memory = (memory * beta + blob(best, size, sigma)).detach()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="efficientnet-lite0,resnet50,vit-b16")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--fixations", type=int, default=10)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    rows = []
    for name in args.models.split(","):
        model = btm.build(name).eval()
        for q in model.parameters():
            q.requires_grad_(False)
        for batch in [int(b) for b in args.batches.split(",")]:
            x = torch.rand(batch, 3, 224, 224)
            fovex(model, x, 1, 1)  # warm-up
            t0 = time.perf_counter()
            fovex(model, x, args.fixations, args.steps)
            rows.append({"model": name, "batch": batch, "seconds_per_image": (time.perf_counter() - t0) / batch})
    json.dump({"torch": torch.__version__, "rows": rows}, sys.stdout)


if __name__ == "__main__":
    main()
