#!/usr/bin/env bash
# A Slurm array job: each task evaluates one shard of the image list into its own run directory; a
# dependent job merges the shards with `fovex report`.
#
#   sbatch examples/slurm/evaluate-array.sh            # submits the array and the report job
#
# Settings come from the environment (sbatch passes it on); the defaults reproduce the paper's
# ImageNet protocol with EfficientNet-Lite0:
#   SHARDS   number of array tasks / shards (16)
#   DATA     dataset as KIND:DIR (imagenet:../shared/data/imagenet-val-1300)
#   METHODS  explainers (gradcam,gradcam++,randomcam,rise,mp,fovex)
#   METRICS  paper | gaze | a comma-separated list (paper)
#   MODEL    model name (efficientnet-lite0); WEIGHTS a local weights file, if any
#   LIMIT    images (1000); SEED (42); EXTRA further `fovex evaluate` options, e.g. "--correct-only"
#   RUNS     where the shard directories go (runs/slurm); FOVEX the binary (.build/release/fovex)
#
# Every shard selects the same seeded subset and keeps the images whose position i satisfies
# i mod SHARDS = task id, so the shards partition the subset and their merge equals one unsharded run.
# A task that is preempted or times out resumes where it stopped when resubmitted (`--requeue` below):
# rows are appended atomically, finished (image, method) pairs are skipped.
#SBATCH --job-name=fovex-eval
#SBATCH --array=0-15
#SBATCH --cpus-per-task=2
#SBATCH --mem=8G
#SBATCH --time=04:00:00
#SBATCH --requeue
#SBATCH --output=slurm-%x-%A_%a.out
set -euo pipefail

SHARDS=${SHARDS:-16}
DATA=${DATA:-imagenet:../shared/data/imagenet-val-1300}
METHODS=${METHODS:-gradcam,gradcam++,randomcam,rise,mp,fovex}
METRICS=${METRICS:-paper}
MODEL=${MODEL:-efficientnet-lite0}
LIMIT=${LIMIT:-1000}
SEED=${SEED:-42}
EXTRA=${EXTRA:-}
RUNS=${RUNS:-runs/slurm}
FOVEX=${FOVEX:-.build/release/fovex}

if [[ -z "${SLURM_ARRAY_TASK_ID:-}" ]]; then
    # Submitted by hand: launch the array (sized to SHARDS) and a report job that waits for all of it.
    array=$(sbatch --parsable --array="0-$((SHARDS - 1))" "$0")
    sbatch --dependency="afterok:${array}" --job-name=fovex-report --cpus-per-task=1 --time=00:30:00 \
        --output="slurm-fovex-report-%j.out" \
        --wrap="$FOVEX report $(for i in $(seq 0 $((SHARDS - 1))); do printf '%s ' "$RUNS/shard-$i"; done)--out $RUNS/report"
    echo "submitted array job $array ($SHARDS shards) and its report job; the report will be in $RUNS/report"
    exit 0
fi

weights=()
[[ -n "${WEIGHTS:-}" ]] && weights=(--weights "$WEIGHTS")
export FOVEX_THREADS=${SLURM_CPUS_PER_TASK:-2}
# shellcheck disable=SC2086  # EXTRA holds several options on purpose
exec "$FOVEX" evaluate --model "$MODEL" "${weights[@]}" --methods "$METHODS" --data "$DATA" --metrics "$METRICS" \
    --limit "$LIMIT" --seed "$SEED" --shard "$SLURM_ARRAY_TASK_ID/$SHARDS" --out "$RUNS/shard-$SLURM_ARRAY_TASK_ID" $EXTRA
