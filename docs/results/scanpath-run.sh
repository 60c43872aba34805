#!/usr/bin/env bash
# The commands that produced docs/results/scanpath.md and docs/results/scanpath/: FovEx's scanpaths
# (paper and refined variants), the saliency-peak and random baselines and the human leave-one-out
# ceiling against every OSIE observer's scanpath, with EfficientNet-Lite0's real weights.
#
# Run from the repository root after `make demo` (builds fovex, fetches the weights). Data: ../shared/data
# (override with DATA=...). One thread, niced: about 20 s per image on this shared 2-core machine.
# Rerunning resumes where a run stopped. The frames need chromium (apt-get install chromium).
set -euo pipefail
DATA=${DATA:-../shared/data}
FOVEX=${FOVEX:-.build/release/fovex}

"$FOVEX" models fetch efficientnet-lite0
FOVEX_THREADS=1 nice -n 10 "$FOVEX" evaluate --model efficientnet-lite0 --methods all \
    --data "gaze:$DATA/osie" --metrics scanpath --limit 50 --seed 42 --out runs/osie-scanpath
"$FOVEX" report runs/osie-scanpath --out runs/osie-scanpath-report --animations 4

mkdir -p docs/results/scanpath
cp runs/osie-scanpath-report/report.md runs/osie-scanpath-report/report.csv \
   runs/osie-scanpath-report/scanpath.svg docs/results/scanpath/
# Frames of one animated pair (FovEx and its best-matching observer) at three moments, in headless Chromium.
IMAGE=${IMAGE:-1041}
for svg in runs/osie-scanpath-report/animations/"$IMAGE".*.svg; do
    tools/screenshot_scanpath.sh "$svg" "docs/results/scanpath/$(basename "$svg" .svg)" 240 "5% 50% 95%"
done
