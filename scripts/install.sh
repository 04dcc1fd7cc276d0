#!/usr/bin/env bash
# Create .venv/ in the checkout and install Hallmark into it.
#   scripts/install.sh       the service with what the four seed models need: a torch build that
#                            fits this machine, then the diffusers extra (HALLMARK_INSTALL_MODELS=none
#                            leaves both out: procedural and hosted plugins only)
#   scripts/install.sh dev   the same, always with diffusers, plus test and lint tools and the test
#                            plugin distribution (what scripts/test.sh needs)
#
# torch comes first, pinned, so that installing diffusers never makes pip choose a torch build:
# where `nvidia-smi` answers, the CUDA build; elsewhere the CPU build (on this project's machines
# `pip install torch==2.13.0` takes the CPU wheel from local disk; elsewhere set
# HALLMARK_TORCH_INDEX_URL to PyTorch's CPU index, since the default Linux wheel bundles GBs of
# CUDA libraries). A CPU-only torch found on a machine with a GPU is replaced.
#
# A run with nothing to do returns at once: what was installed, for which sources, is recorded in
# .venv/.hallmark-install (delete it to force a full run).
#
#   HALLMARK_INSTALL_MODELS   diffusers (default) or none
#   HALLMARK_TORCH_VERSION    torch release (default 2.13.0)
#   HALLMARK_TORCH_INDEX_URL  wheel index torch is installed from (default: pip's configuration)
#   HALLMARK_INSTALL_DRY_RUN  1: print the commands that would change .venv/ instead of running them
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-service}
case $MODE in service | dev) ;; *) echo "usage: scripts/install.sh [dev]" >&2; exit 2 ;; esac
MODELS=${HALLMARK_INSTALL_MODELS:-diffusers}
case $MODELS in diffusers | none) ;; *) echo "HALLMARK_INSTALL_MODELS must be 'diffusers' or 'none'" >&2; exit 2 ;; esac
[[ $MODE == dev ]] && MODELS=diffusers # the test suite runs the diffusers plugins on a tiny model
TORCH_VERSION=${HALLMARK_TORCH_VERSION:-2.13.0}
DRY=${HALLMARK_INSTALL_DRY_RUN:-}
PY=.venv/bin/python
STAMP=.venv/.hallmark-install
export PIP_DISABLE_PIP_VERSION_CHECK=1

run() { # run a command that changes .venv/, or only show it in a dry run
  if [[ -n $DRY ]]; then echo "+ $*"; else "$@"; fi
}

# What this run needs: core (Hallmark itself), diffusers (with torch), dev (tools, test plugin).
want=(core)
[[ $MODELS == diffusers ]] && want+=(diffusers)
[[ $MODE == dev ]] && want+=(dev)

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  BUILD=cuda
else
  BUILD=cpu
fi

torch_state() { # "none", or "cpu VERSION" / "cuda VERSION", read without importing torch (slow)
  if [[ ! -x $PY ]]; then echo none; return; fi
  $PY - <<'PY'
import importlib.util, pathlib, runpy
spec = importlib.util.find_spec("torch")
if spec is None or not spec.origin:
    print("none")
else:
    found = runpy.run_path(str(pathlib.Path(spec.origin).with_name("version.py")))
    print("cuda" if found.get("cuda") else "cpu", found.get("__version__", "?"))
PY
}

torch_fits() { # installed and, on a machine with a GPU, a CUDA build
  local kind
  kind=$(torch_state)
  kind=${kind%% *}
  [[ $kind != none && ! ($BUILD == cuda && $kind == cpu) ]]
}

sources_digest() { # what the installed packages were built from
  {
    cat pyproject.toml scripts/install.sh
    if [[ -d tests/plugins/dummy_dist ]]; then
      find tests/plugins/dummy_dist \( -name build -o -name '*.egg-info' \) -prune -o -type f \
        \( -name '*.py' -o -name '*.toml' \) -print | LC_ALL=C sort | xargs -r cat
    fi
  } | sha256sum | cut -d' ' -f1
}
DIGEST=$(sources_digest)

stamped=()
if [[ -f $STAMP ]] && [[ $(sed -n 's/^digest=//p' "$STAMP") == "$DIGEST" ]]; then
  read -r -a stamped <<<"$(sed -n 's/^components=//p' "$STAMP")"
fi
has() { local c; for c in "${stamped[@]}"; do [[ $c == "$1" ]] && return 0; done; return 1; }

up_to_date=yes
for c in "${want[@]}"; do has "$c" || up_to_date=no; done
if [[ $up_to_date == yes && $MODELS == diffusers ]] && ! torch_fits; then up_to_date=no; fi
if [[ $up_to_date == yes ]]; then
  echo "install: .venv/ is up to date (${stamped[*]}; torch for a $BUILD machine)"
  exit 0
fi

if [[ ! -x $PY ]]; then
  PYTHON_BIN=${PYTHON:-$(command -v python3.11 || command -v python3)}
  run "$PYTHON_BIN" -m venv .venv
  run $PY -m pip install -q --upgrade pip
fi

install_torch() {
  local state kind args=("torch==$TORCH_VERSION")
  [[ -n ${HALLMARK_TORCH_INDEX_URL:-} ]] && args+=(--index-url "$HALLMARK_TORCH_INDEX_URL")
  state=$(torch_state)
  kind=${state%% *}
  if [[ $kind != none && ! ($BUILD == cuda && $kind == cpu) ]]; then
    return # installed and fitting: keep it, whatever its version
  fi
  if [[ $kind == cpu ]]; then
    echo "install: torch ${state#* } is a CPU-only build, but this machine has an NVIDIA GPU" \
      "(nvidia-smi answers): replacing it with a CUDA build of torch $TORCH_VERSION" >&2
    run $PY -m pip uninstall -q -y torch
  else
    echo "install: torch $TORCH_VERSION, $BUILD build${HALLMARK_TORCH_INDEX_URL:+, from $HALLMARK_TORCH_INDEX_URL}"
  fi
  run $PY -m pip install -q "${args[@]}"
  [[ -n $DRY ]] && return
  kind=$(torch_state)
  kind=${kind%% *}
  if [[ $BUILD == cuda && $kind == cpu ]]; then
    echo "WARNING: pip installed a CPU-only torch on a machine with an NVIDIA GPU: set" \
      "HALLMARK_TORCH_INDEX_URL to a CUDA wheel index (docs/models.md) and run this again." >&2
  elif [[ $BUILD == cpu && $kind == cuda ]]; then
    echo "note: this torch is a CUDA build (large); it runs on the CPU here. For the small CPU" \
      "build set HALLMARK_TORCH_INDEX_URL to PyTorch's CPU index (docs/models.md)." >&2
  fi
}

if [[ $MODELS == diffusers ]]; then
  install_torch
fi
extras=()
[[ $MODELS == diffusers ]] && extras+=(diffusers)
[[ $MODE == dev ]] && extras+=(dev)
target=.
if ((${#extras[@]})); then target=".[$(IFS=,; echo "${extras[*]}")]"; fi
run $PY -m pip install -q -e "$target"
if [[ $MODE == dev ]]; then
  # The test plugin is a distribution of its own, installed (not editable) so that the
  # registry finds it through its real entry point.
  run $PY -m pip install -q --force-reinstall --no-deps ./tests/plugins/dummy_dist
fi

if [[ -z $DRY ]]; then
  # Sources unchanged since the last run: what that run installed is still there.
  all=("${stamped[@]}" "${want[@]}")
  printf 'digest=%s\ncomponents=%s\n' "$DIGEST" "$(printf '%s\n' "${all[@]}" | sort -u | xargs)" >"$STAMP"
fi
