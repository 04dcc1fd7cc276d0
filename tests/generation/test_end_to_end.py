"""The governed path end to end: API -> real Celery worker -> asset -> audit."""

from __future__ import annotations

import hashlib

import pytest
from django.core.management import call_command

from assets.models import Asset
from generation.models import GenerationJob
from governance.models import AuditEvent
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def test_generation_through_api_and_worker_yields_governed_asset(
    celery_worker, client_for, procedural
) -> None:
    client = client_for("creator")
    response = client.post(
        "/api/v1/generations/",
        {"plugin": "procedural", "prompt": "a lighthouse at dusk", "seed": 7},
        format="json",
    )
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]

    def finished() -> dict | None:
        body = client.get(f"/api/v1/generations/{job_id}/").json()
        return body if body["status"] in ("succeeded", "failed", "cancelled") else None

    job = wait_for(finished, timeout=60)
    assert job["status"] == "succeeded", job
    assert job["progress"]["step"] == job["progress"]["total"] > 0
    assert len(job["assets"]) == 1

    asset = client.get(f"/api/v1/assets/{job['assets'][0]}/").json()
    assert asset["model"]["version"] == "1.0.0"
    assert asset["model"]["fingerprint"].startswith("sha256:")
    assert asset["seed"] == 7 and asset["width"] == 512
    assert asset["license"]["spdx_id"] == "MIT"

    download = client.get(f"/api/v1/assets/{asset['id']}/file/")
    assert download.status_code == 200
    body = b"".join(download.streaming_content)
    assert hashlib.sha256(body).hexdigest() == asset["sha256"]

    created = AuditEvent.objects.get(action="asset.created", target_id=asset["id"])
    assert created.data["model"]["fingerprint"] == asset["model"]["fingerprint"]
    assert created.data["sha256"] == asset["sha256"]
    assert AuditEvent.objects.filter(action="generation.succeeded", target_id=job_id).count() == 1
    call_command("verify_audit")


def test_redelivered_job_makes_no_second_set_of_assets(celery_worker, client_for, procedural) -> None:
    from generation import runner, services

    client = client_for("creator")
    job_id = client.post(
        "/api/v1/generations/", {"plugin": "procedural", "prompt": "twice", "num_images": 2}, format="json"
    ).json()["id"]
    wait_for(lambda: GenerationJob.objects.get(pk=job_id).status == "succeeded", timeout=60)
    runner.run(job_id)  # a second delivery of the same message
    services.enqueue(GenerationJob.objects.get(pk=job_id))
    runner.run(job_id)
    assert Asset.objects.filter(job_id=job_id).count() == 2
    assert AuditEvent.objects.filter(action="asset.created", data__job_id=job_id).count() == 2
