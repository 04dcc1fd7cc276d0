"""The storage thread of a worker process: stores run there while the worker takes its next job."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

from django.db import close_old_connections

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: How many generated jobs may wait for a worker's storage thread (``BackgroundStores``).
STORE_QUEUE_LIMIT = 8


class BackgroundStores(Generic[T]):
    """One storage thread per worker process, with at most ``limit`` jobs waiting for it.

    When the thread is free it takes every job waiting and hands them to ``store_group`` in
    one call, so that jobs which finished generating while it was busy are stored together
    (one commit for all: ``generation.storing.store_group``). The limit is back-pressure: when
    storing falls behind, ``submit`` blocks the worker before it generates more images than
    memory can hold.
    """

    def __init__(self, store_group: Callable[[Sequence[T]], None], *, limit: int = STORE_QUEUE_LIMIT) -> None:
        self._store_group = store_group
        self._slots = threading.BoundedSemaphore(limit)
        self._waiting: list[T] = []
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, item: T) -> None:
        """Queue ``item`` for the storage thread (blocks while ``limit`` jobs wait)."""
        self._slots.acquire()
        with self._lock:
            self._waiting.append(item)
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hallmark-store")
            # One task per item; a task finding nothing waiting (an earlier one took its item
            # with the others) returns at once.
            self._executor.submit(self._run_waiting)

    def _run_waiting(self) -> None:
        with self._lock:
            group, self._waiting = self._waiting, []
        if not group:
            return
        try:
            self._store_group(group)
        except Exception:
            # Nobody reads the Future: say it here. The jobs stay running and are recovered.
            logger.exception("background store failed")
        finally:
            # Kept for the next store unless broken or older than DATABASE_CONN_MAX_AGE.
            close_old_connections()
            for _ in group:
                self._slots.release()

    def drain(self) -> None:
        """Wait for every pending store (worker shutdown)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
