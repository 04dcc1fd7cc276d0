"""What a job's page shows of its checklist: each image's check results and every attempt of
the request to pass (``generation.checking`` makes the attempts; ``acceptance`` records the
results). Reads only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from acceptance.models import CheckResult
from assets.models import Asset
from generation.models import GenerationJob, JobStatus


@dataclass(frozen=True)
class ImageChecks:
    """One image of the job and its results (``passed`` None while its checks are pending)."""

    asset: Asset
    results: tuple[CheckResult, ...]
    passed: bool | None


@dataclass(frozen=True)
class Attempt:
    """One attempt of the request: its job, and whether an image of it passed (None: not known
    yet, the job still running or its images being checked)."""

    job_id: Any
    number: int
    status: str
    passed: bool | None


@dataclass(frozen=True)
class JobChecks:
    """A job's checklist, its images' results and the attempts of its request."""

    checklist_name: str
    version: int
    expected_text: str
    max_attempts: int
    images: tuple[ImageChecks, ...]
    attempts: tuple[Attempt, ...]

    @property
    def pending(self) -> bool:
        """Whether an attempt is still running or being checked (the page keeps refreshing)."""
        return any(attempt.passed is None for attempt in self.attempts)


def job_checks(job: GenerationJob) -> JobChecks | None:
    """The checks of ``job``; None for a job that named no checklist."""
    version = job.checklist_version
    if version is None:
        return None
    first_id = job.attempt_of_id or job.pk
    chain = list(
        GenerationJob.objects.filter(Q(pk=first_id) | Q(attempt_of_id=first_id)).order_by("attempt_number")
    )
    assets = list(Asset.objects.live().filter(job__in=[a.pk for a in chain]).order_by("index_in_job"))
    results: dict[Any, list[CheckResult]] = {}
    for result in CheckResult.objects.filter(asset__in=assets, checklist_version=version).order_by(
        "check_index"
    ):
        results.setdefault(result.asset_id, []).append(result)
    expected = len(version.checks)

    def verdict(asset: Asset) -> bool | None:
        got = results.get(asset.pk, [])
        if len(got) < expected:
            return None
        return all(result.passed for result in got)

    images = tuple(
        ImageChecks(asset, tuple(results.get(asset.pk, [])), verdict(asset))
        for asset in assets
        if asset.job_id == job.pk
    )
    attempts = []
    for attempt in chain:
        verdicts = [verdict(asset) for asset in assets if asset.job_id == attempt.pk]
        passed: bool | None
        if attempt.status != JobStatus.SUCCEEDED:
            passed = None if not attempt.is_terminal else False
        elif any(v is True for v in verdicts):
            passed = True
        else:
            passed = None if any(v is None for v in verdicts) else False
        attempts.append(Attempt(attempt.pk, attempt.attempt_number, attempt.status, passed))
    return JobChecks(
        checklist_name=version.checklist.name,
        version=version.number,
        expected_text=job.expected_text,
        max_attempts=job.max_attempts_to_pass,
        images=images,
        attempts=tuple(attempts),
    )
