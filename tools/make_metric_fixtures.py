#!/usr/bin/env python3
"""Writes Tests/FovExMetricsTests/Fixtures/metrics_reference.safetensors, the reference values the
metric parity tests compare with:

- gaze: random maps (some smaller than the image, resized bilinearly with align_corners=False as the
  metric definitions pin) and random fixations with repeats; NSS and AUC-Judd as the MIT saliency
  benchmark computes them, CC and KLD by the benchmark's formulas against a Gaussian fixation
  density, and shuffled AUC as the exact pairwise (Mann-Whitney) area, all re-stated in NumPy;
- causal: RISE's CausalMetric (deletion to the mean colour, insertion from a Gaussian blur, K 11,
  sigma 5, reflect or zero padding) re-stated in PyTorch on a tiny random conv net whose weights are
  stored too, so the Swift test runs the same net.

Run with /usr/bin/python3 (needs numpy and torch). Deterministic: seeds are fixed."""
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

import fixture_io  # noqa: E402  (tools/ is on sys.path when a script runs)

rng = np.random.default_rng(7)
out = {}
EPS = 2.2204e-16
FIXATION_SIGMA = 3.0


def binary_fixation_map(points, h, w):
    f = np.zeros((h, w), np.float64)
    f[points[:, 1], points[:, 0]] = 1  # each distinct pixel once
    return f


def nss(sal, fix):  # MIT NSS.m with the population std the spec pins
    s = (sal - sal.mean()) / sal.std()
    return s[fix > 0].mean()


def auc_judd(sal, fix):  # MIT AUC_Judd.m without jitter
    s = (sal - sal.min()) / (sal.max() - sal.min())
    th = np.sort(s[fix > 0])[::-1]
    nf, npx = len(th), s.size
    tp = np.zeros(nf + 2); fp = np.zeros(nf + 2)
    tp[-1] = fp[-1] = 1
    for i, t in enumerate(th):
        above = (s >= t).sum()
        tp[i + 1] = (i + 1) / nf
        fp[i + 1] = (above - (i + 1)) / (npx - nf)
    return np.trapz(tp, fp)


def density(fix, sigma):  # distinct fixations blurred: normalised Gaussian, 2*ceil(3 sigma)+1 taps, zero padding
    h, w = fix.shape
    r = min(math.ceil(3 * sigma), (min(h, w) - 1) // 2)
    t = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-0.5 * (t / sigma) ** 2); g /= g.sum()
    x = torch.from_numpy(fix)[None, None]
    x = F.conv2d(x, torch.from_numpy(g).view(1, 1, 1, -1), padding=(0, r))
    x = F.conv2d(x, torch.from_numpy(g).view(1, 1, -1, 1), padding=(r, 0))
    return x[0, 0].numpy()


def cc(sal, dens):  # MIT CC.m
    a = (sal - sal.mean()) / sal.std()
    b = (dens - dens.mean()) / dens.std()
    return (a * b).sum() / math.sqrt((a * a).sum() * (b * b).sum())


def kld(sal, dens):  # MIT KLdiv.m
    q = sal / sal.sum()
    p = dens / dens.sum()
    return (p * np.log(EPS + p / (q + EPS))).sum()


def shuffled_auc(sal, pos, neg):  # exact area: P(pos > neg) + P(pos = neg) / 2 over distinct pixels
    p = sal[pos[:, 1], pos[:, 0]][:, None]
    n = sal[neg[:, 1], neg[:, 0]][None, :]
    return ((p > n) + 0.5 * (p == n)).mean()


def distinct(points):
    _, idx = np.unique(points[:, 1] * 100000 + points[:, 0], return_index=True)
    return points[np.sort(idx)]


for k in range(4):
    H, W = 30 + 3 * k, 40 - 2 * k
    h, w = (H, W) if k == 0 else (H // 2 + k, W // 2 - k)
    small = (rng.random((h, w)) ** 3).astype(np.float32)
    if k == 0:
        small = np.round(small * 8) / 8  # ties, on the unresized map only (resizing would round differently)
    sal = F.interpolate(torch.from_numpy(small)[None, None], size=(H, W), mode="bilinear",
                        align_corners=False)[0, 0].double().numpy()
    pts = np.stack([rng.integers(0, W, 25), rng.integers(0, H, 25)], 1)
    pts = np.concatenate([pts, pts[:3]])  # observers repeat pixels; each counts once
    neg = np.stack([rng.integers(0, W, 60), rng.integers(0, H, 60)], 1)
    fix = binary_fixation_map(pts, H, W)
    dens = density(fix, FIXATION_SIGMA)
    out[f"gaze{k}_map"] = small
    out[f"gaze{k}_size"] = np.array([H, W], np.float32)
    out[f"gaze{k}_fixations"] = pts.astype(np.float32)
    out[f"gaze{k}_negatives"] = neg.astype(np.float32)
    for name, v in [("nss", nss(sal, fix)), ("auc", auc_judd(sal, fix)), ("cc", cc(sal, dens)),
                    ("kld", kld(sal, dens)), ("sauc", shuffled_auc(sal, distinct(pts), distinct(neg)))]:
        out[f"gaze{k}_{name}"] = np.array([v], np.float32)
out["gaze_fixation_sigma"] = np.array([FIXATION_SIGMA], np.float32)

# RISE CausalMetric, re-stated, on a tiny conv net: conv 3->6 (3x3, pad 1) -> ReLU -> global mean -> linear 6->5.
torch.manual_seed(5)
S, STEP, N = 12, 5, 2
conv_w = torch.randn(6, 3, 3, 3) * 0.5
conv_b = torch.randn(6) * 0.1
fc_w = torch.randn(5, 6)
fc_b = torch.randn(5) * 0.1
mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def model(x):  # x in [0, 1]; the normalisation is inside, as in the Swift ImageClassifier
    y = F.relu(F.conv2d((x - mean) / std, conv_w, conv_b, padding=1))
    return F.linear(y.mean((2, 3)), fc_w, fc_b)


x = torch.rand(N, 3, S, S)
sal = torch.round(torch.rand(N, S * S) * 16) / 16  # quantised: ties exercise the stable order
labels = model(x).argmax(1)


def gaussian_kernel(k, sigma):
    t = torch.arange(k, dtype=torch.float64) - (k - 1) / 2
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    return (g / g.sum()).float()


def blur(img, padding, k=11, sigma=5.0):
    g, p = gaussian_kernel(k, sigma), k // 2
    if padding == "reflect":
        y = F.pad(img, (p, p, p, p), mode="reflect")
        y = F.conv2d(y, g.view(1, 1, 1, k).repeat(3, 1, 1, 1), groups=3)
        return F.conv2d(y, g.view(1, 1, k, 1).repeat(3, 1, 1, 1), groups=3)
    y = F.conv2d(img, g.view(1, 1, 1, k).repeat(3, 1, 1, 1), groups=3, padding=(0, p))
    return F.conv2d(y, g.view(1, 1, k, 1).repeat(3, 1, 1, 1), groups=3, padding=(p, 0))


def causal(img, saliency, label, start, finish):
    hw = S * S
    n = (hw + STEP - 1) // STEP
    order = sorted(range(hw), key=lambda i: (-float(saliency[i]), i))
    start = start.clone()
    scores = []
    for i in range(n + 1):
        scores.append(float(torch.softmax(model(start), 1)[0, label]))
        if i < n:
            coords = torch.tensor(order[STEP * i: STEP * (i + 1)])
            start.view(1, 3, hw)[0, :, coords] = finish.reshape(1, 3, hw)[0, :, coords]
    arr = np.array(scores)
    return arr, (arr.sum() - arr[0] / 2 - arr[-1] / 2) / (len(arr) - 1)


with torch.no_grad():
    for j in range(N):
        img, s, c = x[j:j + 1], sal[j], int(labels[j])
        runs = {"deletion": (img, mean.expand(1, 3, S, S)),
                "insertion": (blur(img, "reflect"), img),
                "insertion_zeros": (blur(img, "zeros"), img)}
        for name, (start, finish) in runs.items():
            curve, auc = causal(img, s, c, start, finish)
            out[f"causal{j}_{name}_curve"] = curve.astype(np.float32)
            out[f"causal{j}_{name}_auc"] = np.array([auc], np.float32)

out.update({"causal_conv_w": conv_w.numpy(), "causal_conv_b": conv_b.numpy(), "causal_fc_w": fc_w.numpy(),
            "causal_fc_b": fc_b.numpy(), "causal_mean": mean.view(3).numpy(), "causal_std": std.view(3).numpy(),
            "causal_x": x.numpy(), "causal_saliency": sal.view(N, S, S).numpy(),
            "causal_labels": labels.float().numpy(), "causal_step": np.array([STEP], np.float32)})


def write_safetensors(path, tensors):
    """The tensors in name order, without metadata."""
    fixture_io.write_safetensors(path, {name: tensors[name] for name in sorted(tensors)})


root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "FovExMetricsTests", "Fixtures")
write_safetensors(os.path.join(root, "metrics_reference.safetensors"), out)
print("wrote", len(out), "tensors")
