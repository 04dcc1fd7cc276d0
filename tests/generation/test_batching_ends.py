"""Each job of a batch ends as it would alone, even when another job's end raises: a store, a
cancel or a failure that cannot be recorded (the database gone for longer than the worker
waits) stops only that job's heartbeat, and never keeps the jobs after it from ending."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from django.db import IntegrityError

from assets import services as asset_services
from generation import batching, job_end, job_monitor, runner, storing
from generation.models import GenerationJob
from hallmark.sdk import GenerationRequest, GenerationResult, PluginError
from plugins.builtin.procedural import ProceduralPlugin
from tests.generation.test_batching import small, submit_together

pytestmark = pytest.mark.django_db(transaction=True)


class CannotRecord(RuntimeError):
    """Stands for the database refusing the doomed job's end for longer than the worker retries."""


@pytest.fixture(autouse=True)
def procedural_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """The procedural plugin, declared able to batch (through the SDK's default generate_batch)."""
    monkeypatch.setattr(
        ProceduralPlugin, "capabilities", dataclasses.replace(ProceduralPlugin.capabilities, max_batch=8)
    )


def _heartbeats(job_ids: list[str]) -> list[str]:
    """The jobs among ``job_ids`` whose heartbeat this process still keeps."""
    beating = {str(monitor.job_id) for monitor in job_monitor._heartbeats._monitors}
    return [job_id for job_id in job_ids if job_id in beating]


def _doom_store(monkeypatch: pytest.MonkeyPatch, doomed: str) -> None:
    """The doomed job's images cannot be stored, and its failure cannot be recorded either."""
    real_create, real_fail = asset_services.create_assets_of_jobs, job_end.fail_or_cancel

    def create(entries: Sequence[asset_services.JobAssets]) -> Any:
        if any(str(entry.job.pk) == doomed for entry in entries):
            raise IntegrityError("cannot store this")
        return real_create(entries)

    def fail_or_cancel(job: GenerationJob, *args: Any, **kwargs: Any) -> None:
        if str(job.pk) == doomed:
            raise CannotRecord()
        real_fail(job, *args, **kwargs)

    monkeypatch.setattr(asset_services, "create_assets_of_jobs", create)
    monkeypatch.setattr(storing, "fail_or_cancel", fail_or_cancel)


def _doom_end(monkeypatch: pytest.MonkeyPatch, doomed: str) -> None:
    """The doomed job's end (cancelled or failed, after the call) cannot be recorded."""
    real = job_end.fail_or_cancel

    def fail_or_cancel(job: GenerationJob, *args: Any, **kwargs: Any) -> None:
        if str(job.pk) == doomed:
            raise CannotRecord()
        real(job, *args, **kwargs)

    monkeypatch.setattr(runner, "_fail_or_cancel", fail_or_cancel)


def _cancel_in_call(monkeypatch: pytest.MonkeyPatch, doomed: str) -> None:
    """The doomed job is cancelled during the call (no result) and its cancel cannot be recorded."""
    real = ProceduralPlugin.generate_batch

    def generate_batch(
        self: ProceduralPlugin,
        requests: Sequence[GenerationRequest],
        on_progress: Sequence[Callable[[int, int], None]],
        is_cancelled: Sequence[Callable[[], bool]],
    ) -> list[GenerationResult | None]:
        results = real(self, requests, on_progress, is_cancelled)
        return [None if r.job_id == doomed else result for r, result in zip(requests, results, strict=True)]

    monkeypatch.setattr(ProceduralPlugin, "generate_batch", generate_batch)
    _doom_end(monkeypatch, doomed)


def _call_fails(monkeypatch: pytest.MonkeyPatch, doomed: str) -> None:
    """The model call fails for the whole batch, and the doomed job's failure cannot be recorded."""

    def generate_batch(self: ProceduralPlugin, *_args: Any) -> list[GenerationResult | None]:
        raise PluginError("the model ran out of memory", code="oom")

    monkeypatch.setattr(ProceduralPlugin, "generate_batch", generate_batch)
    _doom_end(monkeypatch, doomed)


@pytest.mark.parametrize(
    ("doom", "others"),
    [(_doom_store, "succeeded"), (_cancel_in_call, "succeeded"), (_call_fails, "failed")],
    ids=["its store", "its cancel", "its failure"],
)
def test_one_job_whose_end_raises_does_not_strand_the_rest_of_its_batch(
    users: dict[str, Any],
    procedural: str,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    doom: Callable[[pytest.MonkeyPatch, str], None],
    others: str,
) -> None:
    """Stored in the foreground (background storing off), the leader's end raises: the other
    jobs still end as they would alone, every heartbeat stops (so the leader goes stale and
    the recovery sweep takes it over), and the error is raised to the task, as alone."""
    settings.HALLMARK_BATCH_MAX = 4
    job_ids = submit_together(users["creator"], [small(f"batch {n}", n) for n in range(3)])
    doom(monkeypatch, job_ids[0])

    with pytest.raises(CannotRecord):
        batching.run(job_ids[0], store_in_background=False)

    status = {
        str(pk): s for pk, s in GenerationJob.objects.filter(pk__in=job_ids).values_list("pk", "status")
    }
    assert [status[job_id] for job_id in job_ids] == ["running", others, others]
    assert _heartbeats(job_ids) == []


def test_a_refused_job_whose_failure_cannot_be_recorded_does_not_fail_the_rest_of_its_batch(
    users: dict[str, Any], procedural: str, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job whose request no longer passes fails alone before the call; when that failure
    cannot be recorded either, it is left running for recovery (its heartbeat stopped), the
    other jobs still run and are stored as they would alone, and the error reaches the task."""
    settings.HALLMARK_BATCH_MAX = 4
    prompts = ["a prompt that was accepted but is now over the operator's new limit", "short", "short too"]
    job_ids = submit_together(users["creator"], [small(p, n) for n, p in enumerate(prompts)])
    settings.HALLMARK_MAX_PROMPT_LENGTH = 20  # lowered while the jobs waited
    _doom_end(monkeypatch, job_ids[0])

    with pytest.raises(CannotRecord):
        batching.run(job_ids[0], store_in_background=False)

    jobs = {str(job.pk): job for job in GenerationJob.objects.filter(pk__in=job_ids)}
    assert [jobs[job_id].status for job_id in job_ids] == ["running", "succeeded", "succeeded"], [
        (jobs[job_id].status, jobs[job_id].error) for job_id in job_ids
    ]
    assert _heartbeats(job_ids) == []
