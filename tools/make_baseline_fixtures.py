#!/usr/bin/python3
"""Writes the PyTorch parity fixtures for the baseline explainers
(Tests/FovExExplainersTests/Fixtures/baseline_*.safetensors).

Needs PyTorch and torchvision (Debian's python3-torch and python3-torchvision; run with /usr/bin/python3).
The safetensors files are written by a tiny pure-Python writer, so nothing else is needed. Run from anywhere:

    /usr/bin/python3 tools/make_baseline_fixtures.py

Two random-weight models, written out in plain torch below and mirrored by the Swift tests:
  cnn  conv3x3(3->8)+ReLU, conv3x3/2(8->16)+ReLU, conv3x3/2(16->16)+ReLU = "features" [N,16,8,8],
       conv1x1(16->16)+tanh, global mean, linear(16->10); ImageNet mean/std applied inside.
  vit  timm's VisionTransformer layout (the same parameter names), 32x32 input, patch 8, width 32,
       2 blocks, 2 heads, 10 classes, LayerNorm eps 1e-6, exact GELU; mean = std = 0.5 applied inside.
Their weights are stored in the fixture under their parameter names (cnn weights prefixed "cnn.").

Every reference runs in float64 from the stored float32 weights and inputs and is stored as float32; maps are
[N, 32, 32], min-max normalised. The references re-state the original implementations, one image at a time:
  gradcam, gradcampp, randomcam  pytorch-grad-cam (jacobgil) BaseCAM with one target layer: cam =
        ReLU(sum_k w_k A_k); scale_cam_image (min-max with 1e-7, then cv2.resize, whose INTER_LINEAR upscaling
        of float images equals F.interpolate(bilinear, align_corners=False)); aggregate_multi_layers (ReLU, mean
        over the single layer, scale_cam_image again). Grad-CAM++ and RandomCAM weights as in
        grad_cam_plusplus.py and random_cam.py, the random weights drawn here and stored ("randomcam.weights").
        For the ViT, the target is blocks[-1].norm1 with pytorch-grad-cam's ViT reshape_transform.
  rise  the RISE authors' explanations.py forward pass: sum_i softmax(model(x * M_i))_c M_i / (N p1), with
        masks made as TorchRay does (grid upsampled with F.interpolate bilinear, align_corners=False, to
        (s+1)*ceil(S/s), cropped at a shift); the grids and shifts are stored ("rise.grids", "rise.shifts").
  mp    pytorch-explain-black-box's loop (Adam on a mask initialised to 1; 0.01 mean|1-m| + 0.2 TV_3(m) +
        softmax_c; clamp to [0, 1] after each step; saliency 1 - upsampled mask), with the project's pinned
        changes: x, its Gaussian blur (torchvision gaussian_blur K 11, sigma 5) and the noise in [0, 1] pixel
        space. The noise per iteration is stored ("mp.noise", [T, 1, 3, S, S]); "mp" upsamples with
        UpsamplingBilinear2d (align_corners=True), "mp_half" with align_corners=False.
  gae   Chefer et al. 2021, generate_relevance from their ViT example notebook.
  clsemb  Vilas et al. 2023, ViTGradients._compute_cross_entropy and the per-block accumulation of
        explain_perturbation.get_accumulated_grads (class token row), then laid on the 4x4 grid and upsampled.
The settings of each case are a JSON string in the metadata under the case's name. Each file uses the first
torch seed (from 1) for which every reference map is non-zero on at least a fifth of its pixels, so that no
comparison is between two maps that are zero for a trivial reason; the seed is recorded in the metadata.
"""
import json
import math
import os

import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF

import fixture_io  # noqa: E402  (tools/ is on sys.path when a script runs)

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "FovExExplainersTests",
                                    "Fixtures"))
SIZE = 32
CLASSES = 10


write_safetensors = fixture_io.write_safetensors


def normal(gen, shape, std, mean=0.0):
    """float32 values (as stored), returned as float64 for the references."""
    return (torch.randn(shape, generator=gen) * std + mean).to(torch.float32).double()


# ----------------------------------------------------------------------------------------------- models

class SmallCNN:
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64).view(1, 3, 1, 1)

    def __init__(self, gen):
        p = {}
        for name, out, inp, k in [("conv1", 8, 3, 3), ("conv2", 16, 8, 3), ("conv3", 16, 16, 3), ("conv4", 16, 16, 1)]:
            p[name + ".weight"] = normal(gen, (out, inp, k, k), math.sqrt(2.0 / (inp * k * k)))
            p[name + ".bias"] = normal(gen, (out,), 0.1)
        p["fc.weight"] = normal(gen, (CLASSES, 16), 1.0)
        p["fc.bias"] = normal(gen, (CLASSES,), 0.1)
        self.p = p

    def forward(self, x):
        """Logits and the "features" activations [N, 16, 8, 8]."""
        p = self.p
        h = (x - self.mean) / self.std
        h = F.relu(F.conv2d(h, p["conv1.weight"], p["conv1.bias"], padding=1))
        h = F.relu(F.conv2d(h, p["conv2.weight"], p["conv2.bias"], stride=2, padding=1))
        features = F.relu(F.conv2d(h, p["conv3.weight"], p["conv3.bias"], stride=2, padding=1))
        h = torch.tanh(F.conv2d(features, p["conv4.weight"], p["conv4.bias"]))
        return F.linear(h.mean(dim=(2, 3)), p["fc.weight"], p["fc.bias"]), features


class TinyViT:
    dim, depth, heads, patch = 32, 2, 2, 8

    def __init__(self, gen):
        c = self.dim
        tokens = 1 + (SIZE // self.patch) ** 2
        p = {"cls_token": normal(gen, (1, 1, c), 0.5), "pos_embed": normal(gen, (1, tokens, c), 0.5),
             "patch_embed.proj.weight": normal(gen, (c, 3, self.patch, self.patch), 0.1),
             "patch_embed.proj.bias": normal(gen, (c,), 0.1)}

        def linear(name, out, inp, std):
            p[name + ".weight"] = normal(gen, (out, inp), std)
            p[name + ".bias"] = normal(gen, (out,), 0.1)

        def norm(name):
            p[name + ".weight"] = normal(gen, (c,), 0.2, 1.0)
            p[name + ".bias"] = normal(gen, (c,), 0.1)

        for i in range(self.depth):
            b = f"blocks.{i}"
            norm(b + ".norm1")
            linear(b + ".attn.qkv", 3 * c, c, 0.35)
            linear(b + ".attn.proj", c, c, 0.2)
            norm(b + ".norm2")
            linear(b + ".mlp.fc1", 4 * c, c, 0.2)
            linear(b + ".mlp.fc2", c, 4 * c, 0.1)
        norm("norm")
        linear("head", CLASSES, c, 0.5)
        self.p = p

    def norm(self, name, x):
        return F.layer_norm(x, (self.dim,), self.p[name + ".weight"], self.p[name + ".bias"], eps=1e-6)

    def lin(self, name, x):
        return F.linear(x, self.p[name + ".weight"], self.p[name + ".bias"])

    def project(self, tokens):
        """The final norm and head applied to every token."""
        return self.lin("head", self.norm("norm", tokens))

    def forward(self, x):
        """Logits and, per block, its norm1 output, attention probabilities and attention output (after proj)."""
        p, c, h = self.p, self.dim, self.heads
        x = (x - 0.5) / 0.5
        x = F.conv2d(x, p["patch_embed.proj.weight"], p["patch_embed.proj.bias"], stride=self.patch)
        n = x.shape[0]
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat([p["cls_token"].expand(n, -1, -1), x], dim=1) + p["pos_embed"]
        t = x.shape[1]
        inner = []
        for i in range(self.depth):
            b = f"blocks.{i}"
            y = self.norm(b + ".norm1", x)
            qkv = self.lin(b + ".attn.qkv", y).reshape(n, t, 3, h, c // h).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.unbind(0)
            probs = ((q @ k.transpose(-2, -1)) * (c // h) ** -0.5).softmax(dim=-1)
            out = self.lin(b + ".attn.proj", (probs @ v).transpose(1, 2).reshape(n, t, c))
            inner.append({"norm1": y, "probs": probs, "attn": out})
            x = x + out
            x = x + self.lin(b + ".mlp.fc2", F.gelu(self.lin(b + ".mlp.fc1", self.norm(b + ".norm2", x))))
        return self.lin("head", self.norm("norm", x)[:, 0]), inner


def vit_reshape_transform(tensor):
    """pytorch-grad-cam's ViT example: drop the class token, lay the patches out channels-first."""
    g = int(math.sqrt(tensor.shape[1] - 1))
    result = tensor[:, 1:, :].reshape(tensor.size(0), g, g, tensor.size(2))
    return result.transpose(2, 3).transpose(1, 2)


# ------------------------------------------------------------------------------------------- references

def upsample(maps):
    """[N, h, w] -> [N, S, S], bilinear with align_corners=False (cv2.resize INTER_LINEAR when upscaling)."""
    return F.interpolate(maps[:, None], size=(SIZE, SIZE), mode="bilinear", align_corners=False)[:, 0]


def scale_cam_image(cam, resize):
    """pytorch-grad-cam utils.image.scale_cam_image, per image."""
    out = []
    for img in cam:
        img = img - img.min()
        img = img / (1e-7 + img.max())
        if resize:
            img = upsample(img[None])[0]
        out.append(img)
    return torch.stack(out)


def min_max(maps):
    lo = maps.flatten(1).min(dim=1).values.view(-1, 1, 1)
    hi = maps.flatten(1).max(dim=1).values.view(-1, 1, 1)
    return (maps - lo) / (hi - lo)


def grad_cam_family(activations_and_grads, x, classes, kind, random_weights=None):
    """pytorch-grad-cam's BaseCAM.forward for GradCAM, GradCAMPlusPlus or RandomCAM, one target layer."""
    maps = []
    for i in range(x.shape[0]):
        a, g = activations_and_grads(x[i:i + 1], classes[i])
        if kind == "gradcam":
            w = g.mean(dim=(2, 3))
        elif kind == "gradcampp":
            g2 = g ** 2
            g3 = g2 * g
            sum_a = a.sum(dim=(2, 3))
            aij = g2 / (2 * g2 + sum_a[:, :, None, None] * g3 + 1e-6)
            aij = torch.where(g != 0, aij, torch.zeros_like(aij))
            w = (g.clamp(min=0) * aij).sum(dim=(2, 3))
        else:
            w = random_weights[i:i + 1]
        cam = (w[:, :, None, None] * a).sum(dim=1).clamp(min=0)
        per_layer = scale_cam_image(cam, resize=True)
        maps.append(scale_cam_image(per_layer.clamp(min=0), resize=False)[0])
    return torch.stack(maps)


def rise_masks(grids, shifts):
    s = grids.shape[1]
    up = (s + 1) * math.ceil(SIZE / s)
    big = F.interpolate(grids[:, None], size=(up, up), mode="bilinear", align_corners=False)
    return torch.stack([big[k, :, int(r):int(r) + SIZE, int(c):int(c) + SIZE] for k, (r, c) in enumerate(shifts.tolist())])


def rise(model, x, classes, masks, p1):
    """explanations.py RISE.forward per image (softmax folded into the model, as the authors do)."""
    n = masks.shape[0]
    maps = []
    for i in range(x.shape[0]):
        with torch.no_grad():
            p = model.forward(masks * x[i:i + 1])[0].softmax(dim=1)
        sal = (p.transpose(0, 1) @ masks.view(n, SIZE * SIZE)).view(-1, SIZE, SIZE) / n / p1
        maps.append(sal[classes[i]])
    return min_max(torch.stack(maps))


def tv_norm(mask, beta):
    img = mask[0, 0, :]
    row_grad = torch.mean(torch.abs(img[:-1, :] - img[1:, :]).pow(beta))
    col_grad = torch.mean(torch.abs(img[:, :-1] - img[:, 1:]).pow(beta))
    return row_grad + col_grad


def meaningful_perturbation(model, x, classes, noise, s, align_corners):
    up = (torch.nn.UpsamplingBilinear2d(size=(SIZE, SIZE)) if align_corners
          else (lambda m: F.interpolate(m, size=(SIZE, SIZE), mode="bilinear", align_corners=False)))
    maps = []
    for i in range(x.shape[0]):
        img = x[i:i + 1]
        blurred = TF.gaussian_blur(img, [s["blur_kernel_size"]] * 2, [s["blur_sigma"]] * 2)
        mask = torch.ones(1, 1, s["mask_size"], s["mask_size"], dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.Adam([mask], lr=s["learning_rate"])
        for t in range(s["iterations"]):
            m = up(mask).expand(1, 3, SIZE, SIZE)
            perturbed = img * m + blurred * (1 - m) + noise[t]
            outputs = model.forward(perturbed)[0].softmax(dim=1)
            loss = (s["l1_coefficient"] * torch.mean(torch.abs(1 - mask)) + s["tv_coefficient"] * tv_norm(mask, s["tv_beta"])
                    + outputs[0, classes[i]])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            mask.data.clamp_(0, 1)
        maps.append(1 - up(mask.detach())[0, 0])
    return min_max(torch.stack(maps))


def gae(vit, x, classes):
    maps = []
    for i in range(x.shape[0]):
        logits, inner = vit.forward(x[i:i + 1].clone().requires_grad_(True))
        one_hot = torch.zeros(1, logits.shape[-1], dtype=torch.float64)
        one_hot[0, classes[i]] = 1
        target = torch.sum(one_hot * logits)
        cams = [blk["probs"] for blk in inner]
        grads = torch.autograd.grad(target, cams)
        t = cams[0].shape[-1]
        r = torch.eye(t, t, dtype=torch.float64)
        for cam, grad in zip(cams, grads):
            cam = cam.detach().reshape(-1, t, t)
            grad = grad.reshape(-1, t, t)
            cam = (grad * cam).clamp(min=0).mean(dim=0)
            r = r + cam @ r
        maps.append(r[0, 1:])
    return min_max(upsample(torch.stack(maps).view(-1, 4, 4)))


def class_embedding_projection(vit, x, classes):
    maps = []
    for i in range(x.shape[0]):
        _, inner = vit.forward(x[i:i + 1].clone().requires_grad_(True))
        importance = []
        for blk in inner:
            out = vit.project(blk["attn"])[0].softmax(dim=1)        # [T, classes], probabilities
            target = torch.zeros(out.shape, dtype=torch.float64)
            target[:, classes[i]] = 1
            l = F.cross_entropy(out, target, reduction="none")       # CE applied to probabilities, as the reference
            grad = torch.autograd.grad(l[0], blk["probs"], retain_graph=True)[0][0]   # [heads, T, T]
            importance.append(grad[:, 0, :].sum(dim=0))
        maps.append(-torch.stack(importance).sum(dim=0)[1:])
    return min_max(upsample(torch.stack(maps).view(-1, 4, 4)))


# ------------------------------------------------------------------------------------------------- cases

def make_cnn(gen):
    cnn = SmallCNN(gen)
    x = torch.rand(2, 3, SIZE, SIZE, generator=gen).to(torch.float32).double()
    tensors = {"cnn." + k: v for k, v in cnn.p.items()}
    tensors["x"] = x
    meta = {}
    with torch.no_grad():
        top1 = cnn.forward(x)[0].argmax(dim=1).tolist()
    tensors["top1"] = torch.tensor(top1, dtype=torch.float64)

    def acts(img, c):
        logits, features = cnn.forward(img.clone().requires_grad_(True))
        (g,) = torch.autograd.grad(logits[0, c], features)
        return features.detach(), g

    for kind in ["gradcam", "gradcampp"]:
        tensors[kind] = grad_cam_family(acts, x, top1, kind)
        meta[kind] = json.dumps({"point": "features", "classes": "top1"})
    given = [3, 7]
    weights = (torch.rand(2, 16, generator=gen) * 2 - 1).to(torch.float32).double()
    tensors["randomcam.weights"] = weights
    tensors["randomcam"] = grad_cam_family(acts, x, given, "randomcam", weights)
    meta["randomcam"] = json.dumps({"point": "features", "classes": given})

    rise_settings = {"masks": 96, "cells": 4, "keep_probability": 0.5, "classes": "top1"}
    s = rise_settings["cells"]
    grids = (torch.rand(rise_settings["masks"], s, s, generator=gen) < rise_settings["keep_probability"]).double()
    cell = math.ceil(SIZE / s)
    shifts = torch.randint(0, cell, (rise_settings["masks"], 2), generator=gen).double()
    tensors["rise.grids"], tensors["rise.shifts"] = grids, shifts
    tensors["rise"] = rise(cnn, x, top1, rise_masks(grids, shifts), rise_settings["keep_probability"])
    meta["rise"] = json.dumps(rise_settings)

    mp_settings = {"mask_size": 8, "iterations": 8, "learning_rate": 0.1, "l1_coefficient": 0.01,
                   "tv_coefficient": 0.2, "tv_beta": 3, "blur_kernel_size": 11, "blur_sigma": 5, "classes": "top1"}
    noise = (torch.randn(mp_settings["iterations"], 1, 3, SIZE, SIZE, generator=gen) * 0.2).to(torch.float32).double()
    tensors["mp.noise"] = noise
    tensors["mp"] = meaningful_perturbation(cnn, x, top1, noise, mp_settings, align_corners=True)
    meta["mp"] = json.dumps({**mp_settings, "align_corners": True})
    half = {**mp_settings, "iterations": 4}
    tensors["mp_half"] = meaningful_perturbation(cnn, x, top1, noise, half, align_corners=False)
    meta["mp_half"] = json.dumps({**half, "align_corners": False})
    return tensors, meta


def make_vit(gen):
    vit = TinyViT(gen)
    x = torch.rand(2, 3, SIZE, SIZE, generator=gen).to(torch.float32).double()
    tensors = dict(vit.p)
    tensors["x"] = x
    meta = {}
    with torch.no_grad():
        top1 = vit.forward(x)[0].argmax(dim=1).tolist()
    tensors["top1"] = torch.tensor(top1, dtype=torch.float64)
    last = vit.depth - 1

    def acts(img, c):
        logits, inner = vit.forward(img.clone().requires_grad_(True))
        y = inner[last]["norm1"]
        (g,) = torch.autograd.grad(logits[0, c], y)
        return vit_reshape_transform(y.detach()), vit_reshape_transform(g)

    for kind in ["gradcam", "gradcampp"]:
        tensors[kind] = grad_cam_family(acts, x, top1, kind)
        meta[kind] = json.dumps({"point": f"blocks.{last}.norm1", "classes": "top1"})
    tensors["gae"] = gae(vit, x, top1)
    meta["gae"] = json.dumps({"classes": "top1"})
    tensors["clsemb"] = class_embedding_projection(vit, x, top1)
    meta["clsemb"] = json.dumps({"classes": "top1"})
    given = [1, 3]
    tensors["clsemb_given"] = class_embedding_projection(vit, x, given)
    meta["clsemb_given"] = json.dumps({"classes": given})
    meta["model"] = json.dumps({"dimension": vit.dim, "depth": vit.depth, "heads": vit.heads, "patch": vit.patch,
                                "image_size": SIZE, "classes": CLASSES})
    return tensors, meta


def informative(tensors, meta):
    """Whether every reference map is non-zero on at least a fifth of its pixels (a map that ReLU or a
    degenerate class zeroes out would match anything that also gives zeros)."""
    return all(bool(((m > 0.01).double().mean() >= 0.2).item()) for k in meta if k in tensors for m in tensors[k])


def main():
    torch.set_default_dtype(torch.float64)
    os.makedirs(OUT, exist_ok=True)
    for name, make in [("baseline_cnn", make_cnn), ("baseline_vit", make_vit)]:
        # The first seed from 1 whose random model, input and weights give informative maps for every case.
        seed = 1
        while True:
            tensors, meta = make(torch.Generator().manual_seed(seed))
            if informative(tensors, meta):
                break
            seed += 1
        meta["seed"] = json.dumps({"torch_manual_seed": seed})
        path = os.path.join(OUT, name + ".safetensors")
        write_safetensors(path, tensors, meta)
        print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
