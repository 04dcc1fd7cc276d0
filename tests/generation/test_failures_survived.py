"""Failures survived: the broker killed during a stream of submissions, the database restarted
with jobs in flight. Short outages (3 s) on private Redis and PostgreSQL instances the tests
start and kill by PID; real worker processes. Nothing lost, nothing duplicated, no orphan
file, the audit chain verifies, and the worker recovers without a restart. Each test prints
its figures (run with ``-s``); docs/benchmarks.md records them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from assets.models import Asset
from generation.models import GenerationJob
from tests.conftest import ROOT, all_plugin_queues, database_url_for_subprocess, wait_for
from tests.private_services import PrivatePostgres, PrivateRedis, have_postgres, have_redis

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not have_redis(), reason="redis-server not installed")]

OUTAGE = 3.0
SUBMITS = 30
FAST_RECOVERY = {
    "HALLMARK_HEARTBEAT_SECONDS": "0.3",
    "HALLMARK_JOB_STALE_AFTER": "5",
    "HALLMARK_RECOVERY_INTERVAL": "0.5",
    # Messages the killed Redis held are gone: the sweep enqueues their jobs again once the
    # queue is empty and they have waited this long.
    "HALLMARK_REQUEUE_QUEUED_AFTER": "3",
    # One user submits the whole stream.
    "HALLMARK_MAX_QUEUED_PER_USER": "0",
}


def _files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _driver(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tests.generation.failure_driver", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "hallmark", "worker", "-P", "solo", "-c", "1",
         "--without-gossip", "--without-mingle", "-Q", ",".join(all_plugin_queues()), "-l", "INFO"],
        cwd=ROOT, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
    )


def test_broker_killed_during_a_stream_of_submissions(worker_process, users, procedural, tmp_path) -> None:
    redis = PrivateRedis(tmp_path / "redis")
    redis.start()
    try:
        env = {"CELERY_BROKER_URL": redis.url, **FAST_RECOVERY}
        worker = worker_process(["gen.procedural"], **env)
        driver_env = {
            **os.environ, **env,
            "DATABASE_URL": database_url_for_subprocess(),
            "HALLMARK_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        }
        fields = {"prompt": "through the outage", "width": 64, "height": 64, "params": {"steps": 1}}
        driver = subprocess.Popen(
            [sys.executable, "-m", "tests.generation.failure_driver", "submit", str(SUBMITS), "0.2", json.dumps(fields)],
            cwd=ROOT, env=driver_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert driver.stdout is not None
        submits: list[dict[str, Any]] = []
        killed_at: float | None = None
        back: float | None = None
        # Redis dies after the fourth submission and comes back OUTAGE seconds later, while
        # the stream goes on.
        for line in driver.stdout:
            submits.append(json.loads(line))
            if len(submits) == 4:
                redis.kill()
                killed_at = time.monotonic()
            if killed_at is not None and back is None and time.monotonic() - killed_at >= OUTAGE:
                redis.start()
                back, back_wall = time.monotonic(), time.time()
        if back is None:
            redis.start()
            back, back_wall = time.monotonic(), time.time()
        assert driver.wait(timeout=60) == 0, driver.stderr.read()[-3000:] if driver.stderr else ""
        ids = [s["id"] for s in submits]
        assert len(ids) == SUBMITS

        waiting = [s for s in submits if s["waiting_for_broker"]]
        assert waiting, "no submission fell into the outage"
        slowest = max(s["seconds"] for s in waiting)
        assert slowest < 1.0, f"a submit during the outage took {slowest:.2f} s"

        jobs = wait_for(
            lambda: (js := list(GenerationJob.objects.filter(pk__in=ids))) and all(j.is_terminal for j in js) and js,
            timeout=90,
        )
        recovered_after = time.monotonic() - back
        assert {j.status for j in jobs} == {"succeeded"}, [(j.pk, j.status, j.error) for j in jobs]
        assert {j.attempts for j in jobs} == {1}
        assert not any(j.enqueue_failed for j in jobs)
        assets = list(Asset.objects.filter(job_id__in=ids))
        assert sorted(str(a.job_id) for a in assets) == sorted(ids), "lost or duplicated assets"
        media = Path(settings.MEDIA_ROOT)
        expected = sorted(name for a in assets for name in (a.file.name, a.thumbnail.name))
        assert _files_under(media) == expected, "orphan or missing files"
        assert worker.poll() is None, "the worker died with the broker"

        log = (tmp_path / "worker-0.log").read_text(errors="replace")
        received = len(re.findall(r"Task generation\.run_generation\[[^\]]+\] received", log))
        # One message a job: none re-enqueued while it was still waiting in the queue.
        assert received <= SUBMITS + 2, f"{received} messages for {SUBMITS} jobs"
        reconnects = re.findall(r"^(\S+ \S+) INFO celery\.worker\.consumer\.connection Connected to", log, re.M)
        reconnected = (
            datetime.strptime(reconnects[-1], "%Y-%m-%d %H:%M:%S,%f").timestamp() - back_wall if reconnects else float("nan")
        )
        print(
            f"\nworker consumer reconnected {reconnected:.1f} s after Redis returned (Celery's reconnect backoff)"
            f"\nbroker outage {OUTAGE:.0f} s: {len(waiting)}/{SUBMITS} submits waited for the broker, slowest "
            f"{slowest * 1000:.0f} ms; all jobs done {recovered_after:.1f} s after Redis returned; "
            f"the worker received {received} messages for {SUBMITS} jobs"
        )
    finally:
        redis.kill()


@pytest.mark.skipif(not have_postgres(), reason="PostgreSQL binaries not installed")
def test_database_restarted_with_jobs_in_flight(tmp_path) -> None:
    import psycopg

    pg = PrivatePostgres()
    redis = PrivateRedis(tmp_path / "redis")
    pg.start()
    redis.start()
    worker: subprocess.Popen[bytes] | None = None
    try:
        pg.create_database("hallmark")
        media = tmp_path / "media"
        env = {
            **os.environ, **FAST_RECOVERY,
            "DATABASE_URL": pg.url("hallmark"),
            "CELERY_BROKER_URL": redis.url,
            "HALLMARK_MEDIA_ROOT": str(media),
        }
        _driver(env, "setup")
        worker = _worker(env, tmp_path / "worker.log")
        # A long job in flight through the restart (50 steps of 0.2 s), two short ones behind it.
        long_job = {"prompt": "through the restart", "width": 64, "height": 64, "params": {"steps": 50, "step_delay": 0.2}}
        short_jobs = {"prompt": "after the restart", "width": 64, "height": 64, "params": {"steps": 2}}
        ids = [json.loads(line)["id"] for line in _driver(env, "submit", "1", "0", json.dumps(long_job)).splitlines()]
        ids += [json.loads(line)["id"] for line in _driver(env, "submit", "2", "0", json.dumps(short_jobs)).splitlines()]
        first = ids[0]

        def progress(job_id: str) -> tuple[str, int]:
            with psycopg.connect(pg.url("hallmark"), connect_timeout=2) as conn:
                row = conn.execute(
                    "SELECT status, progress_step FROM generation_generationjob WHERE id = %s", (job_id,)
                ).fetchone()
            assert row is not None
            return str(row[0]), int(row[1])

        wait_for(lambda: progress(first)[1] >= 2, timeout=60)
        pg.stop()
        canceller = subprocess.Popen(
            [sys.executable, "-m", "tests.generation.failure_driver", "cancel", first],
            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        time.sleep(OUTAGE)
        pg.start()
        back = time.monotonic()
        at_restart = progress(first)[1]
        # The job's own connection is opened anew: progress moves again within a step or two.
        # (Without it the job ran on blind to its end, ~5 s later, progress frozen, cancel unseen.)
        wait_for(lambda: progress(first)[1] > at_restart or progress(first)[0] != "running", timeout=3, interval=0.02)
        progress_recovered = time.monotonic() - back
        assert progress(first)[0] == "running", "the job ended before progress moved again"
        out, _ = canceller.communicate("now\n", timeout=60)
        assert canceller.returncode == 0
        cancelled = json.loads(out)
        assert cancelled["status"] == "cancelled"
        cancel_took = float(cancelled["seconds"])
        assert cancel_took < 1.0, f"a cancel after the restart took {cancel_took:.2f} s (a step is 0.2 s)"

        def all_done() -> bool:
            with psycopg.connect(pg.url("hallmark"), connect_timeout=2) as conn:
                statuses = [row[0] for row in conn.execute("SELECT status FROM generation_generationjob")]
            return all(status in ("succeeded", "failed", "cancelled") for status in statuses)

        wait_for(all_done, timeout=90, interval=0.1)
        report: dict[str, Any] = json.loads(_driver(env, "report"))
        statuses = {j["id"]: j["status"] for j in report["jobs"]}
        assert statuses == {first: "cancelled", ids[1]: "succeeded", ids[2]: "succeeded"}, report["jobs"]
        assert {j["attempts"] for j in report["jobs"]} == {1}
        assert sorted(a["job"] for a in report["assets"]) == sorted(ids[1:]), "lost or duplicated assets"
        expected = sorted(name for a in report["assets"] for name in a["files"])
        assert _files_under(media) == expected, "orphan or missing files"
        assert report["audit_ok"], "verify_audit found a broken chain"
        assert worker.poll() is None, "the worker died with the database"
        print(
            f"\ndatabase down {OUTAGE:.0f} s: progress moved again {progress_recovered:.2f} s after it returned; "
            f"a cancel then took {cancel_took:.2f} s (steps of 0.2 s)"
        )
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
            worker.wait(timeout=30)
        redis.kill()
        pg.remove()
