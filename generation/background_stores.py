"""The storage thread of a worker process: stores run there while the worker takes its next job."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections

logger = logging.getLogger(__name__)


class BackgroundStores:
    """One storage thread per worker process, with at most ``limit`` jobs waiting for it.

    The limit is back-pressure: when storing falls behind, ``submit`` blocks the worker
    before it generates more images than memory can hold.
    """

    def __init__(self, limit: int = 2) -> None:
        self._slots = threading.BoundedSemaphore(limit)
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, store: Callable[[], None]) -> None:
        self._slots.acquire()
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hallmark-store")
            self._executor.submit(self._run, store)

    def _run(self, store: Callable[[], None]) -> None:
        try:
            store()
        except Exception:
            # Nobody reads the Future: say it here. The job stays running and is recovered.
            logger.exception("background store failed")
        finally:
            # Kept for the next store unless broken or older than DATABASE_CONN_MAX_AGE.
            close_old_connections()
            self._slots.release()

    def drain(self) -> None:
        """Wait for every pending store (worker shutdown)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
