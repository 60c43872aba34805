#!/usr/bin/python3
"""PyTorch's side of `fovex bench explainers`: seconds per image of each baseline explainer, the reference
implementations re-stated in plain PyTorch on CPU, on random weights.

Needs PyTorch and torchvision (Debian's python3-torch / python3-torchvision); pytorch-grad-cam is not needed (its
computation is re-stated here). `fovex bench explainers` runs this script once per OpenMP wait policy (unset, then
PASSIVE) with OMP_NUM_THREADS and OPENBLAS_NUM_THREADS set to the thread count, and keeps the faster setting for
each row; by hand:

    OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 /usr/bin/python3 tools/bench_torch_explainers.py \\
        --cases efficientnet-lite0:gradcam,efficientnet-lite0:rise --rise-masks 50

Models come from tools/bench_torch_models.py (torchvision resnet50 and vit_b_16, a plain-PyTorch
EfficientNet-Lite0), random weights, eval mode, parameters frozen. The CNNs are also timed with their batch norms
folded into the convolutions (the inference form the Swift models use; module names kept, so hooks still find
their layers); the `setting` field says which variant a row is, and the caller keeps the faster.

The methods, one image (batch 1), the class explained being the image's top-1 prediction:
  gradcam, gradcam++, randomcam  pytorch-grad-cam's BaseCAM with one target layer, as
        tools/make_baseline_fixtures.py re-states it (its grad_cam_family is reused): a forward hook keeps the
        target layer's output, the class is the argmax of that same pass's logits, the input requires grad as
        in BaseCAM.forward, channel weights from the gradient of the class logit (none for RandomCAM, whose
        weights are Uniform(-1, 1)), ReLU(sum_k w_k A_k), min-max, bilinear upsampling to 224, min-max again.
        The gradient is taken only down to the hooked activation (torch.autograd.grad), never more work than
        pytorch-grad-cam's full loss.backward(). Target layers: ResNet layer4, EfficientNet-Lite0 the head's
        ReLU6 output (a hook on _bn1 applies the ReLU6, which the forward's own ReLU6 then leaves unchanged),
        ViT encoder.layers[-1].ln_1 with pytorch-grad-cam's ViT reshape_transform.
  rise  the RISE authors' forward pass restricted to the explained class: masks made as TorchRay does (s x s
        grid kept with probability p1, upsampled bilinearly, align_corners=False, to (s+1)*ceil(S/s), cropped at
        a random shift), made and run --rise-batch at a time as the Swift RISE does (mask generation timed on
        both sides), sum_i softmax_c(model(x * M_i)) M_i / (N p1), min-max.
  mp    pytorch-explain-black-box's loop with the project's settings: a 28x28 mask initialised to 1, Adam
        (lr 0.1), 0.01 mean|1-m| + 0.2 TV_3(m) + softmax_c(model(x M + blur(x) (1-M) + noise)), the mask
        upsampled with align_corners=True, torchvision's gaussian_blur (K 11, sigma 5), fresh Gaussian noise
        (sigma 0.2) every iteration, mask clamped to [0, 1] after each step; saliency 1 - M, min-max.
  gae   Chefer et al. 2021 (generate_relevance): R = I; per block R += mean_heads(clamp(grad_A * A, min 0)) R,
        the gradient of the class logit with respect to every block's attention probabilities.
  clsemb  Vilas et al. 2023: per block the class token of the attention output read out with the final norm and
        head, cross-entropy of its softmax against the class, differentiated with respect to that block's
        attention probabilities; minus the sum over blocks and heads of the class token's row.
For gae and clsemb the ViT runs block by block with its attention written out (torchvision's own modules and
weights), because torchvision's fused attention does not expose its probabilities, as Chefer's and Vilas's
ViT code do too.

Timing: one warm-up call (RISE with one batch of masks, MP with one iteration, the others in full), then the
median of --repeats timed calls. Prints one JSON document on stdout:
{"torch": version, "threads": n, "omp_wait_policy": value, "rows": [{model, method, setting, seconds_per_image,
repeats}]}; per-row progress goes to stderr.
"""
import argparse
import copy
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.transforms.functional as TF

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_torch_models as btm  # noqa: E402
import make_baseline_fixtures as ref  # noqa: E402

SIZE = 224
# The fixture script's re-statements (scale_cam_image's upsampling, rise_masks) read the image side from this
# module global; its fixtures use 32, the models here 224.
ref.SIZE = SIZE

MODELS = ["efficientnet-lite0", "resnet50", "vit-b16"]
CNN_METHODS = ["gradcam", "gradcam++", "randomcam", "rise", "mp"]
VIT_METHODS = ["gradcam", "gae", "clsemb"]
DEFAULT_CASES = ",".join(f"{m}:{k}" for m in MODELS for k in (VIT_METHODS if m == "vit-b16" else CNN_METHODS))


# --------------------------------------------------------------------------------------------------- models

def set_module(root, name, module):
    parent, _, leaf = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, leaf, module)


def fold_batch_norms(model):
    """A copy of `model` with every batch norm that follows a convolution folded into it and replaced by an
    identity, keeping the module tree (unlike torch.fx's fuse, whose graph module loses the layers that
    forward hooks are registered on)."""
    from torch.fx import symbolic_trace
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = copy.deepcopy(model)
    modules = dict(folded.named_modules())
    for node in symbolic_trace(folded).graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], nn.BatchNorm2d):
            continue
        source = node.args[0]
        if (isinstance(source, torch.fx.Node) and source.op == "call_module"
                and isinstance(modules[source.target], nn.Conv2d) and len(source.users) == 1):
            set_module(folded, source.target, fuse_conv_bn_eval(modules[source.target], modules[node.target]))
            set_module(folded, node.target, nn.Identity())
    for p in folded.parameters():
        p.requires_grad_(False)
    return folded


class Capture:
    """A forward hook that keeps a module's output (pytorch-grad-cam's ActivationsAndGradients), optionally
    replacing it by `transform(output)` first."""

    def __init__(self, module, transform=None):
        self.value = None
        self.transform = transform
        self.handle = module.register_forward_hook(self.hook)

    def hook(self, module, inputs, output):
        if self.transform is not None:
            output = self.transform(output)
        self.value = output
        return output


def cam_target(name, model):
    """The Swift model's default CAM point as a hooked module, and the reshape that lays it out [N, C, h, w]."""
    net = model.net
    if name == "resnet50":
        return Capture(net.layer4), lambda t: t
    if name == "efficientnet-lite0":
        # The Swift point is the head's ReLU6 output, computed inline by the forward; ReLU6 is idempotent, so
        # applying it in the hook gives that tensor and the forward's own ReLU6 after it changes nothing.
        return Capture(net._bn1, F.relu6), lambda t: t
    if name == "vit-b16":
        return Capture(net.encoder.layers[-1].ln_1), ref.vit_reshape_transform
    raise SystemExit(f"no CAM target for {name}")


class ExplicitViT:
    """torchvision's vit_b_16 (inside bench_torch_models' Normalized wrapper) run block by block with the
    attention written out, so that every block's softmax probabilities and attention output are kept in the
    graph. Same modules and weights, same arithmetic as nn.MultiheadAttention."""

    def __init__(self, model):
        self.model = model
        self.vit = model.net

    def forward(self, x):
        """Logits and, per block, {"probs": [N, heads, T, T], "attn": [N, T, C] after the output projection}."""
        vit = self.vit
        x = vit._process_input((x - self.model.mean) / self.model.std)
        n = x.shape[0]
        x = torch.cat([vit.class_token.expand(n, -1, -1), x], dim=1) + vit.encoder.pos_embedding
        t, c = x.shape[1], x.shape[2]
        inner = []
        for layer in vit.encoder.layers:
            attention = layer.self_attention
            h, d = attention.num_heads, attention.head_dim
            y = layer.ln_1(x)
            qkv = F.linear(y, attention.in_proj_weight, attention.in_proj_bias)
            q, k, v = qkv.reshape(n, t, 3, h, d).permute(2, 0, 3, 1, 4).unbind(0)
            probs = ((q * d ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
            out = F.linear((probs @ v).transpose(1, 2).reshape(n, t, c), attention.out_proj.weight,
                           attention.out_proj.bias)
            inner.append({"probs": probs, "attn": out})
            x = x + out
            x = x + layer.mlp(layer.ln_2(x))
        return self.project(x[:, 0]), inner

    def project(self, tokens):
        """The final norm and head applied to each token."""
        return self.vit.heads(self.vit.encoder.ln(tokens))


# -------------------------------------------------------------------------------------------------- methods

def cam(model, capture, reshape, x, kind, channels):
    """Grad-CAM, Grad-CAM++ or RandomCAM maps [N, S, S] through the fixture script's BaseCAM re-statement."""
    gradients = kind != "randomcam"

    def activations_and_grads(img, _):
        img = img.clone().requires_grad_(gradients)
        with torch.set_grad_enabled(gradients):
            logits = model(img)
        a = capture.value
        if not gradients:
            return reshape(a), None
        (g,) = torch.autograd.grad(logits[0, logits[0].argmax()], a)
        return reshape(a.detach()), reshape(g)

    # pytorch-grad-cam's RandomCAM draws Uniform(-1, 1) weights on every call.
    weights = torch.rand(x.shape[0], channels) * 2 - 1 if kind == "randomcam" else None
    return ref.grad_cam_family(activations_and_grads, x, [None] * x.shape[0], kind, weights)


def rise(model, x, masks, cells, keep, batch, generator):
    """The RISE map [1, S, S] of the top-1 class of one image."""
    with torch.no_grad():
        c = model(x).softmax(dim=1).argmax(dim=1).item()
        cell = math.ceil(SIZE / cells)
        saliency = torch.zeros(1, SIZE * SIZE)
        for start in range(0, masks, batch):
            b = min(batch, masks - start)
            grids = (torch.rand(b, cells, cells, generator=generator) < keep).float()
            shifts = torch.randint(0, cell, (b, 2), generator=generator)
            m = ref.rise_masks(grids, shifts)
            p = model(x * m).softmax(dim=1)[:, c]
            saliency += p[None] @ m.view(b, SIZE * SIZE)
        return ref.min_max(saliency.view(1, SIZE, SIZE) / masks / keep)


def meaningful_perturbation(model, x, iterations, mask_size, generator, lr=0.1, l1=0.01, tv=0.2, beta=3,
                            kernel=11, sigma=5.0, noise=0.2):
    """The Meaningful Perturbation map [1, S, S] of the top-1 class of one image."""
    with torch.no_grad():
        c = model(x).softmax(dim=1).argmax(dim=1).item()
    blurred = TF.gaussian_blur(x, [kernel, kernel], [sigma, sigma])

    def up(m):
        return F.interpolate(m, size=(SIZE, SIZE), mode="bilinear", align_corners=True)

    mask = torch.ones(1, 1, mask_size, mask_size, requires_grad=True)
    optimizer = torch.optim.Adam([mask], lr=lr)
    for _ in range(iterations):
        m = up(mask)
        perturbed = x * m + blurred * (1 - m) + torch.randn(x.shape, generator=generator) * noise
        score = model(perturbed).softmax(dim=1)[0, c]
        loss = l1 * torch.mean(torch.abs(1 - mask)) + tv * ref.tv_norm(mask, beta) + score
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        mask.data.clamp_(0, 1)
    return ref.min_max(1 - up(mask.detach())[:, 0])


def patch_map(scores):
    """Per-patch scores [..., g*g] laid on their grid, upsampled to S x S and min-max normalised."""
    g = int(math.isqrt(scores.shape[-1]))
    maps = F.interpolate(scores.view(-1, 1, g, g), size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    return ref.min_max(maps[:, 0])


def gae(vit, x):
    """The GAE map [1, S, S] of the top-1 class of one image."""
    logits, inner = vit.forward(x.clone().requires_grad_(True))
    probs = [blk["probs"] for blk in inner]
    grads = torch.autograd.grad(logits[0, logits[0].argmax()], probs)
    t = probs[0].shape[-1]
    with torch.no_grad():
        r = torch.eye(t)
        for a, g in zip(probs, grads):
            r = r + (g[0] * a[0].detach()).clamp(min=0).mean(dim=0) @ r
        return patch_map(r[0, 1:])


def class_embedding_projection(vit, x):
    """The class-embedding-projection map [1, S, S] of the top-1 class of one image."""
    logits, inner = vit.forward(x.clone().requires_grad_(True))
    target = logits.detach().argmax(dim=1)
    scores = 0
    for i, blk in enumerate(inner):
        # The projection acts on each token alone: the class token's read-out needs only its own row.
        read_out = vit.project(blk["attn"][:, 0]).softmax(dim=1)
        loss = F.cross_entropy(read_out, target)  # applied to probabilities, as the reference does
        (g,) = torch.autograd.grad(loss, blk["probs"], retain_graph=i < len(inner) - 1)
        scores = scores - g[0, :, 0, 1:].sum(dim=0)
    with torch.no_grad():
        return patch_map(scores)


# ---------------------------------------------------------------------------------------------------- main

def median_seconds(body, warmup, repeats):
    """The median wall time of `repeats` calls of `body`, after one call of `warmup`."""
    warmup()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        body()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timings(name, model, method, x, args):
    """Median seconds per image of one method on one model variant (x is one image)."""
    generator = torch.Generator().manual_seed(42)
    if method in ("gradcam", "gradcam++", "randomcam"):
        capture, reshape = cam_target(name, model)
        kind = {"gradcam": "gradcam", "gradcam++": "gradcampp", "randomcam": "randomcam"}[method]
        with torch.no_grad():
            model(x)
        channels = reshape(capture.value).shape[1]
        try:
            return median_seconds(lambda: cam(model, capture, reshape, x, kind, channels),
                                  lambda: cam(model, capture, reshape, x, kind, channels), args.repeats)
        finally:
            # The hook would otherwise run (and, on Lite0, transform) in every later method's passes.
            capture.handle.remove()
    if method == "rise":
        return median_seconds(
            lambda: rise(model, x, args.rise_masks, args.rise_cells, args.rise_p, args.rise_batch, generator),
            lambda: rise(model, x, args.rise_batch, args.rise_cells, args.rise_p, args.rise_batch, generator),
            args.repeats)
    if method == "mp":
        return median_seconds(lambda: meaningful_perturbation(model, x, args.mp_iterations, args.mp_mask_size, generator),
                              lambda: meaningful_perturbation(model, x, 1, args.mp_mask_size, generator),
                              args.repeats)
    vit = ExplicitViT(model)
    body = (lambda: gae(vit, x)) if method == "gae" else (lambda: class_embedding_projection(vit, x))
    return median_seconds(body, body, args.repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=DEFAULT_CASES, help="model:method pairs, comma-separated")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    parser.add_argument("--rise-masks", type=int, default=4000)
    parser.add_argument("--rise-cells", type=int, default=7)
    parser.add_argument("--rise-p", type=float, default=0.5)
    parser.add_argument("--rise-batch", type=int, default=8)
    parser.add_argument("--mp-iterations", type=int, default=300)
    parser.add_argument("--mp-mask-size", type=int, default=28)
    parser.add_argument("--no-fold", action="store_true", help="skip the batch-norm-folded CNN variants")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    cases = {}
    for item in args.cases.split(","):
        model_name, _, method = item.strip().partition(":")
        if model_name not in MODELS:
            print(f"skipping {item}: no PyTorch build of {model_name}", file=sys.stderr)
            continue
        if method not in CNN_METHODS + VIT_METHODS or (method in ("gae", "clsemb") and model_name != "vit-b16"):
            print(f"skipping {item}: no PyTorch re-statement", file=sys.stderr)
            continue
        cases.setdefault(model_name, []).append(method)

    generator = torch.Generator().manual_seed(0)
    rows = []
    for name, methods in cases.items():
        torch.manual_seed(0)
        model = btm.build(name).eval()
        btm.randomize_batch_norms(model, generator)
        if name == "vit-b16":
            # torchvision initialises the ViT's head to zeros: every logit and gradient would be 0 and every map
            # constant (NaN after min-max). The Swift model's random head is not zero either.
            model.net.heads.head.weight.data.normal_(0, 0.02, generator=generator)
        for p in model.parameters():
            p.requires_grad_(False)
        variants = [("eager", model)]
        if not args.no_fold and name != "vit-b16":
            variants.append(("eager, BN folded", fold_batch_norms(model)))
        x = torch.rand(1, 3, SIZE, SIZE, generator=generator)
        for method in methods:
            for setting, net in variants:
                seconds = timings(name, net, method, x, args)
                rows.append({"model": name, "method": method, "setting": setting, "seconds_per_image": seconds,
                             "repeats": args.repeats})
                print(f"{name} {method} [{setting}]: {seconds:.3f} s/image", file=sys.stderr)
    json.dump({"torch": torch.__version__, "threads": args.threads,
               "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "rows": rows}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
