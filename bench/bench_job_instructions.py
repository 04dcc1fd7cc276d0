"""Instructions a job costs in the worker's own path, counted by callgrind: a figure that does
not move with the machine's load, for comparing two versions of the code on a noisy machine.

Run from the repository root (PostgreSQL required; the database must be a scratch one)::

    .venv/bin/python bench/bench_job_instructions.py \\
        --database postgres://postgres@127.0.0.1:5432/hallmark_bench --jobs 20

What it does: runs this file twice under ``valgrind --tool=callgrind``, once running ``--jobs``
procedural jobs (64x64, 1 step) through ``generation.runner.run()`` in process (claim,
generate, stamp, write, commit: the worker's path without Celery) and once running twice as
many, each after the same set-up and two warm-up jobs. The difference of the two totals, divided
by ``--jobs``, is the instructions one job costs in this process; start-up and set-up cancel
out. The database server's work is not counted (another process), nor is Celery's. Heartbeats
are switched off for both runs (a beat falls on a job or not depending on how long valgrind
makes it run). Migrations and the signer's keys are set up before either. Under valgrind everything runs about fifty times slower: a run takes minutes.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIELDS = {"prompt": "a lighthouse at dusk", "width": 64, "height": 64, "params": {"steps": 1}}


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True, help="DATABASE_URL of a scratch PostgreSQL database")
    parser.add_argument("--jobs", type=int, default=20, help="jobs in the shorter run (default 20)")
    parser.add_argument("--inner", type=int, help=argparse.SUPPRESS)  # jobs to run, under valgrind
    return parser.parse_args()


def _inner(jobs: int) -> None:
    """Set up, run two warm-up jobs, then ``jobs`` jobs (this is what valgrind counts)."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()

    from bench.procedural_setup import procedural_user
    from generation import runner, services

    user = procedural_user()
    for i in range(2 + jobs):
        job, _ = services.submit(acting_user=user, plugin_id="procedural", fields={**FIELDS, "seed": i})
        runner.run(str(job.pk))


def _instructions(jobs: int, env: dict[str, str], out: Path) -> int:
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--database",
            env["DATABASE_URL"],
            "--inner",
            str(jobs),
        ],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    totals = re.search(r"^(?:totals|summary): (\d+)", out.read_text(errors="replace"), re.MULTILINE)
    if totals is None:
        raise SystemExit(f"no totals in {out}")
    return int(totals.group(1))


def main() -> None:
    args = _args()
    if args.inner is not None:
        _inner(args.inner)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed")
    var = Path(tempfile.mkdtemp(prefix="hallmark-bench-"))
    env = {
        **os.environ,
        "HALLMARK_VAR_DIR": str(var),
        "DATABASE_URL": args.database,
        "DJANGO_SETTINGS_MODULE": "hallmark.settings",
        "HALLMARK_LOG_LEVEL": "WARNING",
        "HALLMARK_HEARTBEAT_SECONDS": "3600",
        "HALLMARK_MAX_QUEUED_PER_USER": "1000",
    }
    try:
        # Migrations and the signer's keys first, outside valgrind, so both counted runs find
        # the same database and var dir.
        subprocess.run(
            [sys.executable, __file__, "--database", args.database, "--inner", "0"], env=env, check=True
        )
        short = _instructions(args.jobs, env, var / "short.out")
        long = _instructions(2 * args.jobs, env, var / "long.out")
    finally:
        shutil.rmtree(var, ignore_errors=True)
    per_job = (long - short) / args.jobs
    print(f"instructions: {short:,} for {args.jobs} jobs, {long:,} for {2 * args.jobs} jobs")
    print(
        f"instructions per job in the worker's path (in process, foreground store): {per_job / 1e6:.1f} million"
    )


if __name__ == "__main__":
    main()
