"""Parity fixture for the `pysaliency` gaze convention: NSS and AUC-Judd computed by pysaliency itself.

Run with a Python that has pysaliency (`pip install pysaliency`) and the OSIE data:

    python3 tools/make_pysaliency_fixtures.py ../shared/data/osie

Real OSIE fixations (all observers, repeats kept) of a few images, scaled by 1/10 to an 80x60 grid so the
fixture stays small, and seeded smooth maps on that grid. pysaliency scores each map through its own model
API (`SaliencyMapModel.NSS`, `SaliencyMapModel.AUC_Judd(jitter=False)`; its jitter draws from NumPy's
generator, which the Swift code does not reproduce). Writes
Tests/FovExMetricsTests/Fixtures/pysaliency_osie.safetensors: per image k, `osie{k}_map` [60, 80],
`osie{k}_fixations` [F, 2] (x, y, float, on the 80x60 grid), `osie{k}_nss`, `osie{k}_auc`.
"""
import csv
import os
import sys

import types

import numpy as np

try:
    import torch  # noqa: F401
except ImportError:
    # pysaliency's DeepGaze wrapper imports torch when the package loads and uses it only inside its own
    # functions; the metrics used here need none of it, so a placeholder module lets pysaliency load.
    sys.modules["torch"] = types.ModuleType("torch")
if not hasattr(np, "trapz"):
    np.trapz = np.trapezoid  # NumPy 2.4 removed the old name pysaliency still calls; same function
import pysaliency
from pysaliency.saliency_map_models import SaliencyMapModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_io  # noqa: E402

IMAGES = ["1001.jpg", "1002.jpg", "1003.jpg", "1004.jpg"]
H, W, SCALE = 60, 80, 10.0
OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "FovExMetricsTests",
                                    "Fixtures", "pysaliency_osie.safetensors"))


class FixedMap(SaliencyMapModel):
    def __init__(self, saliency):
        super().__init__(caching=False)
        self.saliency = saliency

    def _saliency_map(self, stimulus):
        return self.saliency


def smooth_map(rng):
    """A sum of a few Gaussian bumps plus a little noise, with ties from rounding to 1/64."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    m = np.zeros((H, W))
    for _ in range(4):
        cx, cy, s = rng.uniform(0, W), rng.uniform(0, H), rng.uniform(4, 15)
        m += rng.uniform(0.3, 1) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
    m += 0.05 * rng.random((H, W))
    return np.round(m * 64).astype(np.float32) / 64


def main(root):
    fixations = {name: [] for name in IMAGES}
    with open(os.path.join(root, "fixations.csv")) as f:
        for row in csv.DictReader(f):
            if row["image"] in fixations:
                fixations[row["image"]].append((float(row["x"]) / SCALE, float(row["y"]) / SCALE))
    rng = np.random.default_rng(11)
    tensors = {}
    for k, name in enumerate(IMAGES):
        points = np.array([p for p in fixations[name] if 0 <= p[0] < W and 0 <= p[1] < H], dtype=np.float32)
        saliency = smooth_map(rng)
        stimuli = pysaliency.Stimuli([np.zeros((H, W, 3), dtype=np.uint8)])
        fix = pysaliency.Fixations.create_without_history(points[:, 0].astype(np.float64), points[:, 1].astype(np.float64),
                                                         np.zeros(len(points), dtype=int))
        model = FixedMap(saliency.astype(np.float64))
        tensors[f"osie{k}_map"] = saliency
        tensors[f"osie{k}_fixations"] = points
        tensors[f"osie{k}_nss"] = np.array([model.NSS(stimuli, fix)], dtype=np.float32)
        tensors[f"osie{k}_auc"] = np.array([model.AUC_Judd(stimuli, fix, jitter=False)], dtype=np.float32)
        print(name, len(points), "fixations", "nss", tensors[f"osie{k}_nss"][0], "auc", tensors[f"osie{k}_auc"][0])
    fixture_io.write_safetensors(OUT, tensors, metadata={"pysaliency": pysaliency.__version__ if hasattr(pysaliency, "__version__") else "unknown",
                                                         "images": ",".join(IMAGES), "scale": str(SCALE)})
    print("wrote", OUT)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join("..", "shared", "data", "osie"))
