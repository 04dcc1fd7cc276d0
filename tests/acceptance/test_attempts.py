"""A request that names a checklist: its images are checked on the ``checks`` queue after they
are stored, and it tries again with a new seed until an image passes or attempts run out. A
real Celery worker serves the plugin queues and ``checks``."""

from __future__ import annotations

import pytest

from acceptance import checks
from acceptance.checks import Check, CheckContext, CheckOutcome
from acceptance.models import CheckResult
from generation.models import GenerationJob
from governance.models import AuditEvent
from tests.conftest import wait_for


class EvenSeed(Check):
    """Passes an image whose seed is even: fails for one seed, passes for the next."""

    type = "even_seed"

    def run(self, context: CheckContext) -> CheckOutcome:
        return CheckOutcome(context.asset.seed % 2 == 0, None, f"seed {context.asset.seed}")


def _checklist(client, checks_):
    response = client.post(
        "/api/v1/checklists/", {"name": f"list-{len(checks_)}", "checks": checks_}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def _finished_chain(first_id: str, count: int):
    """The attempts of ``first_id`` once ``count`` exist and the last one's images are checked."""
    jobs = list(GenerationJob.objects.filter(pk=first_id)) + list(
        GenerationJob.objects.filter(attempt_of_id=first_id).order_by("attempt_number")
    )
    if len(jobs) < count or not CheckResult.objects.filter(asset__job=jobs[-1]).exists():
        return None
    return jobs


@pytest.mark.integration
def test_fails_for_one_seed_then_passes_with_the_next(
    celery_worker, client_for, procedural, monkeypatch
) -> None:
    monkeypatch.setitem(checks.check_types(), "even_seed", EvenSeed)
    client = client_for("creator")
    checklist = _checklist(
        client, [{"type": "even_seed"}, {"type": "min_resolution", "width": 64, "height": 64}]
    )
    submitted = client.post(
        "/api/v1/generations/",
        {
            "plugin": "procedural",
            "prompt": "a sign",
            "width": 64,
            "height": 64,
            "seed": 41,
            "checklist": checklist,
            "max_attempts_to_pass": 4,
        },
        format="json",
    )
    assert submitted.status_code == 202, submitted.json()
    first_id = submitted.json()["id"]
    jobs = wait_for(lambda: _finished_chain(first_id, 2), timeout=60)
    assert [job.seed for job in jobs] == [41, 42] and [job.attempt_number for job in jobs] == [1, 2]
    assert (
        jobs[1].attempt_of_id == jobs[0].pk and jobs[1].checklist_version_id == jobs[0].checklist_version_id
    )
    first_results = CheckResult.objects.filter(asset__job=jobs[0])
    assert {(r.check_type, r.passed) for r in first_results} == {
        ("even_seed", False),
        ("min_resolution", True),
    }
    assert all(r.passed for r in CheckResult.objects.filter(asset__job=jobs[1]))
    # It passed: no third attempt, and both attempts stay, linked, in the API.
    assert not GenerationJob.objects.filter(attempt_of_id=first_id, attempt_number=3).exists()
    shown = client.get(f"/api/v1/generations/{first_id}/").json()
    assert shown["attempts_to_pass"] == [str(j.pk) for j in jobs] and shown["checklist"] == checklist
    later = client.get(f"/api/v1/generations/{jobs[1].pk}/").json()
    assert later["attempt_of"] == first_id and later["attempt_number"] == 2
    requested = AuditEvent.objects.get(action="generation.requested", target_id=str(jobs[1].pk))
    assert requested.data["attempt_of"] == first_id


@pytest.mark.integration
def test_attempts_exhausted_keeps_every_attempt(celery_worker, client_for, procedural) -> None:
    client = client_for("creator")
    checklist = _checklist(client, [{"type": "min_resolution", "width": 4096, "height": 4096}])
    submitted = client.post(
        "/api/v1/generations/",
        {
            "plugin": "procedural",
            "prompt": "tiny",
            "width": 64,
            "height": 64,
            "seed": 5,
            "num_images": 2,
            "checklist": checklist,
            "max_attempts_to_pass": 3,
        },
        format="json",
    )
    first_id = submitted.json()["id"]
    jobs = wait_for(lambda: _finished_chain(first_id, 3), timeout=90)
    # Each attempt's seeds start past every seed the one before used (image i uses seed + i).
    assert [job.seed for job in jobs] == [5, 7, 9]
    # Each image's results commit on their own: the last attempt's second image may still be
    # being checked when its first result appears.
    wait_for(lambda: CheckResult.objects.filter(asset__job=jobs[-1]).count() == 2)
    assert CheckResult.objects.filter(asset__job__in=jobs, passed=False).count() == 6
    assert GenerationJob.objects.filter(attempt_of_id=first_id).count() == 2


def test_request_fields_are_validated(client_for, procedural, db) -> None:
    client = client_for("creator")
    typography = _checklist(client, [{"type": "typography"}])

    def errors(**fields):
        body = {"plugin": "procedural", "prompt": "a sign", **fields}
        response = client.post("/api/v1/generations/", body, format="json")
        assert response.status_code == 400, response.json()
        return set(response.json()["errors"])

    assert errors(checklist=999999) == {"checklist"}
    assert errors(checklist="1") == {"checklist"}
    assert errors(checklist=typography) == {"expected_text"}
    assert errors(checklist=typography, expected_text="OPEN", max_attempts_to_pass=11) == {
        "max_attempts_to_pass"
    }
    assert errors(checklist=typography, expected_text="OPEN", max_attempts_to_pass=0) == {
        "max_attempts_to_pass"
    }
    assert errors(max_attempts_to_pass=2) == {"max_attempts_to_pass"}
    assert errors(checklist=typography, expected_text=5) == {"expected_text"}
    ok = client.post(
        "/api/v1/generations/",
        {
            "plugin": "procedural",
            "prompt": "OPEN",
            "checklist": typography,
            "expected_text": " OPEN ",
            "max_attempts_to_pass": 2,
        },
        format="json",
    )
    assert ok.status_code == 202
    body = ok.json()
    assert (
        body["expected_text"] == "OPEN"
        and body["max_attempts_to_pass"] == 2
        and body["checklist_version"] == 1
    )
    assert (
        body["attempt_number"] == 1
        and body["attempt_of"] is None
        and body["attempts_to_pass"] == [body["id"]]
    )


def test_no_next_attempt_when_the_plugin_was_disabled(users, procedural, enable_plugin, db) -> None:
    from acceptance import services as acceptance_services
    from generation import checking, runner, services
    from plugins import services as plugin_services

    checklist = acceptance_services.create_checklist(
        acting_user=users["creator"],
        name="big",
        checks=[{"type": "min_resolution", "width": 4096, "height": 64}],
    )
    job, _ = services.submit(
        acting_user=users["creator"],
        plugin_id="procedural",
        fields={
            "prompt": "x",
            "width": 64,
            "height": 64,
            "seed": 9,
            "checklist": checklist.pk,
            "max_attempts_to_pass": 2,
        },
    )
    runner.run(str(job.pk))
    plugin_services.update_plugin("procedural", acting_user=users["admin"], enabled=False)
    assert checking.run_checks(str(job.pk)) is None
    assert not GenerationJob.objects.filter(attempt_of=job).exists()
    assert CheckResult.objects.filter(asset__job=job, passed=False).count() == 1
    # Enabled again, a redelivered task makes the attempt (the results are not recorded twice).
    enable_plugin("procedural")
    attempt = checking.run_checks(str(job.pk))
    assert attempt is not None and attempt.seed == 10 and attempt.attempt_number == 2
    assert CheckResult.objects.filter(asset__job=job).count() == 1


def test_checks_the_broker_lost_are_sent_again_by_the_sweep(
    users, procedural, db, monkeypatch, settings, django_capture_on_commit_callbacks
) -> None:
    """The broker refused a job's checks when its images were stored: the maintenance sweep finds
    the job (no result for its checklist version) once it has waited long enough, while the
    checks queue is empty, and sends them again; once they ran, it is never sent again."""
    from datetime import timedelta

    from django.utils import timezone

    from acceptance import services as acceptance_services
    from generation import checking, recovery, runner, services

    checklist = acceptance_services.create_checklist(
        acting_user=users["creator"],
        name="small",
        checks=[{"type": "min_resolution", "width": 32, "height": 32}],
    )
    sent: list[str] = []
    monkeypatch.setattr(checking, "send_checks", lambda job_id: sent.append(job_id) or False)
    job, _ = services.submit(
        acting_user=users["creator"],
        plugin_id="procedural",
        fields={"prompt": "x", "width": 64, "height": 64, "seed": 9, "checklist": checklist.pk},
    )
    with django_capture_on_commit_callbacks(execute=True):
        runner.run(str(job.pk))
    assert sent == [str(job.pk)]  # the runner's send, refused by the broker
    assert not CheckResult.objects.filter(asset__job=job).exists()

    # Not yet: the job finished less than HALLMARK_REQUEUE_QUEUED_AFTER ago.
    assert recovery.resend_lost_checks() == []
    settings.HALLMARK_REQUEUE_QUEUED_AFTER = 0
    monkeypatch.setattr(recovery, "broker_queue_is_empty", lambda queue, long_queued: False)
    assert recovery.resend_lost_checks() == []  # the checks queue is busy: merely late
    monkeypatch.setattr(recovery, "broker_queue_is_empty", lambda queue, long_queued: queue == "checks")
    monkeypatch.setattr(checking, "send_checks", lambda job_id: sent.append(job_id) or True)
    assert recovery.resend_lost_checks() == [str(job.pk)]

    checking.run_checks(str(job.pk))
    assert CheckResult.objects.filter(asset__job=job).count() == 1
    assert recovery.resend_lost_checks() == []
    GenerationJob.objects.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(days=2))
    CheckResult.objects.filter(asset__job=job).delete()
    assert recovery.resend_lost_checks() == []  # outside the window
