"""Jobs per second through real workers, beside Celery's own no-op task rate in the same run.

Run from the repository root (PostgreSQL and Redis are required; the database must be a
scratch one: it is migrated and the benchmark's rows stay in it)::

    .venv/bin/python bench/bench_throughput.py --jobs 200 \\
        --database postgres://postgres@127.0.0.1:5432/hallmark_bench \\
        --broker redis://127.0.0.1:6379/5

What it does, in one throwaway ``HALLMARK_VAR_DIR`` (media, dev C2PA signer):

1. **Split**: ``--split-jobs`` procedural jobs (64x64, 1 step) run one at a time through
   ``generation.runner.run()`` in this process, storing in the foreground, with the parts
   timed (claim, generate, prepare and its C2PA signing, file writes, asset rows + finish +
   audit events) and the database queries counted.
2. Two ``celery worker -P solo`` processes start, listening on an idle queue.
3. **Celery no-op**: ``--noop`` no-op tasks are published to a queue first, then both workers
   are told to consume it (``add_consumer``); the rate is messages / time until the queue is
   empty.
4. **Hallmark**: ``--jobs`` jobs are submitted in this process (``generation.services.submit``,
   the broker holds them), then both workers are told to consume ``gen.procedural``; the rate
   is jobs / time until every job is terminal (all must succeed). A few warm-up jobs run first.

The two rates and their ratio are printed, with the per-job split of step 1.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIELDS: dict[str, Any] = {"prompt": "a lighthouse at dusk", "width": 64, "height": 64, "params": {"steps": 1}}
IDLE_QUEUE = "bench.idle"
NOOP_QUEUE = "bench.noop"
NOOP_TASK = "bench.noop"
# Both phases poll for their end at this interval: often enough to add at most 2 % to the
# no-op phase (about a second) and less to the jobs', rarely enough that the polling (a query
# per poll) does not take the CPU the workers are measured on (polling the jobs every 5 ms, as
# before, took a noticeable share of the machine's two cores).
POLL_SECONDS = 0.02
CPU = " (CPU)"


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200, help="jobs through the workers (default 200)")
    parser.add_argument("--noop", type=int, default=2000, help="no-op tasks (default 2000)")
    parser.add_argument("--split-jobs", type=int, default=30, help="jobs timed in process (default 30)")
    parser.add_argument("--workers", type=int, default=2, help="celery -P solo workers (default 2)")
    parser.add_argument("--database", required=True, help="DATABASE_URL of a scratch PostgreSQL database")
    parser.add_argument("--broker", required=True, help="CELERY_BROKER_URL (Redis)")
    parser.add_argument("--keep", action="store_true", help="keep the throwaway var dir")
    return parser.parse_args()


def main() -> None:
    args = _args()
    var = Path(tempfile.mkdtemp(prefix="hallmark-bench-"))
    os.environ.update(
        {
            "HALLMARK_VAR_DIR": str(var),
            "DATABASE_URL": args.database,
            "CELERY_BROKER_URL": args.broker,
            "HALLMARK_MAX_QUEUED_PER_USER": str(args.jobs + 100),
            "DJANGO_SETTINGS_MODULE": "hallmark.settings",
        }
    )
    os.environ.setdefault("HALLMARK_LOG_LEVEL", "WARNING")
    # Workers keep their connections between jobs, as a PostgreSQL deployment should set
    # (README); HALLMARK_WORKER_CONN_MAX_AGE=0 in the environment measures without.
    os.environ.setdefault("HALLMARK_WORKER_CONN_MAX_AGE", "60")
    sys.path.insert(0, str(ROOT))
    try:
        _run(args, var)
    finally:
        if not args.keep:
            shutil.rmtree(var, ignore_errors=True)


def _median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000 if values else 0.0


@contextmanager
def _timed(store: dict[str, list[float]], name: str) -> Iterator[None]:
    """Record the wall time under ``name`` and the process's CPU time (all its threads: the
    file writers' too) under ``name + CPU``."""
    start, cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        store[name].append(time.perf_counter() - start)
        store[name + CPU].append(time.process_time() - cpu)


def _wrap(store: dict[str, list[float]], owner: Any, attr: str, name: str) -> Callable[[], None]:
    """Time every call of ``owner.attr`` under ``name``; returns the undo."""
    original = getattr(owner, attr)

    def timed(*args: Any, **kwargs: Any) -> Any:
        with _timed(store, name):
            return original(*args, **kwargs)

    setattr(owner, attr, timed)
    return lambda: setattr(owner, attr, original)


def _split(user: Any, n: int) -> tuple[dict[str, list[float]], list[int]]:
    """Run ``n`` jobs in process (after one warm-up), timing the parts and counting queries."""
    from django.db import connection

    from assets import services as asset_services
    from generation import runner, services
    from governance.provenance import stamping
    from plugins import registry

    parts: dict[str, list[float]] = defaultdict(list)
    queries: list[int] = []
    plugin_class = registry.get_entry("procedural").get_class()
    undo = [
        _wrap(parts, runner, "_take" if hasattr(runner, "_take") else "_claim", "claim"),
        _wrap(parts, plugin_class, "generate", "generate"),
        _wrap(parts, asset_services, "prepare", "prepare"),
        _wrap(parts, stamping, "sign_c2pa", "C2PA sign"),
        _wrap(parts, asset_services, "write_files", "write files (fsync)"),
        _wrap(
            parts,
            asset_services,
            "create_assets_of_jobs" if hasattr(asset_services, "create_assets_of_jobs") else "create_assets",
            "asset rows + audit",
        ),
        _wrap(parts, runner, "_finish", "job finish + audit"),
    ]
    try:
        for i in range(n + 1):
            job, _ = services.submit(acting_user=user, plugin_id="procedural", fields={**FIELDS, "seed": i})
            before = {k: len(v) for k, v in parts.items()}
            # Counted by a wrapper, not Django's debug cursor: that formats every statement's
            # SQL, which inflated the times measured here.
            counted: list[None] = []

            def count(execute: Callable[..., Any], *args: Any, seen: list[None] = counted) -> Any:
                seen.append(None)
                return execute(*args)

            with connection.execute_wrapper(count), _timed(parts, "run() total"):
                runner.run(str(job.pk))
            if i == 0:  # warm-up: forget what it measured
                for key, values in parts.items():
                    del values[before.get(key, 0) :]
                continue
            queries.append(len(counted))
    finally:
        for step in undo:
            step()
    return parts, queries


def _workers(var: Path, count: int) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "HALLMARK_LOG_LEVEL": "WARNING"}
    procs = []
    for i in range(count):
        log = open(var / f"worker{i}.log", "wb")  # noqa: SIM115 - the process owns it
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "bench.throughput_app",
            "worker",
            "-P",
            "solo",
            "-c",
            "1",
            "-n",
            f"bench{i}-{uuid.uuid4().hex[:6]}@%h",
            "--without-gossip",
            "--without-mingle",
            "-Q",
            IDLE_QUEUE,
            "-l",
            "WARNING",
        ]
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
    return procs


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _queue_length(app: Any, queue: str) -> int:
    with app.connection_for_read() as conn:
        return int(conn.default_channel.client.llen(queue))  # type: ignore[attr-defined]


def _consume(app: Any, names: list[str], queue: str) -> None:
    """Tell the workers to consume ``queue`` now.

    A worker waits on the broker with a blocking pop of the queues it consumed when the pop
    began (Redis ``BRPOP``, kombu's one-second timeout), so a queue added meanwhile is only
    read after that pop returns: up to a second in which nothing runs, which a deployed worker,
    always consuming its queue, never has. One no-op message per worker on the queue they are
    popping ends their pops at once, so both phases measure the workers, not the timeout."""
    app.control.add_consumer(queue, destination=names, reply=True, timeout=10)
    for _ in names:
        app.send_task(NOOP_TASK, queue=IDLE_QUEUE)


def _cancel(app: Any, names: list[str], queue: str) -> None:
    app.control.cancel_consumer(queue, destination=names, reply=True, timeout=10)


def _wait_jobs(ids: list[str], timeout: float) -> float:
    """Wait until every job is terminal; return when that was seen (perf_counter)."""
    from generation.models import TERMINAL_STATUSES, GenerationJob

    deadline = time.monotonic() + timeout
    while True:
        done = GenerationJob.objects.filter(pk__in=ids, status__in=TERMINAL_STATUSES).count()
        if done == len(ids):
            return time.perf_counter()
        if time.monotonic() > deadline:
            raise SystemExit(f"only {done}/{len(ids)} jobs finished within {timeout:.0f} s")
        time.sleep(POLL_SECONDS)


def _run(args: argparse.Namespace, var: Path) -> None:
    import django

    django.setup()

    from django.db import connection

    from bench.procedural_setup import procedural_user
    from bench.process_cpu import cpu_seconds, database_cpu_seconds
    from bench.throughput_app import app
    from generation import services
    from generation.models import GenerationJob
    from governance.provenance import c2pa_signing

    user = procedural_user()
    job_queue = services.queue_for("procedural")
    with app.connection_for_write() as conn:
        for queue in (job_queue, NOOP_QUEUE):
            conn.default_channel.client.delete(queue)  # type: ignore[attr-defined]

    parts, queries = _split(user, args.split_jobs)
    with app.connection_for_write() as conn:
        conn.default_channel.client.delete(job_queue)  # type: ignore[attr-defined]  # the split's jobs ran

    procs = _workers(var, args.workers)
    try:
        deadline = time.monotonic() + 120
        names: list[str] = []
        while len(names) < args.workers:
            replies = app.control.ping(timeout=1.0) or []
            names = [name for reply in replies for name in reply if name.startswith("bench")]
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise SystemExit(f"workers did not start; see {var}/worker*.log (--keep)")

        # Celery's own rate: no-op tasks published first, then consumed by both workers.
        for _ in range(args.noop):
            app.send_task(NOOP_TASK, queue=NOOP_QUEUE)
        start, cpu = time.perf_counter(), cpu_seconds(procs)
        _consume(app, names, NOOP_QUEUE)
        while _queue_length(app, NOOP_QUEUE):
            time.sleep(POLL_SECONDS)
        noop_elapsed = time.perf_counter() - start
        noop_cpu = cpu_seconds(procs) - cpu
        _cancel(app, names, NOOP_QUEUE)

        def submit_many(count: int, offset: int) -> list[str]:
            return [
                str(
                    services.submit(
                        acting_user=user, plugin_id="procedural", fields={**FIELDS, "seed": offset + i}
                    )[0].pk
                )
                for i in range(count)
            ]

        # Warm-up: each worker loads the plugin and the signer once.
        warm = submit_many(2 * args.workers, 10_000)
        _consume(app, names, job_queue)
        _wait_jobs(warm, 120)
        _cancel(app, names, job_queue)

        ids = submit_many(args.jobs, 20_000)
        released = time.time()
        start, cpu, db_cpu = time.perf_counter(), cpu_seconds(procs), database_cpu_seconds()
        _consume(app, names, job_queue)
        end = _wait_jobs(ids, 600)
        jobs_elapsed = end - start
        jobs_cpu = cpu_seconds(procs) - cpu
        db_after = database_cpu_seconds()
        jobs_db_cpu = db_after - db_cpu if db_after is not None and db_cpu is not None else None
    finally:
        _stop(procs)

    jobs = list(GenerationJob.objects.filter(pk__in=ids))
    failed = [j for j in jobs if j.status != "succeeded"]
    if failed:
        raise SystemExit(
            f"{len(failed)} jobs did not succeed, e.g. {failed[0].error_code}: {failed[0].error}"
        )
    running = [(j.finished_at - j.started_at).total_seconds() for j in jobs if j.finished_at and j.started_at]
    first_start = min(j.started_at for j in jobs if j.started_at)
    span = max(j.finished_at for j in jobs if j.finished_at) - first_start

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        db_version = cursor.fetchone()[0]
    noop_rate = args.noop / noop_elapsed
    job_rate = args.jobs / jobs_elapsed
    print(
        f"PostgreSQL {db_version}, Redis broker, C2PA "
        f"{'signed (dev ES256)' if c2pa_signing.signer_configured() else 'NOT signed'}, "
        f"{args.workers} x celery -P solo; {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(f"celery no-op tasks: {args.noop} in {noop_elapsed:.2f} s = {noop_rate:.0f}/s")
    print(
        f"hallmark jobs:      {args.jobs} in {jobs_elapsed:.2f} s = {job_rate:.1f}/s "
        f"(released -> first started {first_start.timestamp() - released:.2f} s, "
        f"first started -> last finished {span.total_seconds():.2f} s)"
    )
    print(f"ratio jobs/no-op: {job_rate / noop_rate:.3f}")
    print(
        f"worker CPU per message: no-op {noop_cpu / args.noop * 1000:.2f} ms, "
        f"job {jobs_cpu / args.jobs * 1000:.2f} ms (both workers' processes, user + system)"
    )
    if jobs_db_cpu is not None:
        print(
            f"database server CPU per job: {jobs_db_cpu / args.jobs * 1000:.2f} ms (PostgreSQL's processes)"
        )
    print(
        f"per job started -> finished: median {_median_ms(running):.1f} ms, "
        f"p90 {statistics.quantiles(running, n=10)[8] * 1000:.1f} ms"
    )
    print()
    print(f"split of runner.run() in process, foreground store, {args.split_jobs} jobs (median ms):")
    order = [
        "claim",
        "generate",
        "prepare",
        "C2PA sign",
        "write files (fsync)",
        "asset rows + audit",
        "job finish + audit",
        "run() total",
    ]
    for name in order:
        if parts.get(name):
            print(f"  {name:<24} {_median_ms(parts[name]):7.2f}")
    total = _median_ms(parts["run() total"])
    outside = total - _median_ms(parts["prepare"]) - _median_ms(parts["generate"])
    print(
        f"  {'fixed (total - prepare - generate)':<24} {outside:7.2f}   (prepare = PNG, XMP, C2PA, sha256, WebP)"
    )
    cpu = {name: _median_ms(parts[name + CPU]) for name in ("run() total", "prepare", "generate")}
    print(
        f"  {'CPU: run() total':<24} {cpu['run() total']:7.2f}   fixed (total - prepare - generate): "
        f"{cpu['run() total'] - cpu['prepare'] - cpu['generate']:.2f}   (the process's CPU, all threads)"
    )
    # Statements sent; the transactions' BEGIN and COMMIT (3 for a lone job) are not among them.
    print(
        f"  queries per job: median {statistics.median(queries):.0f} (min {min(queries)}, max {max(queries)})"
    )


if __name__ == "__main__":
    main()
