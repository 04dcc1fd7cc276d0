"""What happens to a job when things go wrong around the plugin."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from assets.models import Asset
from generation import job_monitor, runner, services
from generation.models import GenerationJob
from plugins import services as plugin_services


def _submit(users, **fields):
    job, _ = services.submit(
        acting_user=users["creator"],
        plugin_id="procedural",
        fields={"prompt": "edge", "width": 64, "height": 64, **fields},
    )
    return job


def test_plugin_disabled_after_submission_generates_nothing(users, procedural) -> None:
    job = _submit(users)
    plugin_services.update_plugin("procedural", acting_user=users["admin"], enabled=False)
    runner.run(str(job.pk))
    job.refresh_from_db()
    assert job.status == "failed" and job.error_code == "plugin_unavailable"
    assert "disabled" in job.error
    assert not Asset.objects.exists()


def test_failure_while_storing_leaves_no_file(users, procedural, monkeypatch) -> None:
    from assets import services as asset_services

    def explode(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(asset_services, "create_assets_of_jobs", explode)
    job = _submit(users)
    runner.run(str(job.pk))
    job.refresh_from_db()
    assert job.status == "failed" and job.error_code == "store"
    assert job.pending_files == []
    media = Path(settings.MEDIA_ROOT)
    assert not [p for p in media.rglob("*") if p.is_file()] if media.exists() else True


def test_same_pixels_in_two_assets_get_their_own_thumbnails(users, procedural) -> None:
    first, second = _submit(users, seed=9), _submit(users, seed=9)
    runner.run(str(first.pk))
    runner.run(str(second.pk))
    a, b = Asset.objects.get(job=first), Asset.objects.get(job=second)
    assert a.pixel_sha256 == b.pixel_sha256
    assert a.sha256 != b.sha256  # each file's manifest names its own asset
    assert a.thumbnail.name != b.thumbnail.name


def test_heartbeat_and_progress_only_touch_a_job_this_worker_still_owns(users, procedural) -> None:
    job = _submit(users)
    claimed = runner._claim(str(job.pk), "old-worker:1")
    assert claimed is not None
    monitor = job_monitor.JobMonitor(claimed, interval=0)  # every report is written
    GenerationJob.objects.filter(pk=job.pk).update(worker="new-worker:2", progress_step=0)
    monitor.on_progress(3, 4)
    assert GenerationJob.objects.get(pk=job.pk).progress_step == 0


def test_upgraded_plugin_version_is_recorded_from_the_one_that_ran(users, procedural) -> None:
    job = _submit(users)
    GenerationJob.objects.filter(pk=job.pk).update(plugin_version="0.9.0")
    runner.run(str(job.pk))
    job.refresh_from_db()
    assert job.plugin_version == "1.0.0"
    assert Asset.objects.get(job=job).plugin_version == "1.0.0"


def test_idempotent_retry_compares_the_cleaned_request(client_for, procedural) -> None:
    client = client_for("creator")
    body = {"plugin": "procedural", "prompt": "a cat\n", "idempotency_key": "k1"}
    first = client.post("/api/v1/generations/", body, format="json")
    retry = client.post("/api/v1/generations/", {**body, "prompt": "a cat"}, format="json")
    assert first.status_code == 202 and retry.status_code == 200
    assert retry.json()["id"] == first.json()["id"]
    other = client.post("/api/v1/generations/", {**body, "negative_prompt": "dogs"}, format="json")
    assert other.status_code == 409
    other_params = client.post("/api/v1/generations/", {**body, "params": {"steps": 9}}, format="json")
    assert other_params.status_code == 409


def test_deeply_nested_json_is_400(client_for, procedural) -> None:
    response = client_for("creator").post(
        "/api/v1/generations/", b"[" * 100_000, content_type="application/json"
    )
    assert response.status_code == 400


@pytest.mark.parametrize("value", ["sk-live-1234567890abcdef", "lower_case", "A" * 65])
def test_api_key_env_must_look_like_an_env_var_name(client_for, value) -> None:
    response = client_for("admin").patch(
        "/api/v1/plugins/ideogram-v2/", {"config": {"api_key_env": value}}, format="json"
    )
    assert response.status_code == 400
    assert "config.api_key_env" in response.json()["errors"]
