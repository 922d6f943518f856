#!/usr/bin/env bash
# The GPU figures of docs/benchmarks.md ("GPU") in one run of under 5 minutes on a CUDA machine.
#
#   bash benchmarks/gpu_check.sh             # on the GPU machine (python3 with torch + CUDA)
#   bash benchmarks/gpu_check.sh --dry-run   # every step on CPU in tiny sizes (or DEVICE=cpu)
#
# Needs nothing beyond the repository and python3 with torch, numpy, tqdm, onnx, onnxruntime,
# matplotlib, pytest; installs nothing and uses no network.  MNIST-1D is read from the cache:
# $EINNAS_CACHE_DIR, else .gpu_carry/cache in the repository root when present (copy the
# mnist1d-*.npz from `einnas.data.cache_dir()` there beforehand).  One JSON line per
# measurement on stdout (and in $OUT/gpu_check.jsonl when $OUT is set), a summary line last.
# Each step has its own time limit inside benchmarks/gpu_check.py (and the steps together 280 s);
# the whole run is capped at 295 s here (1300 s for the dry run on a slow CPU).
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
args=()
for a in "$@"; do args+=("$a"); done
if [ "${DEVICE:-}" = "cpu" ]; then args+=("--dry-run"); fi
cap=295
for a in "${args[@]}"; do [ "$a" = "--dry-run" ] && cap=1300; done
exec timeout -k 5 "$cap" "$PY" benchmarks/gpu_check.py "${args[@]}"
