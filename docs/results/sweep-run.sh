#!/usr/bin/env bash
# The commands that produced docs/results/sweeps/: FovEx's number of fixations varied one at a time (every other
# option at its default) on EfficientNet-Lite0 with its real ImageNet weights, one thread.
# Run from the repository root after `make demo`. Data: ../shared/data (override with DATA=...).
# Each value is its own run directory (OUT/NAME=VALUE), so the values of one sweep can also run as separate
# processes side by side (2026-12-04: fixations=15,5,1 and fixations=10,3, one thread each); rerunning the whole
# sweep then resumes every finished value and writes the report over all of them.
set -euo pipefail
DATA=${DATA:-../shared/data}
FOVEX=${FOVEX:-.build/release/fovex}
FOVEX_THREADS=1 "$FOVEX" evaluate --model efficientnet-lite0 --methods fovex \
    --data "imagenet:$DATA/imagenet-val-1300" --metrics paper --limit 100 --correct-only --seed 42 \
    --sweep fixations=1,3,5,10,15 --out runs/sweep-imagenet-fixations
FOVEX_THREADS=1 "$FOVEX" evaluate --model efficientnet-lite0 --methods fovex \
    --data "gaze:$DATA/osie" --metrics gaze --limit 50 --seed 42 \
    --sweep fixations=1,3,5,10,15 --out runs/sweep-osie-fixations
mkdir -p docs/results/sweeps/imagenet-fixations docs/results/sweeps/osie-fixations
cp runs/sweep-imagenet-fixations/sweep/* docs/results/sweeps/imagenet-fixations/
cp runs/sweep-osie-fixations/sweep/* docs/results/sweeps/osie-fixations/

# 2026-12-03: the other FovEx options on the 50 OSIE images (three values each, the default in the middle; --sigma
# sets the fovea's σ_f and the map's σ_ε together, as the paper does). Two of these ran side by side, niced, one
# thread each, about 4 minutes per value on a free core.
for s in "sigma=0.1,0.15,0.25" "forgetting=0,0.1,0.3" "variant=paper,refined" "steps=10,20,40" "step-size=0.05,0.1,0.2"; do
    name=${s%%=*}
    FOVEX_THREADS=1 "$FOVEX" evaluate --model efficientnet-lite0 --methods fovex \
        --data "gaze:$DATA/osie" --metrics gaze --limit 50 --seed 42 --sweep "$s" --out "runs/sweep-osie-$name"
    mkdir -p "docs/results/sweeps/osie-$name"
    cp "runs/sweep-osie-$name"/sweep/* "docs/results/sweeps/osie-$name/"
done
