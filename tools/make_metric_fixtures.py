#!/usr/bin/env python3
"""Writes Tests/FovExMetricsTests/Fixtures/metrics_reference.safetensors: random maps and fixations
with NSS and AUC-Judd as the MIT saliency benchmark computes them (re-stated in NumPy), and a
deletion/insertion curve from RISE's CausalMetric re-stated in PyTorch on a small random linear-softmax
model. Run with /usr/bin/python3 (needs numpy and torch)."""
import json, os, struct
import numpy as np
import torch
import torch.nn.functional as F

rng = np.random.default_rng(7)
out = {}

def nss(sal, fix):
    s = (sal - sal.mean()) / sal.std()
    return s[fix.astype(bool)].mean()

def auc_judd(sal, fix):
    s = (sal - sal.min()) / (sal.max() - sal.min())
    f = fix.astype(bool)
    th = np.sort(s[f])[::-1]
    nf, npx = len(th), s.size
    tp = np.zeros(nf + 2); fp = np.zeros(nf + 2)
    tp[-1] = fp[-1] = 1
    for i, t in enumerate(th):
        above = (s >= t).sum()
        tp[i + 1] = (i + 1) / nf
        fp[i + 1] = (above - (i + 1)) / (npx - nf)
    return np.trapz(tp, fp)

for k in range(4):
    h, w = 30 + 3 * k, 40 - 2 * k
    sal = rng.random((h, w)).astype(np.float32) ** 3
    fix = np.zeros((h, w), np.float32)
    ys, xs = rng.integers(0, h, 25), rng.integers(0, w, 25)
    fix[ys, xs] = 1
    out[f"gaze{k}_map"] = sal
    out[f"gaze{k}_fix"] = fix
    out[f"gaze{k}_nss"] = np.array([nss(sal.astype(np.float64), fix)], np.float32)
    out[f"gaze{k}_auc"] = np.array([auc_judd(sal.astype(np.float64), fix)], np.float32)

# RISE CausalMetric, re-stated: deletion to the substrate (mean colour), insertion from blur.
torch.manual_seed(3)
S, step = 8, 5
W = torch.randn(4, 3 * S * S) * 0.3
mean = torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1)
def model(x):  # x in [0,1]; normalisation inside (std 1)
    return F.linear((x - mean).flatten(1), W)
x = torch.rand(1, 3, S, S)
sal = torch.rand(S * S)
label = int(model(x).argmax())

def gkern(k, sigma):
    t = torch.arange(k, dtype=torch.float64) - (k - 1) / 2
    g = torch.exp(-0.5 * (t / sigma) ** 2); g = (g / g.sum()).float()
    return g

def blur(img, k=11, sigma=5.0):
    g = gkern(k, sigma)
    p = k // 2
    y = F.pad(img, (p, p, p, p), mode="reflect")
    y = F.conv2d(y, g.view(1, 1, 1, k).repeat(3, 1, 1, 1), groups=3)
    return F.conv2d(y, g.view(1, 1, k, 1).repeat(3, 1, 1, 1), groups=3)

def causal(mode):
    HW = S * S
    n = (HW + step - 1) // step
    order = torch.tensor(sorted(range(HW), key=lambda i: (-float(sal[i]), i)))
    if mode == "del":
        start, finish = x.clone(), mean.expand(1, 3, S, S).clone()
    else:
        start, finish = blur(x), x.clone()
    scores = []
    for i in range(n + 1):
        p = torch.softmax(model(start), 1)[0, label]
        scores.append(float(p))
        if i < n:
            coords = order[step * i: step * (i + 1)]
            start.view(1, 3, HW)[0, :, coords] = finish.view(1, 3, HW)[0, :, coords]
    arr = np.array(scores)
    return arr, (arr.sum() - arr[0] / 2 - arr[-1] / 2) / (len(arr) - 1)

d_curve, d_auc = causal("del")
i_curve, i_auc = causal("ins")
out.update({"causal_W": W.numpy(), "causal_mean": mean.view(3).numpy(), "causal_x": x.numpy(),
            "causal_saliency": sal.view(S, S).numpy(), "causal_label": np.array([label], np.float32),
            "deletion_curve": d_curve.astype(np.float32), "deletion_auc": np.array([d_auc], np.float32),
            "insertion_curve": i_curve.astype(np.float32), "insertion_auc": np.array([i_auc], np.float32)})

def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype="<f4")
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b); offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h))); f.write(h)
        for b in blobs: f.write(b)

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "FovExMetricsTests", "Fixtures")
write_safetensors(os.path.join(root, "metrics_reference.safetensors"), out)
print("wrote", len(out), "tensors")
