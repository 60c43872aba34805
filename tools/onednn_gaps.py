#!/usr/bin/python3
"""Splits a pass of a model into time inside oneDNN primitives and time between them, from oneDNN's verbose log.

    ONEDNN_VERBOSE=1 ONEDNN_VERBOSE_TIMESTAMP=1 fovex bench models --models vit-b16 --batches 1 --repeats 5 \
        --no-torch --no-floor > log.txt 2>&1
    tools/onednn_gaps.py log.txt

Passes are cut at the reorder of the 1x3x224x224 input image into channels-last (the first primitive of every
pass of the built-in models at 224 px). Passes with the same number of primitives are grouped (the forward
passes, the forward + gradient passes, and the first of each, which also packs weights); for each group it
prints the median wall time from the first primitive's start to the last one's end, the median time inside
primitives, and the median time between them (element-wise work, pooling, normalisation, copies, bookkeeping).
`fovex bench models` reports the same split from its own clock ("oneDNN ms", "/ oneDNN"); this script shows it
per primitive when needed (the lines are kept in the log).
"""
import statistics
import sys


def passes(path):
    out, current = [], []
    with open(path) as f:
        for line in f:
            if not line.startswith("onednn_verbose,") or ",exec," not in line:
                continue
            fields = line.rstrip().split(",")
            start, duration = float(fields[1]), float(fields[-1])
            if "reorder" in line and "1x3x224x224" in line and current:
                out.append(current)
                current = []
            current.append((start, duration))
    if current:
        out.append(current)
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    groups = {}
    for p in passes(sys.argv[1]):
        wall = p[-1][0] + p[-1][1] - p[0][0]
        inside = sum(d for _, d in p)
        groups.setdefault(len(p), []).append((wall, inside, wall - inside))
    for count, rows in sorted(groups.items()):
        med = [statistics.median(r[i] for r in rows) for i in range(3)]
        print(f"{count:5d} primitives x{len(rows)}: wall {med[0]:7.1f} ms, in primitives {med[1]:7.1f} ms, "
              f"between {med[2]:6.1f} ms (min {min(r[2] for r in rows):.1f})")


if __name__ == "__main__":
    main()
