#!/usr/bin/env python3
"""Writes Tests/FovExMetricsTests/Fixtures/scanpath_reference.json: scanpath-metric values computed by
the metrics' own source code on seeded random scanpaths, for the Swift parity tests.

- string edit distance (grid 2, 4 and 5) and scaled time-delay embedding: FixaTons'
  `_visual_attention_metrics.py` (Zanca et al.), imported from a checkout of the GitHub repository
  dariozanca/FixaTons (commit b67242cd used here) given as the first argument (its module needs nltk, matplotlib, pandas and
  multimatch-gaze to import);
- ScanMatch: FixaTons' `_scanMatch.py` (GazeParser's port of Cristino et al., 2010), 14x8 regions,
  spatial (TempBin 0) and temporal (TempBin 50 ms);
- MultiMatch: PyPI multimatch-gaze 0.1.3, `docomparison` with its defaults (no grouping);
- DTW: PyPI dtw-python, Euclidean local distance, step pattern symmetric1.

Cases cover equal and different lengths (1 to 16 fixations), points on and outside the image and
identical scanpaths. Run in a virtual environment:
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install numpy pandas nltk matplotlib \
        multimatch-gaze==0.1.3 dtw-python
    /tmp/venv/bin/python tools/make_scanpath_fixtures.py PATH/TO/FixaTons
Deterministic: the seed is fixed."""
import contextlib
import io
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(sys.argv[1], "FixaTons"))
import _visual_attention_metrics as fixatons  # noqa: E402
from _scanMatch import ScanMatch  # noqa: E402
import multimatch_gaze  # noqa: E402
from dtw import dtw, symmetric1  # noqa: E402

rng = np.random.default_rng(15)
W, H = 800, 600


def random_path(n, outside=False):
    xs = rng.uniform(-40 if outside else 0, W + 40 if outside else W - 1, n)
    ys = rng.uniform(-40 if outside else 0, H + 40 if outside else H - 1, n)
    ds = rng.integers(80, 700, n).astype(float)
    return np.stack([xs, ys, ds], 1)


def finite(x):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


pairs = []
for na, nb in [(1, 1), (2, 5), (3, 3), (4, 9), (10, 10), (10, 14), (16, 6), (7, 7), (12, 3), (5, 11)]:
    pairs.append((random_path(na), random_path(nb)))
pairs.append((random_path(8, outside=True), random_path(9, outside=True)))
same = random_path(9)
pairs.append((same, same.copy()))

cases = []
for a, b in pairs:
    case = {"a": a.tolist(), "b": b.tolist(), "width": W, "height": H}
    for grid in (2, 4, 5):
        case[f"sed_{grid}"] = fixatons.string_edit_distance(a[:, :2].copy(), b[:, :2].copy(), W, H, grid)[0]
    with contextlib.redirect_stdout(io.StringIO()):  # the source prints every k's similarity
        # FixaTons' argument order: (human, simulated); `a` is the scanpath being judged.
        case["tde"] = fixatons.scaled_time_delay_embedding_distance(
            [p.copy() for p in b[:, :2]], [p.copy() for p in a[:, :2]], np.zeros((H, W, 3)))
    for temporal in (0, 50):
        sm = ScanMatch(Xres=W, Yres=H, Xbin=14, Ybin=8, TempBin=temporal)
        data_a, data_b = (a.copy(), b.copy()) if temporal else (a[:, :2].copy(), b[:, :2].copy())
        seq_a, seq_b = sm.fixationToSequence(data_a).astype(int), sm.fixationToSequence(data_b).astype(int)
        case[f"scanmatch_{temporal}"] = float(sm.match(seq_a, seq_b)[0])
    rec = lambda p: np.rec.fromarrays([p[:, 0], p[:, 1], p[:, 2]], names="start_x,start_y,duration")
    mm = multimatch_gaze.docomparison(rec(a), rec(b), screensize=[W, H])
    case["multimatch"] = [finite(v) for v in mm]
    case["dtw"] = float(dtw(a[:, :2], b[:, :2], dist_method="euclidean", step_pattern=symmetric1).distance)
    cases.append(case)

# Edit-distance strings that exercise transpositions across gaps (NLTK's unrestricted form).
strings = [("ab", "ba"), ("abc", "ca"), ("abcdef", "badcfe"), ("kitten", "sitting"), ("acbd", "abdc"), ("", "abc"),
           ("abcab", "bacba")]
from nltk.metrics import edit_distance  # noqa: E402
edits = [{"s1": s1, "s2": s2, "distance": edit_distance(s1, s2, transpositions=True)} for s1, s2 in strings]

path = os.path.join(os.path.dirname(__file__), "..", "Tests", "FovExMetricsTests", "Fixtures", "scanpath_reference.json")
with open(path, "w") as f:
    json.dump({"cases": cases, "edit_distances": edits}, f, indent=None, separators=(",", ":"))
    f.write("\n")
print(f"wrote {len(cases)} cases to {os.path.normpath(path)}")
