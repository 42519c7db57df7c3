#!/usr/bin/env bash
# Set up a fresh machine: system tools for the sandbox and profilers, then this package (pinned).
# Idempotent: quick when everything is already there.
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

# torch is pinned exactly (a looser pin pulls a multi-GB CUDA build).
if ! $PY -c "import hydra_ray, torch, trl, ray, pytest, importlib.util as u; assert u.find_spec('bitsandbytes')" 2>/dev/null \
   || ! $PY -m pip show hydra-ray 2>/dev/null | grep -q "^Editable project location: $(pwd)$"; then
  $PY -m pip install -q -e ".[dev]"
fi

# DeepSpeed (the ZeRO presets; its tests run on the CPU accelerator) is an sdist whose setup.py imports
# torch, so it builds against the installed torch (no build isolation, no prebuilt ops: they JIT).
if ! $PY -c "import importlib.util as u; assert u.find_spec('deepspeed')" 2>/dev/null; then
  DS_BUILD_OPS=0 $PY -m pip install -q --no-build-isolation "deepspeed==0.19.8"
fi
