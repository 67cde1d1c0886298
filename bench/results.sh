#!/usr/bin/env bash
# Reproduce docs/RESULTS.md:
#  1. the five-method comparison (ml.compare; generates the synthetic benchmark if missing),
#  2. issue 3's U-Net and bag-of-colours runs with their own sizes.
#   bench/results.sh [WORK_DIR]      (default /tmp/hrmars-results; ~40 min on 2 CPU cores)
set -euo pipefail
cd "$(dirname "$0")/.."
W="${1:-/tmp/hrmars-results}"
PY=.venv/bin/python
[ -d "$W/data" ] || $PY -m ml.synthetic "$W/data" --layout sen12ms --scenes 12 --grid 3 --seed 0
$PY -m ml.compare --data "$W/data" --out "$W/compare"
$PY -m ml.train unet --dataset synthetic --data "$W/data" --out "$W/unet" --epochs 8 --seed 0
$PY -m ml.train unet --dataset synthetic --data "$W/data" --out "$W/unet-coarse" --labels coarse --epochs 8 --seed 0
$PY -m ml.train bagofcolours --dataset synthetic --data "$W/data" --out "$W/bagofcolours" --seed 0
$PY -m ml.evaluate "$W/unet" "$W/unet-coarse" "$W/bagofcolours" --dataset synthetic --data "$W/data" --out "$W/evaluation"
