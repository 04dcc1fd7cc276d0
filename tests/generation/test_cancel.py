"""Cancelling queued and running jobs."""

from __future__ import annotations

import pytest

from assets.models import Asset
from generation.models import GenerationJob
from governance.models import AuditEvent
from tests.conftest import wait_for


def test_cancel_queued_job_is_immediate_and_audited(client_for, procedural) -> None:
    client = client_for("creator")
    job_id = client.post("/api/v1/generations/", {"plugin": "procedural", "prompt": "never"}, format="json").json()["id"]
    response = client.post(f"/api/v1/generations/{job_id}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert AuditEvent.objects.get(action="generation.cancelled").actor == "carl"
    # A late delivery of the queued message does nothing.
    from generation import runner

    runner.run(job_id)
    assert GenerationJob.objects.get(pk=job_id).status == "cancelled"
    assert not Asset.objects.exists()


def test_viewer_cannot_cancel(client_for, procedural) -> None:
    job_id = client_for("creator").post("/api/v1/generations/", {"plugin": "procedural", "prompt": "x"}, format="json").json()["id"]
    assert client_for("viewer").post(f"/api/v1/generations/{job_id}/cancel/").status_code == 403


@pytest.mark.integration
def test_cancel_running_job_stops_within_a_step(celery_worker, client_for, procedural) -> None:
    client = client_for("creator")
    job_id = client.post(
        "/api/v1/generations/",
        {"plugin": "procedural", "prompt": "slow", "width": 64, "height": 64, "params": {"steps": 40, "step_delay": 0.2}},
        format="json",
    ).json()["id"]
    wait_for(lambda: GenerationJob.objects.get(pk=job_id).progress_step >= 2, timeout=60)
    client.post(f"/api/v1/generations/{job_id}/cancel/")
    job = wait_for(lambda: (j := GenerationJob.objects.get(pk=job_id)).is_terminal and j, timeout=30)
    assert job.status == "cancelled"
    assert job.progress_step < 40
    assert not Asset.objects.filter(job_id=job_id).exists()
    assert AuditEvent.objects.filter(action="generation.cancelled", target_id=job_id).count() == 1
