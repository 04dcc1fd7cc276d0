"""Three hosts that share nothing but PostgreSQL, Redis and the object store.

A web process (gunicorn) and two Celery workers each get a ``HALLMARK_VAR_DIR`` of their own,
as on three machines: no folder is shared, so media must go to the object store, the broker
must be Redis and every piece of per-host state must either be shared through the database,
Redis or the store, or be provided to each host (the C2PA signer's files are copied into each
worker's var dir, as a deployment would install them; the prompt HMAC key is the same
variable everywhere). Jobs submitted over HTTP to the web process run on both workers'
queues; a worker SIGKILLed mid-job has its job finished by the other; every asset then
downloads through the web process, byte for byte, and the bucket holds exactly the assets'
files. See docs/deployment.md.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings as process_settings
from django.db import connection
from rest_framework.authtoken.models import Token

from assets.models import Asset
from generation.models import GenerationJob
from tests.conftest import ROOT, database_url_for_subprocess, wait_for
from tests.private_services import free_port

pytestmark = pytest.mark.integration

# The dead worker's heartbeat ages in 2 s instead of a minute (as in test_worker_crash.py).
FAST_RECOVERY = {
    "HALLMARK_HEARTBEAT_SECONDS": "0.3",
    "HALLMARK_JOB_STALE_AFTER": "2",
    "HALLMARK_RECOVERY_INTERVAL": "0.5",
}
PROMPT_HMAC_KEY = "many-hosts-test-prompt-hmac-key-0123456789"


@pytest.fixture
def distributed_services() -> None:
    """Skip unless the run uses services that several hosts can share (SQLite and the
    filesystem broker live in one host's folder)."""
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if connection.vendor != "postgresql" or not broker.startswith(("redis://", "amqp://")):
        pytest.skip("needs PostgreSQL (DATABASE_URL) and Redis or RabbitMQ (CELERY_BROKER_URL)")


def _host(root: Path, name: str) -> Path:
    """A var dir of its own, as on another machine."""
    var = root / name
    var.mkdir(mode=0o700)
    return var


def _install_signer(var: Path) -> None:
    """Put the organisation's C2PA signer where a worker host reads it (its own var dir)."""
    shutil.copytree(Path(process_settings.VAR_DIR) / "provenance", var / "provenance")


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


@pytest.fixture
def web_host(distributed_services, tmp_path, s3_store):
    """gunicorn on a free port with a var dir of its own; killed after the test. Yields its
    URL, its var dir and a function that waits until it answers."""
    var = _host(tmp_path, "web-host")
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_subprocess(),
        "HALLMARK_VAR_DIR": str(var),
        "HALLMARK_MEDIA_ROOT": str(var / "media"),
        "HALLMARK_PROMPT_HMAC_KEY": PROMPT_HMAC_KEY,
        **s3_store.env,
    }
    log = open(tmp_path / "web.log", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "hallmark.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "1",
            "--threads",
            "4",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError((tmp_path / "web.log").read_text()[-3000:])
        try:
            return requests.get(f"{base}/accounts/login/", timeout=5).status_code == 200
        except (requests.ConnectionError, requests.Timeout):
            return False

    # Not waited for here: the workers start meanwhile (each takes seconds to import).
    yield base, var, lambda: wait_for(up, timeout=60, interval=0.2)
    process.kill()
    process.wait(timeout=30)
    log.close()


def test_web_and_two_workers_share_only_the_database_the_broker_and_the_store(
    web_host, worker_process, s3_store, users, procedural, enable_plugin, tmp_path
) -> None:
    base, web_var, web_ready = web_host
    enable_plugin("dummy")
    hosts = {name: _host(tmp_path, name) for name in ("worker-a", "worker-b")}
    for var in hosts.values():
        _install_signer(var)
    common = {**FAST_RECOVERY, "HALLMARK_PROMPT_HMAC_KEY": PROMPT_HMAC_KEY, **s3_store.env}
    workers = {
        "worker-a": worker_process(
            ["gen.procedural", "gen.dummy"],
            HALLMARK_VAR_DIR=str(hosts["worker-a"]),
            HALLMARK_MEDIA_ROOT=str(hosts["worker-a"] / "media"),
            **common,
        ),
        "worker-b": worker_process(
            ["gen.procedural"],
            HALLMARK_VAR_DIR=str(hosts["worker-b"]),
            HALLMARK_MEDIA_ROOT=str(hosts["worker-b"] / "media"),
            **common,
        ),
    }
    token = Token.objects.create(user=users["creator"]).key
    web_ready()
    api = requests.Session()
    api.headers["Authorization"] = f"Token {token}"

    def submit(plugin: str, prompt: str, **params: object) -> str:
        body = {"plugin": plugin, "prompt": prompt, "width": 64, "height": 64, "params": params}
        response = api.post(f"{base}/api/v1/generations/", json=body, timeout=10)
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    def finished(job_id: str) -> GenerationJob:
        return wait_for(lambda: (j := GenerationJob.objects.get(pk=job_id)).is_terminal and j, timeout=40)

    # 1. Jobs on both queues, from the web process, complete.
    first = [submit("dummy", f"tile {i}") for i in range(2)] + [
        submit("procedural", f"quick {i}") for i in range(3)
    ]
    for job_id in first:
        job = finished(job_id)
        assert job.status == "succeeded", (job.error_code, job.error)
    dummy_runners = {GenerationJob.objects.get(pk=j).worker for j in first[:2]}
    assert {w.rsplit(":", 1)[1] for w in dummy_runners} == {str(workers["worker-a"].pid)}

    # 2. The worker running a slow job is killed; the other one finishes it, once.
    slow = submit("procedural", "outlive a host", steps=8, step_delay=0.4)
    running = wait_for(lambda: (j := GenerationJob.objects.get(pk=slow)).progress_step >= 2 and j, timeout=30)
    victim = next(name for name, proc in workers.items() if running.worker.endswith(f":{proc.pid}"))
    survivor = next(name for name in workers if name != victim)
    os.kill(workers[victim].pid, signal.SIGKILL)
    workers[victim].wait(timeout=10)
    started = time.monotonic()
    job = finished(slow)
    assert job.status == "succeeded", (job.error_code, job.error)
    assert job.attempts == 2 and job.worker.endswith(f":{workers[survivor].pid}")
    recovery_seconds = time.monotonic() - started

    # 3. Every asset downloads through the web process, and the bucket holds exactly them.
    assets = list(Asset.objects.filter(job_id__in=[*first, slow]))
    assert len(assets) == len(first) + 1
    for asset in assets:
        response = api.get(f"{base}/api/v1/assets/{asset.pk}/file/", timeout=10)
        assert response.status_code == 200
        assert hashlib.sha256(response.content).hexdigest() == asset.sha256
        assert api.get(f"{base}/api/v1/assets/{asset.pk}/thumbnail/", timeout=10).status_code == 200
    assert s3_store.keys() == sorted(name for a in assets for name in (a.file.name, a.thumbnail.name))
    # Nothing was stored on any host's disk.
    for var in (web_var, *hosts.values()):
        assert not (var / "media").exists() or _files(var / "media") == []
    print(f"many hosts: killed {victim}, {survivor} finished its job {recovery_seconds:.1f} s later")
