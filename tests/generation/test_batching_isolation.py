"""One job of a batch that is no longer valid fails alone: the other users' jobs that share its
model call still run, as each would have alone."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from assets.models import Asset
from generation import batching
from generation.models import GenerationJob
from plugins.builtin.procedural import ProceduralPlugin
from tests.generation.test_batching import small, submit_together

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def procedural_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """The procedural plugin, declared able to batch (through the SDK's default generate_batch)."""
    monkeypatch.setattr(
        ProceduralPlugin, "capabilities", dataclasses.replace(ProceduralPlugin.capabilities, max_batch=8)
    )


@pytest.mark.parametrize("invalid", [0, 1], ids=["the leader", "a companion"])
def test_a_job_no_longer_valid_fails_alone_and_its_batch_runs(
    users: dict[str, Any], procedural: str, settings: Any, invalid: int
) -> None:
    settings.HALLMARK_BATCH_MAX = 4
    prompts = ["short", "short too", "short again"]
    prompts[invalid] = "a prompt that was accepted but is now over the operator's new limit"
    job_ids = submit_together(users["creator"], [small(p, n) for n, p in enumerate(prompts)])
    settings.HALLMARK_MAX_PROMPT_LENGTH = 20  # lowered while the jobs waited

    batching.run(job_ids[0])

    jobs = {str(job.pk): job for job in GenerationJob.objects.filter(pk__in=job_ids)}
    refused = jobs[job_ids[invalid]]
    assert (refused.status, refused.error_code) == ("failed", "invalid")
    others = [jobs[job_id] for n, job_id in enumerate(job_ids) if n != invalid]
    assert {job.status for job in others} == {"succeeded"}, [(j.status, j.error) for j in others]
    assert Asset.objects.filter(job_id__in=[job.pk for job in others]).count() == 2
    assert not Asset.objects.filter(job_id=refused.pk).exists()
