"""Fixed cost of one generation job: what the governed path adds around ``plugin.generate()``.

Run from the repository root::

    .venv/bin/python bench/bench_job_overhead.py [--jobs 50]
    .venv/bin/python bench/bench_job_overhead.py --jobs 50 \\
        --broker redis://127.0.0.1:6379/5 --database postgres://postgres@127.0.0.1:5432/hallmark_bench

The procedural plugin makes a 64x64 image in one pass, so the generation itself is small and
what is left is overhead. Three ways, ``--jobs`` jobs each, one job at a time (latency, not
throughput), after one warm-up job each:

a. ``plugin.generate()`` called directly on a loaded plugin;
b. ``generation.runner.run()`` in this process on a submitted job: claim (row lock), plugin
   from the warm cache, generate, stamp (PNG, XMP, C2PA), hash, write the file, create the
   asset, finish the job, audit events; ``submit()`` (validate, row, audit, enqueue on
   commit) is timed on its own;
c. ``POST /api/v1/generations/`` to a gunicorn server and a real ``celery worker`` process,
   then ``GET`` on the job every ``--poll-ms`` until it has succeeded (what a client sees);
   the job's own timestamps give the same path without the polling error.

Everything runs in a throwaway ``HALLMARK_VAR_DIR`` (SQLite database, filesystem broker,
media, dev C2PA signer), removed at the end. ``--database`` must name a scratch database: it
is migrated and the benchmark's rows stay in it (the audit table refuses deletes).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIELDS: dict[str, Any] = {
    "prompt": "a lighthouse at dusk",
    "width": 64,
    "height": 64,
    "params": {"steps": 1},
}


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=50, help="jobs per way (default 50)")
    parser.add_argument("--broker", help="CELERY_BROKER_URL (default: filesystem broker in the var dir)")
    parser.add_argument(
        "--database", help="DATABASE_URL of a scratch database (default: SQLite in the var dir)"
    )
    parser.add_argument("--poll-ms", type=float, default=10.0, help="job polling interval in (c)")
    parser.add_argument("--keep", action="store_true", help="keep the throwaway var dir")
    return parser.parse_args()


@dataclass
class Series:
    """Timings of one measured step, in seconds."""

    name: str
    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def p90(self) -> float:
        return statistics.quantiles(self.values, n=10, method="inclusive")[8]

    def row(self) -> str:
        return f"| {self.name} | {self.median * 1000:.1f} | {self.p90 * 1000:.1f} | {len(self.values)} |"


def _no_progress(step: int, total: int) -> None:
    pass


def _never_cancelled() -> bool:
    return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _purge(queue: str) -> None:
    """Drop messages no worker will take (jobs run in-process in (b) were enqueued too)."""
    from hallmark.celery import app

    # A queue never declared has nothing to drop.
    with app.connection_for_write() as conn, contextlib.suppress(Exception):
        conn.default_channel.queue_purge(queue)  # type: ignore[attr-defined]


@contextmanager
def _processes(var: Path) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """A gunicorn server and a celery worker on this benchmark's settings; stopped after."""
    port = _free_port()
    env = {**os.environ, "HALLMARK_LOG_LEVEL": "WARNING"}
    logs = [open(var / name, "wb") for name in ("web.log", "worker.log")]  # noqa: SIM115 - closed below
    commands = [
        # Two sync workers: the client's polls never wait behind its own POST.
        [sys.executable, "-m", "gunicorn", "hallmark.wsgi:application", "-b", f"127.0.0.1:{port}", "-w", "2"],
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "hallmark",
            "worker",
            "-P",
            "solo",
            "-c",
            "1",
            "--without-gossip",
            "--without-mingle",
            "-Q",
            "gen.procedural",
            "-l",
            "WARNING",
        ],
    ]
    started = [
        subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        for cmd, log in zip(commands, logs, strict=True)
    ]
    try:
        yield f"http://127.0.0.1:{port}", started
    finally:
        for proc in started:
            proc.terminate()
        for proc in started:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()


def main() -> None:
    args = _args()
    var = Path(tempfile.mkdtemp(prefix="hallmark-bench-"))
    os.environ["HALLMARK_VAR_DIR"] = str(var)
    os.environ.setdefault("HALLMARK_LOG_LEVEL", "WARNING")
    # Polling every few ms, the benchmark would meet the API's rate limit, which it does not measure.
    os.environ.setdefault("HALLMARK_API_THROTTLE_USER", "off")
    for name, value in (("DATABASE_URL", args.database), ("CELERY_BROKER_URL", args.broker)):
        if value:
            os.environ[name] = value
        else:
            os.environ.pop(name, None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hallmark.settings")
    sys.path.insert(0, str(ROOT))
    try:
        results, info = _run(args, var)
    finally:
        if not args.keep:
            shutil.rmtree(var, ignore_errors=True)
    _report(args, results, info)


def _run(args: argparse.Namespace, var: Path) -> tuple[dict[str, Series], dict[str, str]]:
    import django

    django.setup()

    import requests
    from django.conf import settings
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from bench.procedural_setup import procedural_user
    from generation import runner, services
    from generation.models import GenerationJob
    from governance.provenance import c2pa_signing
    from plugins import services as plugin_services
    from plugins.validation import build_request

    user = procedural_user()
    token = Token.objects.create(user=user).key
    n = args.jobs

    # (a) the plugin alone
    plugin = plugin_services.instantiate("procedural")
    plugin.load()
    direct = []
    for i in range(n + 1):
        request = build_request(plugin, seed=i, **FIELDS)
        start = time.perf_counter()
        plugin.generate(request, _no_progress, _never_cancelled)
        elapsed = time.perf_counter() - start
        if i:  # the first one warms up
            direct.append(elapsed)

    # (b) the service, in this process
    submit, run = [], []
    for i in range(n + 1):
        start = time.perf_counter()
        job, _ = services.submit(acting_user=user, plugin_id="procedural", fields={**FIELDS, "seed": i})
        t_submit = time.perf_counter() - start
        job_id = str(job.pk)
        start = time.perf_counter()
        runner.run(job_id)
        t_run = time.perf_counter() - start
        status = GenerationJob.objects.get(pk=job_id).status
        if status != "succeeded":
            raise SystemExit(f"in-process job {job_id} ended {status}")
        if i:
            submit.append(t_submit)
            run.append(t_run)
    _purge(services.queue_for("procedural"))

    # (c) HTTP and a worker process
    http = requests.Session()
    http.headers["Authorization"] = f"Token {token}"
    post, client, server, queued, running = [], [], [], [], []
    with _processes(var) as (base, procs):
        deadline = time.monotonic() + 60
        while True:
            try:
                if http.get(f"{base}/api/v1/plugins/procedural/", timeout=30).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or still importing
                pass
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise SystemExit(f"server or worker did not start; see {var}/web.log and worker.log (--keep)")
            time.sleep(0.2)
        for i in range(n + 1):
            start = time.perf_counter()
            response = http.post(
                f"{base}/api/v1/generations/", json={**FIELDS, "seed": i, "plugin": "procedural"}
            )
            posted = time.perf_counter()
            if response.status_code != 202:
                raise SystemExit(f"POST answered {response.status_code}: {response.text}")
            job_id = response.json()["id"]
            # The first job also waits for the worker to finish starting: it is the warm-up.
            timeout = time.monotonic() + (120 if i == 0 else 30)
            while True:
                body = http.get(f"{base}/api/v1/generations/{job_id}/").json()
                if body["status"] in ("succeeded", "failed", "cancelled"):
                    break
                if time.monotonic() > timeout:
                    raise SystemExit(f"job {job_id} still {body['status']} after 30 s")
                time.sleep(args.poll_ms / 1000)
            seen = time.perf_counter()
            if body["status"] != "succeeded":
                raise SystemExit(f"job {job_id} ended {body['status']}: {body['error']}")
            if i:
                job = GenerationJob.objects.get(pk=job_id)
                assert job.started_at and job.finished_at
                post.append(posted - start)
                client.append(seen - start)
                server.append((job.finished_at - job.created_at).total_seconds())
                queued.append((job.started_at - job.created_at).total_seconds())
                running.append((job.finished_at - job.started_at).total_seconds())

    results = {
        "direct": Series("(a) `plugin.generate()` direct", direct),
        "submit": Series("(b) `services.submit()`", submit),
        "run": Series("(b) `runner.run()` in-process", run),
        "post": Series("(c) HTTP POST answered (202)", post),
        "queued": Series("(c) job row: created → started (queue)", queued),
        "running": Series("(c) job row: started → finished (worker)", running),
        "server": Series("(c) job row: created → finished", server),
        "client": Series(f"(c) client: POST → sees succeeded (poll {args.poll_ms:g} ms)", client),
    }
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
            db_version = f"PostgreSQL {cursor.fetchone()[0]}"
        else:
            cursor.execute("SELECT sqlite_version()")
            db_version = f"SQLite {cursor.fetchone()[0]}"
    info = {
        "database": db_version,
        "broker": settings.CELERY_BROKER_URL.split("://", 1)[0],
        "c2pa": "signed (dev ES256 chain)" if c2pa_signing.signer_configured() else "not signed",
        "store_in_background": str(settings.HALLMARK_STORE_IN_BACKGROUND),
        "cpus": str(os.cpu_count()),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    return results, info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _report(args: argparse.Namespace, results: dict[str, Series], info: dict[str, str]) -> None:
    direct, submit, run = results["direct"], results["submit"], results["run"]
    server, client = results["server"], results["client"]
    print(
        f"{info['database']}, {info['broker']} broker, C2PA {info['c2pa']}, "
        f"store_in_background={info['store_in_background']}; {info['cpus']} CPUs ({info['cpu']}), "
        f"Python {info['python']}, load average at the end {info['load']}"
    )
    print()
    print(f"| step ({args.jobs} jobs each, 64x64, 1 step) | median ms | p90 ms | n |")
    print("| --- | ---: | ---: | ---: |")
    for series in results.values():
        print(series.row())
    print()
    print("Differences of medians (ms):")
    print(f"- service overhead, run() - generate(): {(run.median - direct.median) * 1000:.1f}")
    print(f"- submit + run - generate(): {(submit.median + run.median - direct.median) * 1000:.1f}")
    print(
        f"- worker path vs in-process, job row created->finished - (submit + run): "
        f"{(server.median - submit.median - run.median) * 1000:.1f}"
    )
    print(f"- end to end as a client sees it - generate(): {(client.median - direct.median) * 1000:.1f}")


if __name__ == "__main__":
    main()
