#!/usr/bin/env bash
# The commands of docs/results/gaze-report.md (OSIE, agreement with human gaze; re-run 2026-12-03) and of
# docs/results/report.md (ImageNet, the paper's protocol; re-run 2026-12-04), both with these commands.
#
# Run from the repository root, after `make demo` (which builds fovex and fetches the weights). Data:
# ../shared/data (override with DATA=...). Each protocol runs as two shards, one thread each, side by
# side: on this 2-core machine that is about a quarter faster than one two-threaded process, and it
# exercises the shard merge. Rerunning resumes where a run stopped. Every option is its default: the paper's
# metric conventions, RISE at 4000 masks, MP in `reference` mode, RandomCAM fresh per image; `uniform` and
# `centre` are the calibration rows (maps that ignore the image). RISE is most of the time (77 s of an
# image's 107 s of explaining on one core in the 2026-12-04 run), so the ImageNet protocol takes about 2 hours for 100 images here (each shard 50).
set -euo pipefail
DATA=${DATA:-../shared/data}
FOVEX=${FOVEX:-.build/release/fovex}
METHODS=gradcam,gradcam++,randomcam,rise,mp,fovex,uniform,centre
PROTOCOL=${PROTOCOL:-both}   # gaze, imagenet or both

shard() {  # shard index
    if [ "$PROTOCOL" != imagenet ]; then
        FOVEX_THREADS=1 "$FOVEX" evaluate --model efficientnet-lite0 --methods "$METHODS" \
            --data "gaze:$DATA/osie" --metrics gaze --limit 50 --seed 42 \
            --shard "$1/2" --out "runs/osie-gaze-$1"
    fi
    if [ "$PROTOCOL" != gaze ]; then
        FOVEX_THREADS=1 "$FOVEX" evaluate --model efficientnet-lite0 --methods "$METHODS" \
            --data "imagenet:$DATA/imagenet-val-1300" --metrics paper --limit 100 --correct-only --seed 42 \
            --shard "$1/2" --out "runs/imagenet-lite0-$1"
    fi
}

mkdir -p runs
shard 0 > runs/shard-0.log 2>&1 &
shard 1 > runs/shard-1.log 2>&1 &
wait

if [ "$PROTOCOL" != gaze ]; then
    "$FOVEX" report runs/imagenet-lite0-0 runs/imagenet-lite0-1 --out runs/imagenet-report
    cp runs/imagenet-report/report.md docs/results/report.md
    cp runs/imagenet-report/paired.csv docs/results/paired.csv
fi
if [ "$PROTOCOL" != imagenet ]; then
    "$FOVEX" report runs/osie-gaze-0 runs/osie-gaze-1 --out runs/osie-report
    cp runs/osie-report/report.md docs/results/gaze-report.md
fi
