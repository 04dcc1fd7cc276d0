"""A running job's heartbeat, progress and cancellation checks, owned by the worker running it.

Part of the worker side of a job (``generation.runner``); the only other writer of
``GenerationJob`` besides ``generation.services`` and the runner (``GenerationJob.WRITERS``).
Also the worker's handling of its database connection through a restart
(``drop_broken_connection``, ``retrying_database``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
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
    on something that reports nothing
    (``_Heartbeats``: one thread for all the process's jobs).
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

    def start(self) -> JobMonitor:
        """Keep the job's heartbeat fresh (the process's heartbeat thread); returns the monitor."""
        _heartbeats.add(self)
        return self

    def stop(self) -> None:
        """Stop the heartbeat (the job is finished or handed to storing's own end): when this
        returns, no heartbeat for the job is being written, nor will be."""
        _heartbeats.remove(self)

    def _mine(self) -> QuerySet[GenerationJob]:
        return _still_owned([self.job_id], self.me)

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


class _Heartbeats:
    """One thread per process keeps the heartbeat of every job the process is running.

    Every ``HALLMARK_HEARTBEAT_SECONDS`` it writes ``heartbeat_at`` for all of them, one
    conditional UPDATE per worker name (still this worker's, still running), so a job takes a
    set membership instead of a thread of its own (starting and joining one cost more CPU than
    the rest of a short job's monitoring). A job shorter than the period is often never beaten
    for at all: its claim wrote the heartbeat. A job whose row another transaction holds is
    skipped that period. The thread holds a database connection only while it writes, and is
    started again in a forked child, which inherits no threads.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every job and the thread: at start, and in a forked child (whose parent's
        jobs and thread are not its own)."""
        self._changed = threading.Condition()
        self._monitors: set[JobMonitor] = set()
        self._writing: frozenset[JobMonitor] = frozenset()
        self._thread: threading.Thread | None = None

    def add(self, monitor: JobMonitor) -> None:
        with self._changed:
            self._monitors.add(monitor)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="heartbeats", daemon=True)
                self._thread.start()

    def remove(self, monitor: JobMonitor) -> None:
        with self._changed:
            self._monitors.discard(monitor)
            # A write that includes the job may be under way: wait for it (bounded, as a
            # thread's join was), so that a job left for recovery gets no beat after this.
            self._changed.wait_for(lambda: monitor not in self._writing, timeout=5)

    def _run(self) -> None:
        while True:
            time.sleep(settings.HALLMARK_HEARTBEAT_SECONDS)
            with self._changed:
                self._writing = frozenset(self._monitors)
            try:
                if self._writing:
                    self._write(self._writing)
            finally:
                with self._changed:
                    self._writing = frozenset()
                    self._changed.notify_all()

    @staticmethod
    def _write(monitors: frozenset[JobMonitor]) -> None:
        by_worker: dict[str, set[Any]] = defaultdict(set)
        for monitor in monitors:
            by_worker[monitor.me].add(monitor.job_id)
        try:
            for me, job_ids in by_worker.items():
                mine = _still_owned(job_ids, me)
                with transaction.atomic():
                    # A row another transaction holds (the job's end or store) is skipped, not
                    # waited for: one UPDATE of all the jobs would stop every other job's beat
                    # (and each stop()) behind that lock, and, holding the rows it has updated
                    # while it waits, could deadlock with a transaction locking them in another
                    # order (a group store locks by pk). It is beaten the next period.
                    free = list(
                        mine.select_for_update(skip_locked=True).order_by("pk").values_list("pk", flat=True)
                    )
                    if free:
                        mine.filter(pk__in=free).update(heartbeat_at=timezone.now())
        except Exception:
            # A database restart or a lock timeout: the next period tries again.
            logger.warning("heartbeat of %d jobs failed; retrying", len(monitors), exc_info=True)
        finally:
            connection.close()


_heartbeats = _Heartbeats()
os.register_at_fork(after_in_child=_heartbeats.reset)


def _still_owned(job_ids: Iterable[Any], me: str) -> QuerySet[GenerationJob]:
    """The jobs among ``job_ids`` that worker ``me`` still runs: the only ones its heartbeat and
    progress may write (one presumed dead must not write over the worker that took them over)."""
    return GenerationJob.objects.filter(pk__in=list(job_ids), worker=me, status=JobStatus.RUNNING)


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
