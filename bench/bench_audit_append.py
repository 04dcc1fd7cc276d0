"""The audit chain's append ceiling: events per second with 1, 4 and 16 concurrent writers.

Run from the repository root (PostgreSQL; a scratch database, migrated, whose rows stay)::

    .venv/bin/python bench/bench_audit_append.py \\
        --database postgres://postgres@127.0.0.1:5432/hallmark_bench --seconds 10

``--before DIR`` names another checkout of Hallmark (``git worktree add --detach /tmp/before
main``): every round then runs once with that code and once with this one, in turn, on the same
chain, ``--repeat`` times, and the medians and their ratio are printed. The machine's load
changes from minute to minute, so only figures from the same run compare.

Every event goes through ``governance.audit_trail.record_event`` in its own transaction, as a
service records one (a job's finish, a review). Each writer is its own process with its own
database connection; all of them append to the one chain head for ``--seconds``, then the
chain is walked (``verify_audit_chain``) to show that the concurrent appends kept it whole.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = {
    "job_id": "3f1c1d9e-5b7a-4d0e-9a65-0c1b8b0f9f11",
    "sha256": "ab" * 32,
    "plugin": {"id": "procedural", "version": "1.0.0"},
    "model": {"name": "procedural", "weights_sha256": None},
    "seed": 1234,
}


def _setup(database: str, root: Path = ROOT) -> None:
    os.environ["DATABASE_URL"] = database
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hallmark.settings")
    os.environ.setdefault("HALLMARK_LOG_LEVEL", "WARNING")
    # Only the checkout asked for (the other may be on the path from the parent process), run
    # from its own folder (Celery puts the working directory first on the path).
    sys.path[:] = [str(root), *(p for p in sys.path if p not in (str(ROOT), str(root)))]
    os.chdir(root)
    # This checkout is installed in editable mode, whose import hook would win over sys.path.
    sys.meta_path[:] = [
        f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")
    ]
    import django

    django.setup()


def _writer(database: str, seconds: float, start: Event, out: Any, root: Path) -> None:
    _setup(database, root)
    from django.db import connection, transaction

    from governance.audit_trail import record_event

    where = Path(sys.modules["governance"].__file__ or "")
    assert where.is_relative_to(root), (where, root, sys.path[:3])
    connection.ensure_connection()
    latencies = []
    start.wait()
    deadline = time.perf_counter() + seconds
    while (now := time.perf_counter()) < deadline:
        with transaction.atomic():
            record_event(
                "bench.appended", acting_user=None, system_actor="bench", target=("bench", "1"), data=DATA
            )
        latencies.append(time.perf_counter() - now)
    out.put(latencies)


def _round(database: str, writers: int, seconds: float, root: Path) -> tuple[float, float, float]:
    context = multiprocessing.get_context("spawn")
    start, out = context.Event(), context.Queue()
    procs = [
        context.Process(target=_writer, args=(database, seconds, start, out, root)) for _ in range(writers)
    ]
    for proc in procs:
        proc.start()
    time.sleep(3 + 0.3 * writers)  # every writer imported Django and connected
    start.set()
    latencies = [value for _ in procs for value in out.get(timeout=seconds + 120)]
    for proc in procs:
        proc.join()
    median = statistics.median(latencies) * 1000
    p90 = statistics.quantiles(latencies, n=10)[8] * 1000
    return len(latencies) / seconds, median, p90


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True, help="DATABASE_URL of a scratch PostgreSQL database")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each round (default 10)")
    parser.add_argument("--writers", default="1,4,16", help="concurrent writers per round (default 1,4,16)")
    parser.add_argument("--before", type=Path, help="another checkout to compare with, round by round")
    parser.add_argument("--repeat", type=int, default=1, help="rounds per writer count and code (default 1)")
    args = parser.parse_args()
    _setup(args.database)
    from django.core.management import call_command

    from governance.audit_trail import verify_audit_chain

    call_command("migrate", verbosity=0)
    print(f"load average at the start {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} CPUs")
    trees = {"this": ROOT} if args.before is None else {"before": args.before.resolve(), "this": ROOT}
    print("| writers | code | round | events/s | median ms | p90 ms |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    summary = []
    for writers in (int(w) for w in args.writers.split(",")):
        rates: dict[str, list[float]] = {name: [] for name in trees}
        for repeat in range(args.repeat):
            # Both in turn, starting with each in turn: the machine's load drifts.
            for name in trees if repeat % 2 == 0 else reversed(trees):
                rate, median, p90 = _round(args.database, writers, args.seconds, trees[name])
                rates[name].append(rate)
                print(
                    f"| {writers} | {name} | {repeat + 1} | {rate:.0f} | {median:.2f} | {p90:.2f} |",
                    flush=True,
                )
        summary.append((writers, {name: statistics.median(values) for name, values in rates.items()}))
    print("\n| writers | " + " | ".join(f"{name}: median events/s (M/day)" for name in trees) + " | ratio |")
    print("| ---: |" + " ---: |" * (len(trees) + 1))
    for writers, medians in summary:
        cells = " | ".join(f"{rate:.0f} ({rate * 86400 / 1e6:.1f} M)" for rate in medians.values())
        ratio = f"{medians['this'] / medians['before']:.2f}" if "before" in medians else "-"
        print(f"| {writers} | {cells} | {ratio} |")
    started = time.perf_counter()
    report = verify_audit_chain()
    print(
        f"verify_audit_chain: {'ok' if report.ok else report.problem}, {report.events_checked} events "
        f"in {time.perf_counter() - started:.1f} s; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


if __name__ == "__main__":
    main()
