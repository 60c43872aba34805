#!/usr/bin/env python3
"""Writes the prefix-token ViT fixtures of Tests/FovExONNXTests/Fixtures: small timm Vision Transformers whose
patch tokens follow more than one extra token, exported at opset 17, with PyTorch's logits and explanations.

  deit_distilled  timm's VisionTransformerDistilled: a class and a distillation token (2 prefix tokens); the
                  head averages head(norm(x)[:, 0]) and head_dist(norm(x)[:, 1]).
  vit_reg4        timm's VisionTransformer with a class token and 4 register tokens (5 prefix tokens); the head
                  reads the class token.
  vit_reg4_gap    4 register tokens, no class token, the head averages the patch tokens (4 prefix tokens).

For each NAME it writes NAME-opset17.onnx and NAME.safetensors holding `input` [2, 3, 32, 32], `logits`,
`classes` (each image's top class, as floats), `input_grad` (the gradient of the top logits' sum with respect to
the input), and maps [2, 32, 32]:

  gradcam_maps    Grad-CAM on the output of the last block's first norm (pytorch-grad-cam's ViT target layer,
                  blocks[-1].norm1), prefix tokens dropped and the patch tokens laid on their 4 × 4 grid (its
                  reshape_transform for ViTs): weights = the spatial mean of ∂y_c/∂A, cam = ReLU(Σ_k w_k A_k).
  gae_maps        (not for vit_reg4_gap) generic attention (Chefer et al. 2021): R = I; per block
                  R += mean_heads(clamp(∂y_c/∂A ⊙ A, min 0)) · R; the scores are the mean over the tokens the head
                  reads (the class token; for the distilled DeiT also the distillation token) of R[token, patches].
  clsemb_maps     (vit_reg4 only) class-embedding projection: per block, loss = CE(softmax(head(norm(o[:, 0]))), c)
                  with o the attention sub-layer's output; scores −Σ_blocks Σ_heads ∂loss/∂A[h, 0, patches].

Maps: scores on the patch grid, bilinearly upsampled (align_corners=False) to 32 × 32, min-max normalised.

Run with Debian's PyTorch 1.13 and PyPI timm 0.9.16 (installed --no-deps):
    /usr/bin/python3 tools/make_onnx_prefix_token_fixtures.py
"""
import os
import sys
import warnings

import torch
import torch.nn.functional as F

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_io  # noqa: E402
import make_onnx_fixtures as fixtures  # noqa: E402
import timm.models.vision_transformer as vision_transformer  # noqa: E402
from timm.models.deit import VisionTransformerDistilled  # noqa: E402

SIZE, PATCH = 32, 8
COMMON = dict(img_size=SIZE, patch_size=PATCH, embed_dim=32, depth=2, num_heads=2, num_classes=10)
MODELS = {
    "deit_distilled": lambda: VisionTransformerDistilled(**COMMON),
    "vit_reg4": lambda: vision_transformer.VisionTransformer(reg_tokens=4, **COMMON),
    "vit_reg4_gap": lambda: vision_transformer.VisionTransformer(reg_tokens=4, class_token=False, global_pool="avg",
                                                                 **COMMON),
}

# Seeds whose networks give every map some structure on both images (checked before writing: a Grad-CAM of
# ReLU(negative) = 0 everywhere would test nothing) and pass make_onnx_fixtures.reference_problem.
SEEDS = {"deit_distilled": 4000, "vit_reg4": 4000, "vit_reg4_gap": 4002}

# The attention probabilities [N, heads, T, T] and attention outputs [N, T, C] of the running forward pass.
RECORDED = {"probabilities": [], "outputs": [], "normed": []}


def recording_attention(self, x):
    """timm's Attention.forward (its unfused branch, which PyTorch 1.13 runs) with its probabilities and output
    kept for the gradients below."""
    b, n, c = x.shape
    qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    q, k = self.q_norm(q), self.k_norm(k)
    a = (q * self.scale @ k.transpose(-2, -1)).softmax(dim=-1)
    if a.requires_grad:
        a.retain_grad()
    RECORDED["probabilities"].append(a)
    out = self.proj((a @ v).transpose(1, 2).reshape(b, n, c))
    RECORDED["outputs"].append(out)
    return out


def maps(scores):
    g = int(round(scores.shape[1] ** 0.5))
    m = F.interpolate(scores.reshape(-1, 1, g, g), size=(SIZE, SIZE), mode="bilinear", align_corners=False)[:, 0]
    lo = m.flatten(1).min(1).values[:, None, None]
    hi = m.flatten(1).max(1).values[:, None, None]
    return (m - lo) / (hi - lo).clamp(min=torch.finfo(torch.float32).tiny)


def head_tokens(name):
    return {"deit_distilled": [0, 1], "vit_reg4": [0], "vit_reg4_gap": []}[name]


def main():
    torch.set_num_threads(1)
    for name, make in MODELS.items():
        generator = torch.Generator().manual_seed(SEEDS[name])
        model = make()
        fixtures.randomize(model, generator)
        model.eval()
        prefix = model.num_prefix_tokens
        x = torch.rand(2, 3, SIZE, SIZE, generator=generator)
        problem = fixtures.reference_problem(model, x, torch.randn(2, COMMON["num_classes"], generator=generator))
        assert problem is None, f"{name}: seed {SEEDS[name]}: {problem}"

        path = os.path.join(fixtures.OUT, f"{name}-opset17.onnx")
        torch.onnx.export(model, x[:1], path, opset_version=17, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})

        vision_transformer.Attention.forward = recording_attention
        for values in RECORDED.values():
            values.clear()
        model.blocks[-1].norm1.register_forward_hook(lambda module, inputs, output: RECORDED["normed"].append(output))
        pixels = x.clone().requires_grad_(True)
        logits = model(pixels)
        classes = logits.argmax(1)
        target = logits.gather(1, classes[:, None]).sum()
        with torch.no_grad():
            assert torch.equal(model(x), logits), "the recording forward pass differs from the module's"

        # Grad-CAM on the last block's first norm (pytorch-grad-cam's ViT target layer), prefix tokens dropped.
        normed = RECORDED["normed"][0]
        grad_tokens, = torch.autograd.grad(target, normed, retain_graph=True)
        g = int(round((normed.shape[1] - prefix) ** 0.5))
        activations = normed[:, prefix:].detach().transpose(1, 2).reshape(2, -1, g, g)
        weights = grad_tokens[:, prefix:].transpose(1, 2).reshape(2, -1, g, g).mean((2, 3))
        cam = (activations * weights[:, :, None, None]).sum(1).relu()
        gradcam = F.interpolate(cam[:, None], size=(SIZE, SIZE), mode="bilinear", align_corners=False)[:, 0]
        lo = gradcam.flatten(1).min(1).values[:, None, None]
        hi = gradcam.flatten(1).max(1).values[:, None, None]
        out = {"input": x, "logits": logits.detach(), "classes": classes.float(),
               "gradcam_maps": (gradcam - lo) / (hi - lo).clamp(min=torch.finfo(torch.float32).tiny)}

        depth = len(model.blocks)  # the recording pass's; the check pass after it appended its own
        probabilities, attention_outputs = RECORDED["probabilities"][:depth], RECORDED["outputs"][:depth]
        grads = torch.autograd.grad(target, probabilities + [pixels], retain_graph=True)
        out["input_grad"] = grads[-1]
        readers = head_tokens(name)
        if readers:
            t = probabilities[0].shape[-1]
            r = torch.eye(t).expand(2, t, t).clone()
            for a, ga in zip(probabilities, grads[:-1]):
                r = r + (ga * a.detach()).clamp(min=0).mean(1) @ r
            out["gae_maps"] = maps(r[:, readers, prefix:].mean(1).detach())
        if name == "vit_reg4":
            scores = torch.zeros(2, probabilities[0].shape[-1] - prefix)
            for a, o in zip(probabilities, attention_outputs):
                read_out = model.head(model.fc_norm(model.norm(o[:, 0]))).softmax(-1)
                loss = F.cross_entropy(read_out, classes, reduction="sum")
                ga, = torch.autograd.grad(loss, a, retain_graph=True)
                scores -= ga[:, :, 0, prefix:].sum(1)
            out["clsemb_maps"] = maps(scores)
        flat = [k for k, v in out.items() if k.endswith("_maps") and float(v.flatten(1).max(1).values.min()) == 0]
        assert not flat, f"{name}: seed {SEEDS[name]}: {flat} zero on an image"
        fixture_io.write_safetensors(os.path.join(fixtures.OUT, f"{name}.safetensors"), out)
        print(f"{name}: {prefix} prefix tokens, classes {classes.tolist()}")


if __name__ == "__main__":
    main()
