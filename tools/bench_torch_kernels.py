#!/usr/bin/python3
"""Times PyTorch on the kernel shapes of `fovex bench kernels`, which launches this script and reads its output.

Needs PyTorch (Debian's python3-torch; run with /usr/bin/python3). Usage:

    OPENBLAS_NUM_THREADS=2 [OMP_WAIT_POLICY=PASSIVE] /usr/bin/python3 tools/bench_torch_kernels.py \
        --threads 2 --shapes '[{"key": "...", "kind": "conv", ...}, ...]' [--min-time 0.5]

The shape list is the JSON that `fovex bench kernels` builds (fields: key, kind "conv", "linear" or
"elementwise"; for convolutions channels, height, width, outChannels, kernel, stride, padding, groups; for linear
layers rows, inFeatures, outFeatures; for element-wise work operation ("gelu", "softmax", "layer_norm") over
rows × inFeatures). Batch 1, float32, no gradient recording. For every shape it times:
  forward         F.conv2d (no bias) / F.linear (with bias) / F.gelu (exact), torch.softmax over the last axis,
                  F.layer_norm over the last axis (affine, eps 1e-6)
  backward-data   the input gradient only: aten.convolution_backward with output_mask (True, False, False)
                  (what autograd runs for an input that requires grad and constant weights) / grad @ weight /
                  aten.gelu_backward, aten._softmax_backward_data, aten.native_layer_norm_backward with
                  output_mask (True, False, False)
Convolutions run in both NCHW and channels-last memory format and the faster one counts, so PyTorch is
measured at its best. Each measurement warms up, repeats for at least --min-time seconds and reports the
median, with the CPU that other processes used meanwhile (in cores), read from /proc.

Prints one JSON object: {"torch", "threads", "omp_wait_policy", "results": [{"key", "direction", "ms",
"runs", "layout", "other_load"}]}.
"""
import argparse
import json
import os
import statistics
import sys
import time


def machine_busy_seconds():
    try:
        with open("/proc/stat") as f:
            fields = [float(v) for v in f.readline().split()[1:]]
        return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def own_busy_seconds():
    t = os.times()
    return t.user + t.system


def measure(fn, min_time):
    """Median milliseconds of fn() after warm-up, runs, and other processes' CPU use in cores."""
    warm_end = time.perf_counter() + 0.1
    warm = 0
    while warm < 2 or time.perf_counter() < warm_end:
        fn()
        warm += 1
    busy0, own0, wall0 = machine_busy_seconds(), own_busy_seconds(), time.perf_counter()
    samples = []
    while len(samples) < 5 or time.perf_counter() - wall0 < min_time:
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    wall = time.perf_counter() - wall0
    busy1, own1 = machine_busy_seconds(), own_busy_seconds()
    other = None
    if busy0 is not None and busy1 is not None and wall > 0:
        other = max(0.0, ((busy1 - busy0) - (own1 - own0)) / wall)
    return statistics.median(samples), len(samples), other


def bench_conv(torch, s, min_time):
    F = torch.nn.functional
    g = torch.Generator().manual_seed(0)
    c, o, k, groups = s["channels"], s["outChannels"], s["kernel"], s["groups"]
    x0 = torch.randn(1, c, s["height"], s["width"], generator=g)
    w0 = torch.randn(o, c // groups, k, k, generator=g) / (c // groups * k * k) ** 0.5
    stride, pad = (s["stride"],) * 2, (s["padding"],) * 2
    with torch.no_grad():
        y_shape = F.conv2d(x0, w0, None, stride, pad, 1, groups).shape
    gy0 = torch.randn(*y_shape, generator=g)
    best = {}
    for layout, fmt in (("nchw", torch.contiguous_format), ("channels_last", torch.channels_last)):
        x, w, gy = (t.contiguous(memory_format=fmt) for t in (x0, w0, gy0))

        def forward():
            F.conv2d(x, w, None, stride, pad, 1, groups)

        def backward_data():
            torch.ops.aten.convolution_backward(gy, x, w, None, stride, pad, (1, 1), False, (0, 0), groups,
                                                (True, False, False))

        with torch.no_grad():
            for direction, fn in (("forward", forward), ("backward-data", backward_data)):
                ms, runs, other = measure(fn, min_time)
                if direction not in best or ms < best[direction]["ms"]:
                    best[direction] = {"ms": ms, "runs": runs, "layout": layout, "other_load": other}
    return best


def bench_linear(torch, s, min_time):
    F = torch.nn.functional
    g = torch.Generator().manual_seed(0)
    m, k, n = s["rows"], s["inFeatures"], s["outFeatures"]
    x = torch.randn(m, k, generator=g)
    w = torch.randn(n, k, generator=g) / k ** 0.5
    b = torch.randn(n, generator=g)
    gy = torch.randn(m, n, generator=g)
    best = {}
    with torch.no_grad():
        for direction, fn in (("forward", lambda: F.linear(x, w, b)), ("backward-data", lambda: torch.mm(gy, w))):
            ms, runs, other = measure(fn, min_time)
            best[direction] = {"ms": ms, "runs": runs, "layout": "row-major", "other_load": other}
    return best


def bench_elementwise(torch, s, min_time):
    F = torch.nn.functional
    aten = torch.ops.aten
    g = torch.Generator().manual_seed(0)
    rows, n, op = s["rows"], s["inFeatures"], s["operation"]
    x = torch.randn(rows, n, generator=g) * 2
    w, b = torch.randn(n, generator=g), torch.randn(n, generator=g)
    gy = torch.randn(rows, n, generator=g)
    with torch.no_grad():
        if op == "gelu":
            forward = lambda: F.gelu(x)
            backward = lambda: aten.gelu_backward(gy, x)
        elif op == "softmax":
            y = torch.softmax(x, -1)
            forward = lambda: torch.softmax(x, -1)
            backward = lambda: aten._softmax_backward_data(gy, y, -1, torch.float32)
        elif op == "layer_norm":
            _, mean, rstd = aten.native_layer_norm(x, [n], w, b, 1e-6)
            forward = lambda: F.layer_norm(x, (n,), w, b, 1e-6)
            backward = lambda: aten.native_layer_norm_backward(gy, x, [n], mean, rstd, w, b, [True, False, False])
        else:
            sys.exit(f"bench_torch_kernels.py: unknown element-wise operation {op!r} in --shapes")
        best = {}
        for direction, fn in (("forward", forward), ("backward-data", backward)):
            ms, runs, other = measure(fn, min_time)
            best[direction] = {"ms": ms, "runs": runs, "layout": "row-major", "other_load": other}
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--shapes", required=True, help="JSON list of shapes (see the module docstring)")
    parser.add_argument("--min-time", type=float, default=0.5)
    args = parser.parse_args()
    # OpenBLAS reads this when torch loads it; a caller that forgot it would get a pool of the wrong size.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    results = []
    for s in json.loads(args.shapes):
        if s["kind"] == "conv":
            best = bench_conv(torch, s, args.min_time)
        elif s["kind"] == "linear":
            best = bench_linear(torch, s, args.min_time)
        elif s["kind"] == "elementwise":
            best = bench_elementwise(torch, s, args.min_time)
        else:
            sys.exit(f"bench_torch_kernels.py: unknown shape kind {s['kind']!r} in --shapes")
        for direction, r in best.items():
            results.append({"key": s["key"], "direction": direction, **r})
    json.dump({"torch": torch.__version__, "threads": args.threads,
               "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"), "results": results}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
