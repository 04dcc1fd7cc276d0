#!/usr/bin/env bash
# Install everything the tests need, then run lint, types and the whole test suite.
# Extra arguments go to pytest (scripts/test.sh -m integration).
# Uses DATABASE_URL and CELERY_BROKER_URL when set (CI: PostgreSQL and Redis), else SQLite and
# the filesystem broker.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh dev

# System tools the tests drive: headless Chromium (UI tests) and exiftool (a third-party
# reader of the XMP Hallmark writes). Installed from Debian's packages when missing.
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v exiftool >/dev/null || need+=(libimage-exiftool-perl)
if ((${#need[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "missing system packages: ${need[*]} (install them with your package manager)" >&2
    exit 1
  fi
fi

PY=.venv/bin/python
if [[ -z "${HALLMARK_SKIP_LINT:-}" ]]; then
  echo "== ruff"; .venv/bin/ruff check .
  echo "== mypy"; .venv/bin/mypy .
  echo "== import contracts"; .venv/bin/lint-imports --no-cache
  echo "== vulture (dead code; settings in pyproject.toml)"; .venv/bin/vulture
  echo "== migrations"; $PY manage.py makemigrations --check --dry-run >/dev/null
fi
# The suite runs in parallel processes (pytest-xdist), one per core up to four: many tests
# wait on worker processes, servers and a browser, so two processes on two cores took the run
# from 12 to 6 minutes. Each process has its own var dir, test database and, on Redis, database
# (the broker URL's, then the ones below it; other brokers are refused for parallel runs).
# HALLMARK_TEST_PROCESSES=1 runs the tests one after another.
cores=$(nproc 2>/dev/null || echo 1)
processes=${HALLMARK_TEST_PROCESSES:-$((cores > 4 ? 4 : cores))}
if ! [[ $processes =~ ^[0-9]+$ ]] || ((processes < 1)); then
  echo "HALLMARK_TEST_PROCESSES must be a whole number of processes, 1 or more" >&2
  exit 2
fi
parallel=()
# --dist load hands tests out in collection order, so each process still runs the tests that
# flush the database (transactional ones, which pytest-django sorts after those that roll back)
# after the others, as a serial run does.
((processes > 1)) && parallel=(-n "$processes" --dist load)
echo "== pytest (database: ${DATABASE_URL:-sqlite}, broker: ${CELERY_BROKER_URL:-filesystem}, processes: $processes)"
exec $PY -m pytest "${parallel[@]}" "$@"
