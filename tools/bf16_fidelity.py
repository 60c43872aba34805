#!/usr/bin/env python3
"""bf16 against fp32 on real images: FovEx scanpaths and Grad-CAM maps of EfficientNet-Lite0 (real weights).

Runs the built `fovex explain --method fovex,gradcam` on the first --count images of imagenet-val-1300 (labels.csv
order) once with --precision fp32 and once with bf16 (or --precision bf16-backward), and compares the outputs:
- FovEx: the share of bf16 fixations within --radius of the fp32 fixation of the same index, in image-fraction
  units ([0, 1] across the image; FovEx's own units span -1..1, so 0.05 here is 0.1 there), and the share within
  --radius of any fp32 fixation of the same image; the share of images whose scanpaths are identical, and of
  images explaining the same class.
- FovEx and Grad-CAM: the max and mean absolute difference of the [0, 1] maps (16-bit PNGs), over all images.
Prints a Markdown report (docs/results/bf16.md holds one). Usage:
    tools/bf16_fidelity.py --fovex .build/release/fovex --data ../shared/data/imagenet-val-1300 --count 40
With --compare FP32_DIR BF16_DIR it runs nothing and compares two existing `explain` output directories (for
instance the two precisions run at the same time as separate commands), over the images both hold.
"""
import argparse, json, math, os, subprocess, sys, tempfile, time

import numpy as np
from PIL import Image


def explain(fovex, images, out, precision, batch):
    start = time.time()
    subprocess.run([fovex, "explain", images, "--model", "efficientnet-lite0", "--method", "fovex,gradcam",
                    "--batch", str(batch), "--precision", precision, "--out", out], check=True,
                   stdout=subprocess.DEVNULL)
    return time.time() - start


def record(directory, stem, method):
    with open(os.path.join(directory, f"{stem}.{method}.json")) as f:
        return json.load(f)


def map_values(directory, name):
    image = np.asarray(Image.open(os.path.join(directory, name)), dtype=np.float64)
    return image / 65535.0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fovex", default=".build/release/fovex")
    p.add_argument("--data", default="../shared/data/imagenet-val-1300")
    p.add_argument("--count", type=int, default=40)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--radius", type=float, default=0.05)
    p.add_argument("--precision", default="bf16", choices=["bf16", "bf16-backward"],
                   help="the precision compared with fp32")
    p.add_argument("--compare", nargs=2, metavar=("FP32_DIR", "BF16_DIR"),
                   help="compare two existing explain output directories instead of running")
    a = p.parse_args()
    with open(os.path.join(a.data, "labels.csv")) as f:
        names = [line.split(",")[0] for line in f.read().splitlines()[1:a.count + 1]]
    outs, seconds = {}, {}
    if a.compare:
        outs = {"fp32": a.compare[0], "bf16": a.compare[1]}
        names = [n for n in names if all(os.path.exists(os.path.join(d, os.path.splitext(n)[0] + ".gradcam.json"))
                                         and os.path.exists(os.path.join(d, os.path.splitext(n)[0] + ".fovex.json"))
                                         for d in outs.values())]
        if not names:
            sys.exit("no image has both methods' outputs in both directories")
    else:
        work = tempfile.mkdtemp(prefix="fovex-bf16-")
        images = os.path.join(work, "images")
        os.mkdir(images)
        for n in names:
            os.symlink(os.path.abspath(os.path.join(a.data, "images", n)), os.path.join(images, n))
        for precision, key in [("fp32", "fp32"), (a.precision, "bf16")]:
            outs[key] = os.path.join(work, precision)
            seconds[key] = explain(a.fovex, images, outs[key], precision, a.batch)

    same_index = anywhere = total = same_class = identical = 0
    # Agreement at each fixation index: each fixation's search starts from the memory of the earlier ones, yet
    # searches that parted ways often meet again on the image's strongest spots, so the share is not monotone.
    by_index = {}
    fovex_max, fovex_sum = 0.0, 0.0
    cam_max, cam_sum, cam_count = 0.0, 0.0, 0
    for n in names:
        stem = os.path.splitext(n)[0]
        r32, r16 = record(outs["fp32"], stem, "fovex"), record(outs["bf16"], stem, "fovex")
        same_class += r32["classIndex"] == r16["classIndex"]
        # Image-fraction units: FovEx's -1..1 span is 2 wide.
        p32 = [(q["row"] / 2, q["col"] / 2) for q in r32["scanpath"]]
        p16 = [(q["row"] / 2, q["col"] / 2) for q in r16["scanpath"]]
        identical += len(p16) == len(p32) and all(math.dist(a, b) <= 1e-6 for a, b in zip(p16, p32))
        for i, (r, c) in enumerate(p16):
            total += 1
            close = i < len(p32) and math.dist((r, c), p32[i]) <= a.radius
            same_index += close
            hits, count = by_index.get(i, (0, 0))
            by_index[i] = (hits + close, count + 1)
            if any(math.dist((r, c), q) <= a.radius for q in p32):
                anywhere += 1
        d = np.abs(map_values(outs["fp32"], r32["map"]) - map_values(outs["bf16"], r16["map"]))
        fovex_max = max(fovex_max, float(d.max()))
        fovex_sum += float(d.mean())
        g32, g16 = record(outs["fp32"], stem, "gradcam"), record(outs["bf16"], stem, "gradcam")
        d = np.abs(map_values(outs["fp32"], g32["map"]) - map_values(outs["bf16"], g16["map"]))
        cam_max = max(cam_max, float(d.max()))
        cam_sum += float(d.sum())
        cam_count += d.size
    print(f"EfficientNet-Lite0 (real weights), {len(names)} images of imagenet-val-1300, FovEx and Grad-CAM at the "
          f"defaults, --batch {a.batch}; {a.precision} (\"bf16\" below) against fp32\n")
    print("| measure | value |\n|---|---|")
    print(f"| FovEx fixations within {a.radius} of the fp32 fixation of the same index | "
          f"{same_index}/{total} = {100 * same_index / total:.1f} % |")
    print(f"| FovEx fixations within {a.radius} of any fp32 fixation of the image | "
          f"{anywhere}/{total} = {100 * anywhere / total:.1f} % |")
    for i in sorted(by_index):
        hits, count = by_index[i]
        print(f"| fixation {i + 1}: within {a.radius} of the fp32 fixation {i + 1} | {hits}/{count} = "
              f"{100 * hits / count:.0f} % |")
    print(f"| images whose scanpaths are identical (every fixation within 1e-6) | {identical}/{len(names)} |")
    print(f"| images whose explained (top-1) class is the same | {same_class}/{len(names)} |")
    print(f"| FovEx map max abs difference ([0, 1] maps) | {fovex_max:.4f} |")
    print(f"| FovEx map mean abs difference | {fovex_sum / len(names):.4f} |")
    print(f"| Grad-CAM max abs difference ([0, 1] maps) | {cam_max:.4f} |")
    print(f"| Grad-CAM mean abs difference | {cam_sum / cam_count:.5f} |")
    if seconds:
        print(f"| wall time fp32 / bf16 (explain, both methods, incl. start-up) | {seconds['fp32']:.0f} s / "
              f"{seconds['bf16']:.0f} s |")


if __name__ == "__main__":
    sys.exit(main())
