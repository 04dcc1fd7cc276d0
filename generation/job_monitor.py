"""A running job's heartbeat, progress and cancellation checks, owned by the worker running it.

Part of the worker side of a job (``generation.runner``); the only other writer of
``GenerationJob`` besides ``generation.services`` and the runner (``GenerationJob.WRITERS``).
Also the worker's handling of its database connection through a restart
(``drop_broken_connection``, ``retrying_database``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.db.models import QuerySet
from django.utils import timezone

from generation.models import GenerationJob, JobStatus

logger = logging.getLogger(__name__)
T = TypeVar("T")


class JobMonitor:
    """Progress, heartbeat and cancellation for one running job.

    Both cost a database round trip, so each happens at most every ``interval`` seconds
    (0.1 s): progress is written at that rate (the last step is written with the job's end,
    ``latest``), and a cancellation check within ``interval`` of the previous one answers what
    that one found. The claim itself found no cancel, so a job shorter than ``interval`` makes
    no query here at all. A background thread keeps the heartbeat fresh while a plugin waits
    on something that reports nothing.
    """

    def __init__(self, job: GenerationJob, *, interval: float = 0.1) -> None:
        self.job_id = job.pk
        self.me = job.worker
        self.interval = interval
        #: The last ``(step, total)`` the plugin reported, written or not.
        self.latest: tuple[int, int] | None = None
        # The claim has just written the heartbeat and seen no cancel request.
        self._last_write = self._checked_at = time.monotonic()
        self._cancelled = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job.pk}", daemon=True)

    def start(self) -> JobMonitor:
        """Start the heartbeat thread; returns the monitor."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the heartbeat (the job is finished or handed to storing's own end)."""
        self._stop.set()
        self._thread.join(timeout=5)

    def _mine(self) -> QuerySet[GenerationJob]:
        # Only while this worker still owns the job: one presumed dead must not write over
        # the worker that took the job over.
        return GenerationJob.objects.filter(pk=self.job_id, worker=self.me, status=JobStatus.RUNNING)

    def _beat(self) -> None:
        while not self._stop.wait(settings.HALLMARK_HEARTBEAT_SECONDS):
            try:
                self._mine().update(heartbeat_at=timezone.now())
            except Exception:
                # A database restart or a lock timeout: keep beating, or the job is taken over.
                logger.warning("heartbeat for job %s failed; retrying", self.job_id, exc_info=True)
                connection.close()
        connection.close()

    def on_progress(self, step: int, total: int) -> None:
        """The plugin's ``on_progress``: record ``step`` of ``total`` (at most every ``interval``)."""
        self.latest = (step, total)
        now = time.monotonic()
        if now - self._last_write < self.interval:
            return
        self._last_write = now
        try:
            self._mine().update(progress_step=step, progress_total=total, heartbeat_at=timezone.now())
        except Exception:
            # Progress is best effort: a failed write must not fail the generation.
            logger.warning("progress of job %s not recorded", self.job_id, exc_info=True)
            drop_broken_connection()

    def is_cancelled(self) -> bool:
        """The plugin's ``is_cancelled``: whether a cancel was requested (False if unknown).

        Asked again within ``interval`` of the last check, it answers what that check found.
        """
        now = time.monotonic()
        if self._cancelled or now - self._checked_at < self.interval:
            return self._cancelled
        try:
            self._cancelled = GenerationJob.objects.filter(pk=self.job_id, cancel_requested=True).exists()
        except Exception:
            logger.warning("cancellation of job %s not checked", self.job_id, exc_info=True)
            drop_broken_connection()
            return False
        self._checked_at = now
        return self._cancelled


def drop_broken_connection() -> None:
    """Close this thread's database connection after a failed query, outside a transaction.

    Django reopens a connection only at the start and end of a task: after a database restart
    the job's own connection would stay dead for the rest of the job (progress frozen, a cancel
    unseen). Closed, it is opened anew by the next query, so progress and cancellation recover
    within a step of the database's return.
    """
    if not connection.in_atomic_block:
        connection.close()


def retrying_database(action: Callable[[], T], job: GenerationJob) -> T:
    """``action()``, tried again while the database is unreachable (restarting, failing over).

    Gives up after ``HALLMARK_JOB_STALE_AFTER`` seconds, when the job is taken over by another
    worker anyway; never retries inside a transaction (the caller's would be broken).
    """
    deadline = time.monotonic() + settings.HALLMARK_JOB_STALE_AFTER
    delay = 0.1
    while True:
        try:
            return action()
        except (OperationalError, InterfaceError):
            if connection.in_atomic_block or time.monotonic() + delay > deadline:
                raise
            logger.warning("job %s: database unavailable; retrying in %.1f s", job.id, delay, exc_info=True)
        drop_broken_connection()
        time.sleep(delay)
        delay = min(delay * 2, 1.0)
