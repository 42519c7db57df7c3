#!/usr/bin/env bash
# The prepared GPU check (benchmarks/gpu/bench.py): one call on a GPU machine, ~8 minutes on an H200,
# no downloads. Writes benchmarks/results/gpu-{serve,train,tests}.json and renders benchmarks/README.md.
#   bash benchmarks/gpu/run.sh                 # exits 2, saying why, when no CUDA GPU is visible
#   bash benchmarks/gpu/run.sh --cpu-smoke     # the same code paths on tiny shapes, on CPU
set -euo pipefail
cd "$(dirname "$0")/../.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python3}" benchmarks/gpu/bench.py "$@"
