#!/bin/sh
# The model-randomisation sanity check committed in docs/results/sanity/: EfficientNet-Lite0 with its
# trained weights, 6 correctly classified ImageNet validation images, 4 cascade steps (of 19 layers).
# Run from the repository root after `make` (or swift build -c release) and
# `.build/release/fovex models fetch efficientnet-lite0`; the data set is ../shared/data/imagenet-val-1300.
# Resumable: running it again continues an interrupted run. About 6 CPU-minutes at FOVEX_THREADS=1.
set -eu
RUN=${RUN:-runs/sanity-lite0}
FOVEX_THREADS=${FOVEX_THREADS:-1} .build/release/fovex sanity --model efficientnet-lite0 \
    --methods gradcam,gradcam++,randomcam,fovex,rise,uniform,centre --rise-masks 250 \
    --data imagenet:../shared/data/imagenet-val-1300 --limit 6 --correct-only --seed 42 \
    --depths 1,2,10,19 --gallery 2 --out "$RUN"
mkdir -p docs/results/sanity
cp "$RUN"/sanity.md "$RUN"/*.svg "$RUN"/similarities.csv docs/results/sanity/

# 2026-12-04: RISE alone at its default 4000 masks, to see whether its failure above comes from the few masks
# (13 min at FOVEX_THREADS=2).
RUN4000=${RUN4000:-runs/sanity-lite0-rise4000}
FOVEX_THREADS=${FOVEX_THREADS:-1} .build/release/fovex sanity --model efficientnet-lite0 \
    --methods rise --rise-masks 4000 \
    --data imagenet:../shared/data/imagenet-val-1300 --limit 6 --correct-only --seed 42 \
    --depths 1,2,10,19 --gallery 2 --out "$RUN4000"
mkdir -p docs/results/sanity/rise-4000
cp "$RUN4000"/sanity.md "$RUN4000"/*.svg "$RUN4000"/similarities.csv docs/results/sanity/rise-4000/
