"""What ``/readyz`` checks: the database, the broker, the signer, storage. Cheap and bounded.

A load balancer asks every few seconds, so each check is small (one ``SELECT 1``, one broker
connection, two file stats, one tiny write and delete), runs in its own thread under
``HALLMARK_READY_TIMEOUT``, and the answer is kept for a second: however often it is asked, a
process runs the checks at most once a second. The storage check's answer is kept longer
(``HELD_SECONDS``, 30 s): it writes, and on S3 that is a PUT and a DELETE, which a public
endpoint must not cost every second. It stays a write rather than a read of a fixed key
because "ready" means this host can store files: a read passes on a read-only mount, a full
disk or a bucket policy without PutObject, and a fixed key would have to exist first. Storage
becoming unwritable is then seen within 30 s. A check that hangs (a database host that
drops packets) counts as failed at the timeout; while it still hangs the next asks report it
failed at once instead of starting another thread, so a dead dependency cannot pile threads up.

The answer names each check and says ``ok``, ``timed out`` or the exception's class: never the
message, which may carry a URL with a password or a path. The log has the details.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection

from governance.provenance.c2pa_signing import signer_configured
from hallmark.celery import app

logger = logging.getLogger(__name__)

OK = "ok"
_CACHE_SECONDS = 1.0
# Checks whose answer is kept longer than the rest, in seconds (the module's docstring says why).
HELD_SECONDS: dict[str, float] = {"storage": 30.0}


def check_database() -> None:
    """One round trip on a connection of this thread's own (closed after)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connection.close()


def check_broker() -> None:
    """Connect to the broker (one attempt, bounded); the filesystem broker's folder is writable."""
    timeout = settings.HALLMARK_READY_TIMEOUT
    if app.conf.broker_url.startswith("filesystem"):
        folder = Path(app.conf.broker_transport_options["data_folder_in"])
        _probe_folder(folder)
        return
    options = {"max_retries": 0, "socket_timeout": timeout, "socket_connect_timeout": timeout}
    with app.connection_for_write(connect_timeout=timeout, transport_options=options) as conn:
        conn.ensure_connection(max_retries=0, timeout=max(1, round(timeout)))
        client = getattr(conn.default_channel, "client", None)
        ping = getattr(client, "ping", None)
        if callable(ping):  # Redis: the connection is lazy, a PING makes it real
            ping()


def check_signer() -> None:
    """The C2PA certificate chain and key are in place (workers cannot store images without)."""
    if not signer_configured():
        raise FileNotFoundError("no C2PA signer")


def check_storage() -> None:
    """A tiny file can be written and removed where assets are stored (whatever the backend).

    Run at most every ``HELD_SECONDS["storage"]`` per process.
    """
    name = default_storage.save(f".readyz/{uuid.uuid4().hex}", ContentFile(b"ok"))
    default_storage.delete(name)


def _probe_folder(folder: Path) -> None:
    probe = folder / f".readyz-{uuid.uuid4().hex}"
    probe.write_bytes(b"ok")
    probe.unlink()


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "broker": check_broker,
    "signer": check_signer,
    "storage": check_storage,
}


@dataclass(frozen=True)
class Readiness:
    """Each configured check's result (``ok`` or why not) and whether all passed."""

    checks: dict[str, str]

    @property
    def ready(self) -> bool:
        return all(result == OK for result in self.checks.values())


class _Prober:
    """Runs the checks in threads with a timeout, one in flight per check, answers cached."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, Future[None]] = {}
        self._cached: tuple[float, Readiness] | None = None
        # When a held check (HELD_SECONDS) last started, and its answer.
        self._held: dict[str, tuple[float, str]] = {}

    def readiness(self) -> Readiness:
        with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < _CACHE_SECONDS:
                return self._cached[1]
            names = settings.HALLMARK_READY_CHECKS
            held = {name: self._held[name][1] for name in names if self._still_held(name, now)}
            started = {name: self._start(name) for name in names if name not in held}
            deadline = now + settings.HALLMARK_READY_TIMEOUT
            fresh = {
                # A check still hanging from an earlier ask is not waited for again.
                name: _result(name, future, now if earlier else deadline)
                for name, (future, earlier) in started.items()
            }
            for name, result in fresh.items():
                if name in HELD_SECONDS:
                    self._held[name] = (now, result)
            answer = Readiness({name: held[name] if name in held else fresh[name] for name in names})
            self._cached = (time.monotonic(), answer)
            return answer

    def _still_held(self, name: str, now: float) -> bool:
        last = self._held.get(name)
        return last is not None and now - last[0] < HELD_SECONDS.get(name, 0.0)

    def _start(self, name: str) -> tuple[Future[None], bool]:
        """The check's future, and whether it is one an earlier ask started and still runs."""
        running = self._running.get(name)
        if running is not None and not running.done():
            return running, True
        future: Future[None] = Future()

        def work() -> None:
            try:
                CHECKS[name]()
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(None)

        threading.Thread(target=work, name=f"hallmark-readyz-{name}", daemon=True).start()
        self._running[name] = future
        return future, False

    def forget(self) -> None:
        """Drop the cached answers, held ones too (tests, and after a dependency was fixed by hand)."""
        with self._lock:
            self._cached = None
            self._held.clear()


def _result(name: str, future: Future[None], deadline: float) -> str:
    try:
        future.result(timeout=max(0.0, deadline - time.monotonic()))
    except FutureTimeout:
        logger.warning("readiness: %s check timed out", name)
        return "timed out"
    except Exception as exc:
        logger.warning("readiness: %s check failed: %s", name, exc, exc_info=exc)
        return f"failed ({type(exc).__name__})"
    return OK


_prober = _Prober()


def readiness() -> Readiness:
    """The readiness of this process's dependencies (cached for a second)."""
    return _prober.readiness()


def forget_cached() -> None:
    """Make the next ``readiness()`` run the checks again."""
    _prober.forget()
