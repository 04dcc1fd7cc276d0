#!/usr/bin/env bash
# Create .venv/ in the checkout and install Hallmark into it.
#   scripts/install.sh            the service (web, worker, procedural and hosted plugins)
#   scripts/install.sh dev        plus diffusers (CPU torch), test and lint tools, the test plugin
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [[ ! -x .venv/bin/python ]]; then
  "$PY" -m venv .venv
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
.venv/bin/python -m pip install -q --upgrade pip
if [[ "${1:-}" == "dev" ]]; then
  # torch first, pinned to the CPU build that lies on this machine's disk; a bare "torch"
  # requirement would pull a multi-GB CUDA build. GPU machines install their own build.
  if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    .venv/bin/python -m pip install -q "torch==${HALLMARK_TORCH_VERSION:-2.13.0}"
  fi
  .venv/bin/python -m pip install -q -e ".[diffusers,dev]"
  # The test plugin is a distribution of its own, installed (not editable) so that the
  # registry finds it through its real entry point.
  .venv/bin/python -m pip install -q --force-reinstall --no-deps ./tests/plugins/dummy_dist
else
  .venv/bin/python -m pip install -q -e .
fi
