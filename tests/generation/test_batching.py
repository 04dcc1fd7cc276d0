"""Compatible queued jobs run as one model call, each keeping its own seed, assets, audit and end."""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from assets.models import Asset
from generation import batching, claim, recovery, runner
from generation import services as generation_services
from generation.models import GenerationJob
from governance.audit_trail import verify_audit_chain
from governance.models import AuditEvent
from hallmark.sdk import GenerationRequest, GenerationResult, Plugin
from plugins.builtin.procedural import ProceduralPlugin
from tests.conftest import wait_for


class CallLog:
    """Which jobs each model call got: one ``generate_batch`` call, or one lone ``run_claimed``."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self._lock = threading.Lock()

    def add(self, job_ids: list[str]) -> None:
        with self._lock:
            self.calls.append(job_ids)


@pytest.fixture(autouse=True)
def procedural_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """The procedural plugin, declared able to batch 8 jobs (through the SDK's default
    ``generate_batch``, one drawing after another: the same images as lone jobs)."""
    monkeypatch.setattr(
        ProceduralPlugin, "capabilities", dataclasses.replace(ProceduralPlugin.capabilities, max_batch=8)
    )


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> CallLog:
    log = CallLog()
    batch = ProceduralPlugin.generate_batch
    lone = batching.run_claimed

    def counted_batch(
        self: ProceduralPlugin,
        requests: Sequence[GenerationRequest],
        on_progress: Sequence[Callable[[int, int], None]],
        is_cancelled: Sequence[Callable[[], bool]],
    ) -> list[GenerationResult | None]:
        log.add([request.job_id for request in requests])
        return batch(self, requests, on_progress, is_cancelled)

    def counted_lone(claimed: claim.Claimed, me: str, **kwargs: Any) -> None:
        log.add([str(claimed.job.pk)])
        lone(claimed, me, **kwargs)

    monkeypatch.setattr(ProceduralPlugin, "generate_batch", counted_batch)
    monkeypatch.setattr(batching, "run_claimed", counted_lone)
    return log


def submit_together(user: Any, requests: list[dict[str, Any]]) -> list[str]:
    """Submit jobs in one transaction: every row is queued before the first message is sent."""
    with transaction.atomic():
        jobs = [
            generation_services.submit(acting_user=user, plugin_id="procedural", fields=fields)[0]
            for fields in requests
        ]
    return [str(job.pk) for job in jobs]


def finished(job_ids: list[str], timeout: float = 90) -> list[GenerationJob]:
    wait_for(
        lambda: (
            GenerationJob.objects.filter(pk__in=job_ids, finished_at__isnull=False).count() == len(job_ids)
        ),
        timeout=timeout,
    )
    by_id = {str(job.pk): job for job in GenerationJob.objects.filter(pk__in=job_ids)}
    return [by_id[job_id] for job_id in job_ids]


def small(prompt: str, seed: int, **extra: Any) -> dict[str, Any]:
    return {"prompt": prompt, "seed": seed, "width": 64, "height": 64, "params": {"steps": 1}, **extra}


@pytest.mark.integration
def test_eight_compatible_jobs_take_two_calls_and_each_keeps_its_own_everything(
    celery_worker, users, procedural, calls, settings
) -> None:
    settings.HALLMARK_BATCH_MAX = 4
    requests = [small(f"poster number {n}", 100 + n) for n in range(8)]
    job_ids = submit_together(users["creator"], requests)
    jobs = finished(job_ids)

    assert [job.status for job in jobs] == ["succeeded"] * 8
    assert len(calls.calls) <= math.ceil(8 / 4), calls.calls
    assert sorted(job_id for call in calls.calls for job_id in call) == sorted(job_ids)
    assert max(len(call) for call in calls.calls) == 4
    for job, fields in zip(jobs, requests, strict=True):
        asset = Asset.objects.get(job=job)
        assert asset.seed == fields["seed"] and job.attempts == 1
        assert job.progress_step == job.progress_total == 1
        assert AuditEvent.objects.filter(action="generation.succeeded", target_id=str(job.pk)).count() == 1
        assert AuditEvent.objects.filter(action="asset.created", target_id=str(asset.pk)).count() == 1
    assert verify_audit_chain().ok

    # The same requests, unbatched, give the same pixels per job.
    settings.HALLMARK_BATCH_MAX = 1
    calls.calls.clear()
    alone = finished(submit_together(users["creator"], requests))
    assert all(len(call) == 1 for call in calls.calls) and len(calls.calls) == 8
    for batched_job, lone_job in zip(jobs, alone, strict=True):
        assert Asset.objects.get(job=batched_job).pixel_sha256 == Asset.objects.get(job=lone_job).pixel_sha256


@pytest.mark.integration
def test_incompatible_jobs_are_not_batched_together(
    celery_worker, users, procedural, calls, settings
) -> None:
    settings.HALLMARK_BATCH_MAX = 8
    requests = [
        small("a", 1),
        small("b", 2, width=128, height=128),
        small("c", 3, params={"steps": 2}),
        small("d", 4, negative_prompt="blurry"),
        small("e", 5, num_images=2),
        small("f", 6, params={"steps": 1, "palette": "sea"}),
        small("g", 7),
    ]
    job_ids = submit_together(users["creator"], requests)
    jobs = finished(job_ids)
    assert all(job.status == "succeeded" for job in jobs)
    # Only the two plain 64x64 one-step jobs (a and g) may share a call.
    together = [set(call) for call in calls.calls if len(call) > 1]
    assert together in ([], [{job_ids[0], job_ids[6]}]), calls.calls
    assert sum(len(call) for call in calls.calls) == 7


@pytest.mark.integration
def test_a_job_cancelled_in_a_batch_is_dropped_and_the_others_finish(
    celery_worker, users, procedural, calls, settings
) -> None:
    settings.HALLMARK_BATCH_MAX = 4
    # The procedural plugin draws the jobs of a batch one after another: 0.8 s each here.
    requests = [small(f"slow {n}", n, params={"steps": 4, "step_delay": 0.2}) for n in range(4)]
    job_ids = submit_together(users["creator"], requests)
    wait_for(lambda: GenerationJob.objects.get(pk=job_ids[0]).progress_step >= 1, timeout=30)
    generation_services.cancel(job_ids[2], acting_user=users["creator"])
    jobs = finished(job_ids)

    assert len(calls.calls) == 1 and len(calls.calls[0]) == 4, calls.calls
    assert [job.status for job in jobs] == ["succeeded", "succeeded", "cancelled", "succeeded"]
    assert not Asset.objects.filter(job_id=job_ids[2]).exists()
    assert Asset.objects.filter(job_id__in=job_ids).count() == 3
    assert AuditEvent.objects.filter(action="generation.cancelled", target_id=job_ids[2]).count() == 1


class WorkerLost(BaseException):
    """Stands for the worker process dying in the middle of the model call."""


def test_a_worker_lost_mid_batch_leaves_every_job_to_recovery(
    users, procedural, settings, monkeypatch
) -> None:
    settings.HALLMARK_BATCH_MAX = 4
    job_ids = submit_together(users["creator"], [small(f"crash {n}", n) for n in range(3)])

    def dies(*_args: Any, **_kwargs: Any) -> None:
        raise WorkerLost()

    monkeypatch.setattr(ProceduralPlugin, "generate_batch", dies)
    with pytest.raises(WorkerLost):
        batching.run(job_ids[0])
    lost = list(GenerationJob.objects.filter(pk__in=job_ids))
    assert {job.status for job in lost} == {"running"} and {job.attempts for job in lost} == {1}
    assert len({job.worker for job in lost}) == 1

    # Their own messages arrive meanwhile: taken already, nothing happens.
    for job_id in job_ids[1:]:
        batching.run(job_id)
    assert set(GenerationJob.objects.filter(pk__in=job_ids).values_list("status", flat=True)) == {"running"}

    # The heartbeats go stale; the sweep enqueues them again and a worker takes each over.
    monkeypatch.setattr(ProceduralPlugin, "generate_batch", Plugin.generate_batch)
    stale = timezone.now() - timedelta(seconds=settings.HALLMARK_JOB_STALE_AFTER + 5)
    GenerationJob.objects.filter(pk__in=job_ids).update(heartbeat_at=stale, enqueued_at=None)
    monkeypatch.setattr(generation_services, "enqueue", lambda job, **_: True)
    assert sorted(recovery.recover_stale_jobs()) == sorted(job_ids)
    for job_id in job_ids:
        runner.run(job_id)
    recovered = list(GenerationJob.objects.filter(pk__in=job_ids))
    assert {job.status for job in recovered} == {"succeeded"} and {job.attempts for job in recovered} == {2}
    assert Asset.objects.filter(job_id__in=job_ids).count() == 3


def test_batching_off_runs_each_job_alone(users, procedural, calls, settings) -> None:
    settings.HALLMARK_BATCH_MAX = 1
    job_ids = submit_together(users["creator"], [small(f"alone {n}", n) for n in range(3)])
    for job_id in job_ids:
        batching.run(job_id)
    assert calls.calls == [[job_id] for job_id in job_ids]
    assert set(GenerationJob.objects.filter(pk__in=job_ids).values_list("status", flat=True)) == {"succeeded"}


def test_a_promoted_job_is_never_batched(users, procedural, settings) -> None:
    """A job derived from an asset (lineage, ingredient, refinement) runs alone: it is never taken
    as a companion, and as a leader it takes none."""
    from generation.derivation import DerivedFrom

    settings.HALLMARK_BATCH_MAX = 8
    draft_job, _ = generation_services.submit(
        acting_user=users["creator"], plugin_id="procedural", fields=small("draft", 1)
    )
    runner.run(str(draft_job.pk))
    draft = Asset.objects.get(job=draft_job)
    with transaction.atomic():
        plain = [
            generation_services.submit(
                acting_user=users["creator"], plugin_id="procedural", fields=small(p, 2)
            )[0]
            for p in ("leader", "companion")
        ]
        promoted, _ = generation_services.submit(
            acting_user=users["creator"],
            plugin_id="procedural",
            fields=small("draft", 1),
            derived_from=DerivedFrom(str(draft.pk), "rerender", None),
        )
    leader = claim.claim_fast(str(plain[0].pk), "test-worker")
    assert leader is not None
    taken = claim.claim_companions(leader.job, "test-worker", 7, version=leader.job.plugin_version)
    assert [job.pk for job in taken] == [plain[1].pk]

    as_leader = claim.claim_fast(str(promoted.pk), "test-worker")
    assert as_leader is not None and batching.batch_limit(as_leader) == 1
