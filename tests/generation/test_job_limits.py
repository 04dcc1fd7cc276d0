"""Who may cancel a job, how many jobs one user may have waiting, and how long a procedural job
may idle: limits that keep one user from acting on, or crowding out, everyone else's work."""

from __future__ import annotations

import pytest

from generation import services
from generation.models import GenerationJob
from governance.models import AuditEvent

VALID = {"plugin": "procedural", "prompt": "a red kite"}


def _submit(client, **extra):
    return client.post("/api/v1/generations/", {**VALID, **extra}, format="json")


# --- cancel: the requester or an admin ---------------------------------------------------------


def _cancel_events(job_id) -> int:
    return AuditEvent.objects.filter(action__startswith="generation.cancel", target_id=str(job_id)).count()


def test_another_creator_cannot_cancel_a_queued_job_and_nothing_is_written(client_for, procedural) -> None:
    job_id = _submit(client_for("creator")).json()["id"]
    response = client_for("creator2").post(f"/api/v1/generations/{job_id}/cancel/")
    assert response.status_code == 404, response.content
    assert response.json() == {"detail": "Not found."}  # the same as for an id that does not exist
    job = GenerationJob.objects.get(pk=job_id)
    assert (job.status, job.cancel_requested, job.finished_at) == ("queued", False, None)
    assert _cancel_events(job_id) == 0


def test_another_creator_cannot_cancel_a_running_job(client_for, procedural, users) -> None:
    job_id = _submit(client_for("creator")).json()["id"]
    GenerationJob.objects.filter(pk=job_id).update(status="running", worker="elsewhere:1")
    assert client_for("creator2").post(f"/api/v1/generations/{job_id}/cancel/").status_code == 404
    assert GenerationJob.objects.get(pk=job_id).cancel_requested is False
    assert _cancel_events(job_id) == 0
    with pytest.raises(services.CancelNotPermitted):
        services.cancel(job_id, acting_user=users["creator2"])
    assert GenerationJob.objects.get(pk=job_id).cancel_requested is False


def test_the_requester_and_an_admin_may_cancel(client_for, procedural, users) -> None:
    own = _submit(client_for("creator")).json()["id"]
    response = client_for("creator").post(f"/api/v1/generations/{own}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    other = _submit(client_for("creator"), prompt="another").json()["id"]
    response = client_for("admin").post(f"/api/v1/generations/{other}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert AuditEvent.objects.get(action="generation.cancelled", target_id=other).actor == "ada"


def test_a_superuser_without_groups_may_cancel(client_for, procedural, users) -> None:
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from tests.conftest import make_user

    root = make_user("root", superuser=True)
    job_id = _submit(client_for("creator")).json()["id"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=root).key}")
    assert client.post(f"/api/v1/generations/{job_id}/cancel/").status_code == 200


def test_an_unknown_job_is_404(client_for, procedural) -> None:
    response = client_for("creator").post("/api/v1/generations/00000000-0000-0000-0000-000000000000/cancel/")
    assert response.status_code == 404


# --- at most HALLMARK_MAX_QUEUED_PER_USER jobs queued or running per user ----------------------


@pytest.fixture
def cap(settings) -> int:
    settings.HALLMARK_MAX_QUEUED_PER_USER = 2
    return 2


def test_a_user_at_the_cap_gets_429_naming_the_limit_and_no_job(client_for, procedural, cap) -> None:
    creator = client_for("creator")
    first = _submit(creator, prompt="one").json()["id"]
    assert _submit(creator, prompt="two").status_code == 202
    jobs, events = GenerationJob.objects.count(), AuditEvent.objects.count()
    response = _submit(creator, prompt="three")
    assert response.status_code == 429, response.content
    body = response.json()
    assert body["limit"] == 2
    assert "2 jobs queued or running" in body["detail"]
    assert body["errors"] == {"non_field_errors": [body["detail"]]}
    assert (GenerationJob.objects.count(), AuditEvent.objects.count()) == (jobs, events)
    # Running jobs count too; finished ones do not.
    GenerationJob.objects.filter(pk=first).update(status="running")
    assert _submit(creator, prompt="three").status_code == 429
    GenerationJob.objects.filter(pk=first).update(status="succeeded")
    assert _submit(creator, prompt="three").status_code == 202


def test_the_cap_is_per_user_and_cancelling_frees_a_place(client_for, procedural, cap) -> None:
    creator = client_for("creator")
    ids = [_submit(creator, prompt=f"job {n}").json()["id"] for n in range(2)]
    assert _submit(creator).status_code == 429
    assert _submit(client_for("creator2")).status_code == 202
    creator.post(f"/api/v1/generations/{ids[0]}/cancel/")
    assert _submit(creator).status_code == 202


def test_replaying_an_idempotency_key_at_the_cap_returns_the_job(client_for, procedural, cap) -> None:
    creator = client_for("creator")
    first = _submit(creator, idempotency_key="k-1").json()
    _submit(creator, prompt="second")
    replay = _submit(creator, idempotency_key="k-1")
    assert replay.status_code == 200 and replay.json()["id"] == first["id"]


def test_zero_means_no_cap(client_for, procedural, settings) -> None:
    settings.HALLMARK_MAX_QUEUED_PER_USER = 0
    creator = client_for("creator")
    assert all(_submit(creator, prompt=f"job {n}").status_code == 202 for n in range(3))


def test_the_generate_page_says_the_queue_is_full(client, users, procedural, cap) -> None:
    client.force_login(users["creator"])
    for n in range(2):
        assert client.post("/generate/", {"plugin": "procedural", "prompt": f"page {n}"}).status_code == 302
    response = client.post("/generate/", {"plugin": "procedural", "prompt": "one too many"})
    assert response.status_code == 429
    assert b"2 jobs queued or running" in response.content
    assert GenerationJob.objects.filter(prompt="one too many").count() == 0


def test_the_default_cap_is_twenty(users, procedural) -> None:
    from django.conf import settings

    assert settings.HALLMARK_MAX_QUEUED_PER_USER == 20
    for n in range(20):
        services.submit(acting_user=users["creator"], plugin_id="procedural", fields={"prompt": f"n{n}"})
    with pytest.raises(services.QueueFull) as refused:
        services.submit(acting_user=users["creator"], plugin_id="procedural", fields={"prompt": "n20"})
    assert refused.value.limit == 20


# --- the procedural plugin's step_delay is capped ----------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"step_delay": 10.0},  # the old maximum: 10 s a pass, 50 passes = over 8 minutes
        {"step_delay": 0.6},
        {"steps": 50, "step_delay": 0.5},  # 25 s in all
    ],
)
def test_a_long_step_delay_is_refused(client_for, procedural, params) -> None:
    response = _submit(client_for("creator"), params=params)
    assert response.status_code == 400, response.content
    assert "params.step_delay" in response.json()["errors"]
    assert not GenerationJob.objects.exists()


def test_delay_over_every_image_counts(client_for, procedural) -> None:
    response = _submit(client_for("creator"), num_images=4, params={"steps": 10, "step_delay": 0.5})
    assert response.status_code == 400 and "params.step_delay" in response.json()["errors"]
    ok = _submit(client_for("creator"), num_images=2, params={"steps": 10, "step_delay": 0.5})
    assert ok.status_code == 202, ok.content
