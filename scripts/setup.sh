#!/usr/bin/env bash
# Set up a fresh machine: system tools for the sandbox and profilers, then this package with the exact
# versions of constraints.txt (pyproject.toml states ranges). Idempotent: quick when everything is there.
# torch from the package index is the CUDA 13 build (multi-GB; NVIDIA driver >= 580). For a CPU-only
# machine point pip at PyTorch's CPU wheels: TORCH_INDEX=https://download.pytorch.org/whl/cpu make setup
# (README "Install"). Our development machines find a CPU wheel on disk, so it wins there without it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

need=()
command -v bwrap >/dev/null || need+=(bubblewrap)        # the sandbox
command -v valgrind >/dev/null || need+=(valgrind)        # deterministic instruction counts
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else SUDO=missing; fi
  if [ "$SUDO" = missing ]; then
    echo "setup: please install ${need[*]} (e.g. apt-get install -y ${need[*]}); continuing without" >&2
  else
    $SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi

PIP_INDEX=()
[ -n "${TORCH_INDEX:-}" ] && PIP_INDEX=(--extra-index-url "$TORCH_INDEX")
if ! $PY -c "import hydra_ray, torch, trl, ray, pytest, importlib.util as u; assert u.find_spec('bitsandbytes')" 2>/dev/null \
   || ! $PY -m pip show hydra-ray 2>/dev/null | grep -q "^Editable project location: $(pwd)$"; then
  $PY -m pip install -q "${PIP_INDEX[@]}" -c constraints.txt -e ".[dev]"
fi

# DeepSpeed (the ZeRO presets; its tests run on the CPU accelerator) is an sdist whose setup.py imports
# torch, so it builds against the installed torch (no build isolation, no prebuilt ops: they JIT).
if ! $PY -c "import importlib.util as u; assert u.find_spec('deepspeed')" 2>/dev/null; then
  DS_BUILD_OPS=0 $PY -m pip install -q --no-build-isolation -c constraints.txt "deepspeed==0.19.8"
fi
