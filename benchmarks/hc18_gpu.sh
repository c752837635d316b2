#!/usr/bin/env bash
# Issue 8's full-scale HC18 figure (configs/abdominal/hc18_mgcn_r.yaml) on the device machine.
# The HC18 import (runs/hc18, about 101 MB of PNGs) is larger than one device call carries
# (64 MiB), so it travels in two halves, in two calls made back to back (a machine stays warm
# for about 30 s after a call, and keeps the ignored folders an earlier call brought):
#   here, once:  sonomtl data import hc18 --src ../shared/data/hc18 --out runs/hc18
#                bash benchmarks/hc18_gpu.sh split      # -> .hc18a, .hc18b (added to the git
#                                                       #    exclude file; ~50 MB each)
#                plus the wheels named in benchmarks/gpu_checks.sh, in .whl
#   call 1:      command "bash benchmarks/hc18_gpu.sh receive", carry [".hc18a"]
#   call 2, at once: command "bash benchmarks/hc18_gpu.sh train", carry [".hc18b", ".whl"],
#                timeout_s as the lease allows (EPOCHS=N before bash to shorten the run)
# train writes results.json, tables.md, metrics.csv and the log to $OUT.
set -uo pipefail

OUT=${OUT:-runs/hc18-gpu-out}
EPOCHS=${EPOCHS:-60}
WORKERS=${WORKERS:-12}
LIMIT_S=${LIMIT_S:-540}
# shellcheck source=benchmarks/device_env.sh
source "$(dirname "$0")/device_env.sh"

case "${1:-}" in
split)
    [ -f runs/hc18/manifest.csv ] || { echo "import HC18 into runs/hc18 first" >&2; exit 2; }
    grep -qx '/.hc18a/' .git/info/exclude 2>/dev/null || printf '/.hc18a/\n/.hc18b/\n' \
        >> .git/info/exclude
    rm -rf .hc18a .hc18b && mkdir -p .hc18a/images .hc18b/images
    cp runs/hc18/manifest.csv runs/hc18/dataset.yaml .hc18a/
    mapfile -t images < <(ls runs/hc18/images)
    half=$(( ${#images[@]} / 2 ))
    for i in "${!images[@]}"; do
        part=.hc18a; [ "$i" -ge "$half" ] && part=.hc18b
        cp "runs/hc18/images/${images[$i]}" "$part/images/"
    done
    du -sh .hc18a .hc18b
    ;;
receive)
    nvidia-smi --query-gpu=name,memory.total --format=csv || true
    ls .hc18a/images | wc -l
    ;;
train)
    install_wheels
    mkdir -p "$OUT" runs/hc18/images
    cp .hc18a/manifest.csv .hc18a/dataset.yaml runs/hc18/
    cp .hc18a/images/* .hc18b/images/* runs/hc18/images/
    echo "images: $(ls runs/hc18/images | wc -l) (the import has 804)"
    start=$SECONDS
    timeout "$LIMIT_S" "$PYTHON" -m sonomtl experiment abdominal --data runs/hc18 \
        --out runs/hc18-full --scale paper --model MGCN_R=configs/abdominal/hc18_mgcn_r.yaml \
        --set "stages.landmarks.epochs=$EPOCHS" "data.num_workers=$WORKERS" \
        trainer.progress_bar=false 2>&1 | tee "$OUT/hc18_full.log"
    echo "exit status ${PIPESTATUS[0]} after $((SECONDS - start)) s"
    cp runs/hc18-full/results.json runs/hc18-full/tables.md "$OUT/" 2>/dev/null
    cp runs/hc18-full/MGCN_R/metrics.csv "$OUT/" 2>/dev/null
    ;;
*)
    echo "usage: bash benchmarks/hc18_gpu.sh split|receive|train" >&2
    exit 2
    ;;
esac
