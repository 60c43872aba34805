#!/usr/bin/env python3
"""Writes Tests/FovExONNXTests/Fixtures/vit-explainers.safetensors: PyTorch's generic attention (GAE) and
class-embedding projection (clsemb) maps for the small torchvision ViT of tools/make_onnx_fixtures.py, the
reference the Swift tests compare the exported graph's (vit-opset13.onnx, vit-opset17.onnx) explanations with.

The network is rebuilt with the same seed as make_onnx_fixtures.py (its logits are checked against the
recorded ones), then run block by block here, with nn.MultiheadAttention written out (in-projection, softmax
of q·kᵀ/√d, values, out-projection) so that the attention probabilities [N, heads, T, T] and each block's
attention sub-layer output [N, T, C] are tensors whose gradients PyTorch gives. The formulas are the doc
comments' of Sources/FovExExplainers/GenericAttention.swift and ClassEmbeddingProjection.swift:

  GAE: R = I; per block R += mean_heads(clamp(∂y_c/∂A ⊙ A, min 0)) · R; scores R[CLS, patches].
  clsemb: per block, loss = CE(softmax(head(norm(attn_out[:, CLS]))), c); scores −Σ_blocks Σ_heads ∂loss/∂A[h, CLS, patches].
  Grad-CAM: at the last block's ln_1 output, the patch tokens on their grid; cam = ReLU(Σ_k mean(∂y_c/∂A_k) A_k).

Maps: scores on the patch grid, bilinearly upsampled (align_corners=False) to the input size, min-max normalised.

Run with Debian's PyTorch:  /usr/bin/python3 tools/make_onnx_vit_explainer_fixtures.py
It writes `input` [2, 3, 32, 32] (the parity fixture's), `classes` [2] (each image's top class, as floats),
`gae_scores`, `clsemb_scores` [2, 16] and `gae_maps`, `clsemb_maps`, `gradcam_maps` [2, 32, 32].
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_io  # noqa: E402
import make_onnx_fixtures as fixtures  # noqa: E402


def rebuilt_vit():
    """The small ViT with the weights and input make_onnx_fixtures.py drew (same generator, same order)."""
    model, _, x, _ = fixtures.draw("vit")
    return model, x


def forward(model, x):
    """torchvision's VisionTransformer forward written out; returns logits, per-block attention probabilities
    (retaining gradients) and attention sub-layer outputs."""
    n = x.shape[0]
    tokens = model.conv_proj(x).flatten(2).transpose(1, 2)
    h = torch.cat([model.class_token.expand(n, -1, -1), tokens], dim=1) + model.encoder.pos_embedding
    probabilities, outputs, normed = [], [], []
    for layer in model.encoder.layers:
        attention = layer.self_attention
        heads, c = attention.num_heads, attention.embed_dim
        t, d = h.shape[1], c // heads
        y = layer.ln_1(h)
        normed.append(y)
        q, k, v = F.linear(y, attention.in_proj_weight, attention.in_proj_bias).chunk(3, dim=-1)
        q, k, v = (z.reshape(n, t, heads, d).transpose(1, 2) for z in (q, k, v))
        a = torch.softmax(q @ k.transpose(-2, -1) / d ** 0.5, dim=-1)
        a.retain_grad()
        o = attention.out_proj((a @ v).transpose(1, 2).reshape(n, t, c))
        probabilities.append(a)
        outputs.append(o)
        h = h + o
        h = h + layer.mlp(layer.ln_2(h))
    logits = model.heads(model.encoder.ln(h)[:, 0])
    return logits, probabilities, outputs, normed


def maps(scores, size):
    g = int(round(scores.shape[1] ** 0.5))
    m = F.interpolate(scores.reshape(-1, 1, g, g), size=(size, size), mode="bilinear", align_corners=False)[:, 0]
    lo = m.flatten(1).min(1).values[:, None, None]
    hi = m.flatten(1).max(1).values[:, None, None]
    return (m - lo) / (hi - lo).clamp(min=torch.finfo(torch.float32).tiny)


def main():
    torch.set_num_threads(1)
    model, x = rebuilt_vit()
    recorded = fixtures_reference()
    with torch.no_grad():
        assert torch.allclose(model(x), recorded["logits"], rtol=0, atol=1e-5), "rebuilt ViT differs from the fixture's"
    assert torch.equal(x, recorded["input"]), "rebuilt input differs from the fixture's"

    logits, probabilities, outputs, normed = forward(model, x)
    assert torch.allclose(logits, recorded["logits"], atol=1e-5), "written-out forward differs from the module's"
    classes = logits.argmax(1)
    n, t = x.shape[0], probabilities[0].shape[-1]

    # GAE: gradients of the target logits' sum with respect to every block's probabilities.
    grads = torch.autograd.grad(logits.gather(1, classes[:, None]).sum(), probabilities, retain_graph=True)
    r = torch.eye(t).expand(n, t, t).clone()
    for a, g in zip(probabilities, grads):
        r = r + (g * a.detach()).clamp(min=0).mean(1) @ r
    gae_scores = r[:, 0, 1:]

    # clsemb: each block's class-token read-out, its cross-entropy on the softmax probabilities.
    clsemb_scores = torch.zeros(n, t - 1)
    for a, o in zip(probabilities, outputs):
        read_out = model.heads(model.encoder.ln(o[:, 0])).softmax(-1)
        loss = F.cross_entropy(read_out, classes, reduction="sum")
        g = torch.autograd.grad(loss, a, retain_graph=True)[0]
        clsemb_scores -= g[:, :, 0, 1:].sum(1)

    # Grad-CAM on the last block's first norm (pytorch-grad-cam's ViT target layer), the class token dropped.
    a = normed[-1]
    g, = torch.autograd.grad(logits.gather(1, classes[:, None]).sum(), a, retain_graph=True)
    side = int(round((t - 1) ** 0.5))
    activations = a[:, 1:].detach().transpose(1, 2).reshape(n, -1, side, side)
    weights = g[:, 1:].transpose(1, 2).reshape(n, -1, side, side).mean((2, 3))
    gradcam_scores = (activations * weights[:, :, None, None]).sum(1).relu().flatten(1)

    size = x.shape[-1]
    out = {"input": x, "classes": classes.float(), "gae_scores": gae_scores.detach(),
           "clsemb_scores": clsemb_scores.detach(), "gae_maps": maps(gae_scores.detach(), size),
           "clsemb_maps": maps(clsemb_scores.detach(), size),
           "gradcam_maps": maps(gradcam_scores, size)}
    path = os.path.join(fixtures.OUT, "vit-explainers.safetensors")
    fixture_io.write_safetensors(path, out)
    print(f"{path}: classes {classes.tolist()}")


def fixtures_reference():
    """The tensors make_onnx_fixtures.py recorded for the ViT."""
    import json
    import struct
    with open(os.path.join(fixtures.OUT, "vit.safetensors"), "rb") as f:
        length = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(length))
        data = f.read()
    out = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[start:end]), dtype=torch.float32).reshape(info["shape"])
    return out


if __name__ == "__main__":
    main()
