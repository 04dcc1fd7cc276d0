"""The job page's checks panel keeps refreshing until the job and every attempt to pass its
checklist are final: never while one attempt has been judged and the next is still to come."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import OperationalError

from acceptance.models import CheckResult
from generation import checking, runner, services
from generation.models import GenerationJob
from tests.generation.page_helpers import logged_in

POLLS = 'hx-trigger="every 1s"'


def _failing_job(users: dict[str, Any], attempts: int) -> GenerationJob:
    """A stored job whose one image fails its checklist, with ``attempts`` attempts to pass."""
    from acceptance import services as acceptance_services

    big = acceptance_services.create_checklist(
        acting_user=users["creator"],
        name="Big",
        checks=[{"type": "min_resolution", "width": 4096, "height": 64}],
    )
    job, _ = services.submit(
        acting_user=users["creator"],
        plugin_id="procedural",
        fields={
            "prompt": "tiny",
            "width": 64,
            "height": 64,
            "seed": 5,
            "checklist": big.pk,
            "max_attempts_to_pass": attempts,
        },
    )
    runner.run(str(job.pk))
    return job


def test_the_panel_polls_while_the_next_attempt_is_still_to_be_submitted(
    users: dict[str, Any], procedural: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checks task judged the image (failed) and the database went away before the next
    attempt was submitted: the task is retried and will submit it, so the panel must keep
    refreshing meanwhile instead of showing the request as over."""
    job = _failing_job(users, attempts=2)
    client = logged_in(users["viewer"])
    real_submit = services.submit

    def database_gone(**kwargs: Any) -> Any:
        raise OperationalError("the database went away")

    monkeypatch.setattr(services, "submit", database_gone)
    with pytest.raises(OperationalError):
        checking.run_checks(str(job.pk))
    assert not GenerationJob.objects.filter(attempt_of=job).exists()
    panel = client.get(f"/jobs/{job.pk}/progress/")
    assert panel.context["checks"].pending and POLLS in panel.content.decode()

    # The task's retry: the image judged and the next attempt submitted, still refreshing.
    monkeypatch.setattr(services, "submit", real_submit)
    second = checking.run_checks(str(job.pk))
    assert second is not None and second.attempt_number == 2
    assert CheckResult.objects.filter(asset__job=job, passed=False).count() == 1
    page = client.get(f"/jobs/{job.pk}/progress/").content.decode()
    assert "did not pass" in page and POLLS in page


def test_the_panel_stops_once_no_further_attempt_can_be_made(
    users: dict[str, Any], procedural: str, settings: Any
) -> None:
    """The next attempt is refused (the user's queue is full): the attempts end there, judged,
    and the panel stops refreshing (it never polls for an attempt that will not come)."""
    job = _failing_job(users, attempts=2)
    settings.HALLMARK_MAX_QUEUED_PER_USER = 1
    services.submit(acting_user=users["creator"], plugin_id="procedural", fields={"prompt": "busy"})
    assert checking.run_checks(str(job.pk)) is None
    assert CheckResult.objects.filter(asset__job=job, passed=False).count() == 1
    panel = logged_in(users["viewer"]).get(f"/jobs/{job.pk}/progress/")
    assert not panel.context["checks"].pending and POLLS not in panel.content.decode()
    assert "did not pass" in panel.content.decode()
