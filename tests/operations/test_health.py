"""/healthz and /readyz, as a load balancer sees them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from hallmark.celery import app
from tests.conftest import ROOT
from tests.operations.private_postgres import PrivatePostgres

# This helper's private ports (17200-17299).
PG_PORT = 17231
WEB_PORT = 17232


def test_healthz_answers_without_the_database(client: Any) -> None:
    # No django_db mark: any database access in the request would raise here.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]
    assert client.head("/healthz").status_code == 200  # some load balancers probe with HEAD
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_readyz_is_ready_when_every_dependency_answers(client: Any, settings: Any) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "broker": "ok", "signer": "ok", "storage": "ok"},
    }
    # The storage probe leaves nothing behind.
    probe_folder = Path(settings.MEDIA_ROOT) / ".readyz"
    assert not probe_folder.exists() or not any(probe_folder.iterdir())


@pytest.mark.django_db
def test_readyz_names_the_failed_checks_and_no_secret(
    client: Any, settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Storage that cannot be written (its folder would be under a regular file).
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    settings.MEDIA_ROOT = str(blocker / "media")
    # A broker that is down, whose URL carries a password.
    # Celery reads CELERY_BROKER_URL from the environment before its own setting. Patched
    # second: undone first, so that the setting is restored to the value it had before both.
    monkeypatch.setattr(app.conf, "broker_url", "redis://:s3cret-broker-pass@127.0.0.1:17239/0")
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://:s3cret-broker-pass@127.0.0.1:17239/0")
    # No signer files.
    settings.HALLMARK_C2PA_PRIVATE_KEY = str(tmp_path / "missing-key.pem")
    started = time.monotonic()
    response = client.get("/readyz")
    assert time.monotonic() - started < settings.HALLMARK_READY_TIMEOUT + 1
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("failed (")
    assert body["checks"]["storage"].startswith("failed (")
    assert body["checks"]["signer"] == "failed (FileNotFoundError)"
    text = response.content.decode()
    assert "s3cret" not in text and "17239" not in text and str(tmp_path) not in text


@pytest.mark.django_db
def test_readyz_writes_to_storage_at_most_every_30_seconds(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe is public and asked every few seconds; on S3 a storage probe is a PUT and a DELETE."""
    from operations import readiness

    calls: dict[str, int] = {"storage": 0, "signer": 0}

    def counted(name: str) -> Any:
        original = readiness.CHECKS[name]

        def check() -> None:
            calls[name] += 1
            original()

        return check

    for name in calls:
        monkeypatch.setitem(readiness.CHECKS, name, counted(name))
    monkeypatch.setattr(readiness, "_CACHE_SECONDS", 0.0)  # as if each ask came a second apart
    for _ in range(5):
        response = client.get("/readyz")
        assert response.status_code == 200 and response.json()["checks"]["storage"] == "ok"
    assert calls == {"storage": 1, "signer": 5}  # the other checks still run on each ask
    # Once the storage answer is older than its hold, the next ask writes again.
    monkeypatch.setitem(readiness.HELD_SECONDS, "storage", 0.0)
    assert client.get("/readyz").json()["checks"]["storage"] == "ok"
    assert calls == {"storage": 2, "signer": 6}


@pytest.mark.django_db
def test_readyz_answers_at_its_timeout_when_a_check_hangs(
    client: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from operations import readiness

    release = __import__("threading").Event()
    calls: list[int] = []

    def hang() -> None:
        calls.append(1)
        release.wait(10)

    monkeypatch.setitem(readiness.CHECKS, "storage", hang)
    settings.HALLMARK_READY_TIMEOUT = 0.5
    try:
        started = time.monotonic()
        first = client.get("/readyz")
        assert 0.4 < time.monotonic() - started < 2
        assert first.status_code == 503 and first.json()["checks"]["storage"] == "timed out"
        # Asked again while the check still hangs: answered at once, no second thread.
        readiness.forget_cached()
        started = time.monotonic()
        second = client.get("/readyz")
        assert time.monotonic() - started < 0.4
        assert second.json()["checks"]["storage"] == "timed out"
        assert len(calls) == 1
    finally:
        release.set()


@pytest.mark.parametrize("value", ["inf", "1e308", "31", "nan", "0.05", "-1", "two"])
def test_a_ready_timeout_out_of_bounds_is_refused_at_start(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.core.exceptions import ImproperlyConfigured

    monkeypatch.setenv("HALLMARK_READY_TIMEOUT", value)
    with pytest.raises(ImproperlyConfigured, match="HALLMARK_READY_TIMEOUT"):
        _settings_as_a_starting_process_reads_them()


@pytest.mark.parametrize(("value", "seconds"), [("0.1", 0.1), ("2.5", 2.5), ("30", 30.0)])
def test_a_ready_timeout_in_bounds_is_kept(value: str, seconds: float, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALLMARK_READY_TIMEOUT", value)
    assert _settings_as_a_starting_process_reads_them()["HALLMARK_READY_TIMEOUT"] == seconds


def _settings_as_a_starting_process_reads_them() -> dict[str, Any]:
    """hallmark/settings.py run again in a namespace of its own (Django's settings untouched);
    a subprocess per value would cost seconds each."""
    from hallmark import settings as project_settings

    path = project_settings.__file__
    namespace: dict[str, Any] = {"__name__": "hallmark.settings_probe", "__file__": path}
    exec(compile(Path(path).read_text(), path, "exec"), namespace)
    return namespace


def _get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _wait_ready(url: str, expect: int, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            status, body = _get(url)
            last = (status, body)
            if status == expect:
                return body
        except OSError as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer {expect}: {last}")


@pytest.mark.integration
def test_readyz_turns_503_when_the_database_stops_and_back_when_it_returns(tmp_path: Path) -> None:
    """A web process on a private PostgreSQL: stop the server, /readyz says which check failed;
    start it again, /readyz is ready again without restarting the web process."""
    if not (_port_free(PG_PORT) and _port_free(WEB_PORT)):
        pytest.skip("this test's private ports are taken")
    postgres = PrivatePostgres(PG_PORT)
    web: subprocess.Popen[bytes] | None = None
    try:
        postgres.start()
        env = {**os.environ, "DATABASE_URL": postgres.url, "HALLMARK_READY_TIMEOUT": "2"}
        env.pop("CELERY_BROKER_URL", None)  # the run's own filesystem broker
        log = open(tmp_path / "web.log", "wb")  # noqa: SIM115 - closed below
        web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "hallmark.wsgi", "--bind", f"127.0.0.1:{WEB_PORT}", "--workers", "1"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{WEB_PORT}/readyz"
        assert _wait_ready(url, 200)["checks"]["database"] == "ok"

        postgres.stop()
        started = time.monotonic()
        body = _wait_ready(url, 503, timeout=10)
        assert time.monotonic() - started < 5
        assert body["status"] == "not ready"
        assert body["checks"]["database"].startswith("failed (")
        assert {k: v for k, v in body["checks"].items() if k != "database"} == {
            "broker": "ok",
            "signer": "ok",
            "storage": "ok",
        }
        assert _get(f"http://127.0.0.1:{WEB_PORT}/healthz") == (200, {"status": "ok"})

        postgres.start()
        assert _wait_ready(url, 200, timeout=15)["status"] == "ready"
    finally:
        if web is not None:
            web.kill()
            web.wait(timeout=30)
        postgres.remove()
