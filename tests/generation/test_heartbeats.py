"""The process's one heartbeat thread keeps every running job's heartbeat fresh."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from generation import job_monitor, runner, services
from generation.models import GenerationJob

pytestmark = pytest.mark.django_db(transaction=True)  # the heartbeat thread has its own connection


def _claimed(users, me: str) -> GenerationJob:
    job, _ = services.submit(
        acting_user=users["creator"],
        plugin_id="procedural",
        fields={"prompt": "beat", "width": 64, "height": 64},
    )
    claimed = runner._claim(str(job.pk), me)
    assert claimed is not None
    return claimed


def _age_heartbeats(jobs: list[GenerationJob]) -> None:
    long_ago = timezone.now() - timedelta(hours=1)
    GenerationJob.objects.filter(pk__in=[job.pk for job in jobs]).update(heartbeat_at=long_ago)


def _heartbeat(job: GenerationJob):
    return GenerationJob.objects.get(pk=job.pk).heartbeat_at


def _wait_fresh(job: GenerationJob, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _heartbeat(job) > timezone.now() - timedelta(minutes=1):
            return True
        time.sleep(0.02)
    return False


def test_one_thread_beats_for_every_job_and_not_after_stop(users, procedural, settings) -> None:
    settings.HALLMARK_HEARTBEAT_SECONDS = 0.05
    jobs = [_claimed(users, "w:1"), _claimed(users, "w:1"), _claimed(users, "w:2")]
    monitors = [job_monitor.JobMonitor(job).start() for job in jobs]
    try:
        assert [(m in job_monitor._heartbeats._monitors) for m in monitors] == [True, True, True]
        _age_heartbeats(jobs)
        assert all(_wait_fresh(job) for job in jobs)  # two workers' names, one thread
        assert [t.name for t in threading.enumerate()].count("heartbeats") == 1

        monitors[0].stop()
        assert monitors[0] not in job_monitor._heartbeats._monitors
        _age_heartbeats(jobs)
        assert _wait_fresh(jobs[1])
        time.sleep(0.2)  # several periods
        assert _heartbeat(jobs[0]) < timezone.now() - timedelta(minutes=30)  # stopped: never again
    finally:
        for monitor in monitors:
            monitor.stop()


def test_the_heartbeat_never_touches_a_job_another_worker_took_over(users, procedural, settings) -> None:
    settings.HALLMARK_HEARTBEAT_SECONDS = 0.05
    job, other = _claimed(users, "old:1"), _claimed(users, "old:1")
    monitors = [job_monitor.JobMonitor(job).start(), job_monitor.JobMonitor(other).start()]
    try:
        GenerationJob.objects.filter(pk=job.pk).update(worker="new:2")
        _age_heartbeats([job, other])
        assert _wait_fresh(other)
        time.sleep(0.2)
        assert _heartbeat(job) < timezone.now() - timedelta(minutes=30)
    finally:
        for monitor in monitors:
            monitor.stop()


def test_a_locked_job_row_does_not_hold_up_the_heartbeat_of_the_others(
    users: dict[str, Any], procedural: str, settings: Any
) -> None:
    """One job's row locked by a transaction (its end or its store, waiting for the audit
    chain's head) must not stop the heartbeat of the process's other jobs: they would go stale
    together and be taken over while running, and a job's stop() would wait on that lock."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite locks the whole database for a write, not a row")
    settings.HALLMARK_HEARTBEAT_SECONDS = 0.05
    locked, other = _claimed(users, "w:1"), _claimed(users, "w:1")
    monitors = [job_monitor.JobMonitor(locked).start(), job_monitor.JobMonitor(other).start()]
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                GenerationJob.objects.select_for_update().get(pk=locked.pk)
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(5)
        _age_heartbeats([other])
        assert _wait_fresh(other)
    finally:
        release.set()
        holder.join()
        for monitor in monitors:
            monitor.stop()
