"""Shared fixtures: users in each role, API clients, an enabled plugin, real Celery workers."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.s3_server import Bucket, MotoServer, start_moto

# The run's own var dir (HALLMARK_VAR_DIR) is decided by tests/environment.py, a pytest plugin
# loaded before Django's settings are imported.
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _media_root(settings: Any, tmp_path: Path) -> None:
    """Each test stores files in its own folder; passwords hash fast (tests make many users)."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_api_rate_limits(settings: Any) -> None:
    """API rate limits count requests in a cache that outlives a test, and tests make requests
    by the hundred from one address as a handful of users: off here; the tests of the limits
    (tests/test_security_settings.py) set them. Login lockouts per account are counted in the
    database, which every test starts empty; failures per address are counted in the cache,
    which each test starts empty too."""
    from django.core.cache import cache

    settings.HALLMARK_API_THROTTLE_USER = None
    settings.HALLMARK_API_THROTTLE_ANON = None
    settings.HALLMARK_VERIFY_RATE = None
    cache.clear()


@pytest.fixture(autouse=True)
def _fresh_library_pages() -> None:
    """The asset list's page cache lives in the process and outlives a test; each test's
    database starts again, so each test starts with the cache empty."""
    from workspace.page_cache import PAGES

    PAGES.clear()


def make_user(username: str, *roles: str, superuser: bool = False) -> User:
    """A user in the given role groups."""
    user = User.objects.create_user(username=username, password="pw-" + username, is_superuser=superuser)
    for role in roles:
        user.groups.add(
            Group.objects.get_or_create(name=role)[0]
        )  # a flush between tests removes migration data
    return user


@pytest.fixture
def users(db: None) -> dict[str, User]:
    """One user per role, plus a user with no role and a second creator."""
    return {
        "viewer": make_user("vera", "viewer"),
        "creator": make_user("carl", "creator"),
        "creator2": make_user("cleo", "creator"),
        "reviewer": make_user("rita", "reviewer"),
        "admin": make_user("ada", "admin"),
        "nobody": make_user("nemo"),
    }


@pytest.fixture
def client_for(users: dict[str, User]) -> Callable[[str], APIClient]:
    """``client_for("creator")``: an API client authenticated by that user's token."""

    def build(role: str) -> APIClient:
        client = APIClient()
        token, _ = Token.objects.get_or_create(user=users[role])
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return build


@pytest.fixture
def enable_plugin(users: dict[str, User]) -> Callable[..., None]:
    """``enable_plugin("procedural", config={...})``: enable a plugin as the admin would."""
    from plugins import services

    def enable(plugin_id: str, config: dict[str, Any] | None = None) -> None:
        services.update_plugin(plugin_id, acting_user=users["admin"], enabled=True, config=config)

    return enable


@pytest.fixture
def procedural(enable_plugin: Callable[..., None]) -> str:
    """The procedural plugin, enabled."""
    enable_plugin("procedural")
    return "procedural"


def draft_asset(user: User, **fields: Any) -> Any:
    """Run a procedural job for ``user`` on this thread (no worker) and return its asset: by
    default "HARBOUR SIGN", 128 x 96, seed 41; ``fields`` add to or replace that request."""
    from assets.models import Asset
    from generation import runner, services

    job, _ = services.submit(
        acting_user=user,
        plugin_id="procedural",
        fields={"prompt": "HARBOUR SIGN", "width": 128, "height": 96, "seed": 41, **fields},
    )
    runner.run(str(job.pk))
    return Asset.objects.get(job=job)


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Poll until ``predicate()`` is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def all_plugin_queues() -> list[str]:
    from plugins import registry

    return [f"gen.{plugin_id}" for plugin_id in registry.discover()]


@pytest.fixture
def celery_worker(transactional_db: None) -> Iterator[Any]:
    """A real Celery worker (in this process, solo pool) on the configured broker, serving
    every plugin queue and the acceptance checks' queue. Tests using it commit for real (transactional_db), so the worker sees
    their rows. Queues are purged first so that messages left by earlier tests do not run
    against this test's data. (One worker per test: a session-wide worker would also take the
    jobs meant for the worker processes that crash tests start.)"""
    from celery.contrib.testing.worker import start_worker

    from generation.runner import drain_background_stores
    from hallmark.celery import app

    queues = [*all_plugin_queues(), "checks"]
    with app.connection_for_write() as conn:
        for name in queues:
            with contextlib.suppress(Exception):  # the queue may not exist yet
                conn.default_channel.queue_purge(name)
    with start_worker(
        app, pool="solo", concurrency=1, perform_ping_check=False, queues=queues, shutdown_timeout=30
    ) as worker:
        yield worker
        # Let the storage thread finish before the database is flushed under it.
        drain_background_stores()


def database_url_for_subprocess() -> str:
    """The URL of the test database this process uses, for worker subprocesses."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    user = s.get("USER") or ""
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


@pytest.fixture
def worker_process(
    transactional_db: None, tmp_path: Path, settings: Any
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start real ``celery worker`` processes against the test database; all are killed after."""
    started: list[subprocess.Popen[bytes]] = []

    def start(queues: list[str] | None = None, **extra_env: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "DATABASE_URL": database_url_for_subprocess(),
            "HALLMARK_MEDIA_ROOT": str(settings.MEDIA_ROOT),
            **extra_env,
        }
        log = open(tmp_path / f"worker-{len(started)}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
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
                ",".join(queues or all_plugin_queues()),
                "-l",
                "INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """A local S3-compatible server (moto's server mode) for the whole run, on a free port."""
    yield from start_moto(tmp_path_factory.mktemp("moto") / "moto_server.log")


@pytest.fixture
def s3_store(moto_server: MotoServer, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """Asset files in a fresh bucket of the local object store, as with ``HALLMARK_STORAGE=s3``:
    for this process (settings) and for the workers it starts (their environment)."""
    from hallmark.environment import media_storage

    bucket = Bucket(moto_server)
    moto_server.client().create_bucket(Bucket=bucket.name)
    for name, value in bucket.env.items():
        monkeypatch.setenv(name, value)
    settings.HALLMARK_STORAGE, default = media_storage()  # as settings.py reads it
    settings.STORAGES = {**settings.STORAGES, "default": default}
    return bucket


@pytest.fixture(scope="session", autouse=True)
def _c2pa_signer() -> None:
    """A development C2PA signer under the test var dir (made once), so every stored image is
    signed; worker subprocesses inherit HALLMARK_VAR_DIR and find the same files."""
    import io

    from django.core.management import call_command

    call_command("provenance_init", "--if-missing", stdout=io.StringIO())
