#!/usr/bin/env python3
"""Writes Tests/FovExMetricsTests/Fixtures/sanity_similarity_reference.json: the similarities of the
model-randomisation sanity check computed by the libraries Quantus' MPRT calls, on seeded random maps,
for the Swift parity tests (MapSimilarity, SanitySimilarities):

- scipy.stats.spearmanr and scipy.stats.pearsonr on the flattened maps (ties included: some maps are
  quantised to a few levels);
- skimage.metrics.structural_similarity with its defaults and data_range = max - min over both maps
  (Quantus 0.5's `ssim`);
- skimage.feature.hog with its defaults (9 orientations, 8x8 cells, 3x3 blocks, L2-Hys), the Pearson
  correlation of the two descriptors, and one whole descriptor;
- the pipeline of SanitySimilarities: each map divided by its largest absolute value (Quantus'
  `normalise_by_max`), Spearman of the signed maps, and Spearman, SSIM and HOG correlation of their
  absolute values.

Needs numpy, scipy and scikit-image (`pip install scipy scikit-image`). Deterministic: the seed is fixed."""
import json
import os

import numpy as np
import scipy
import scipy.stats
import skimage
from skimage.feature import hog
from skimage.metrics import structural_similarity

rng = np.random.default_rng(2018)


def smooth(a, passes):
    for _ in range(passes):
        a = (a + np.roll(a, 1, 0) + np.roll(a, -1, 0) + np.roll(a, 1, 1) + np.roll(a, -1, 1)) / 5
    return a


def ssim(a, b):
    rng_ = float(max(a.max(), b.max()) - min(a.min(), b.min()))
    return float(structural_similarity(a, b, data_range=rng_))


def hog_r(a, b):
    return float(scipy.stats.pearsonr(hog(a), hog(b))[0])


cases = []
for k, (h, w) in enumerate([(24, 24), (24, 33), (27, 25), (32, 32), (26, 30), (24, 41)]):
    a = smooth(rng.normal(size=(h, w)), 1 + k % 3)
    b = 0.6 * a + 0.4 * smooth(rng.normal(size=(h, w)), 2)
    if k % 2 == 1:  # quantised: many ties
        a = np.round(a * 3) / 3
        b = np.round(b * 3) / 3
    if k == 4:  # non-negative maps, like CAMs
        a, b = np.maximum(a, 0), np.maximum(b, 0)
    # Stored with 5 decimals: the reference values are computed from exactly the stored maps.
    a, b = np.round(a, 5), np.round(b, 5)
    na, nb = a / np.max(np.abs(a)), b / np.max(np.abs(b))
    aa, ab = np.abs(na), np.abs(nb)
    cases.append({
        "width": w, "height": h, "a": a.ravel().tolist(), "b": b.ravel().tolist(),
        "spearman": float(scipy.stats.spearmanr(a.ravel(), b.ravel())[0]),
        "pearson": float(scipy.stats.pearsonr(a.ravel(), b.ravel())[0]),
        "ssim": ssim(a, b),
        "hog_pearson": hog_r(a, b),
        "pipeline": {
            "spearman": float(scipy.stats.spearmanr(na.ravel(), nb.ravel())[0]),
            "spearman_abs": float(scipy.stats.spearmanr(aa.ravel(), ab.ravel())[0]),
            "ssim": ssim(aa, ab),
            "hog": hog_r(aa, ab),
        },
    })
cases[1]["hog_descriptor"] = hog(np.array(cases[1]["a"]).reshape(cases[1]["height"], cases[1]["width"])).tolist()

out = os.path.join(os.path.dirname(__file__), "..", "Tests", "FovExMetricsTests", "Fixtures", "sanity_similarity_reference.json")
with open(out, "w") as f:
    json.dump({"scipy": scipy.__version__, "skimage": skimage.__version__, "cases": cases}, f)
print("wrote", out)
