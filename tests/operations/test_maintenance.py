"""Scheduled maintenance: beat's schedule names real tasks on the maintenance queue, and each
task does what its management command does."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from assets import retention
from assets.models import Asset
from generation.models import GenerationJob, JobStatus
from governance import checkpoints
from hallmark.celery import app
from operations import maintenance, tasks
from tests.conftest import wait_for
from tests.governance.audit_helpers import make_asset


@pytest.fixture
def audit_key(settings: Any, tmp_path: Path) -> Path:
    settings.HALLMARK_AUDIT_SIGNING_KEY = tmp_path / "audit" / "key.pem"
    settings.HALLMARK_AUDIT_CHECKPOINT_DIR = tmp_path / "audit" / "checkpoints"
    checkpoints.init_key()
    return Path(settings.HALLMARK_AUDIT_CHECKPOINT_DIR)


def test_beat_schedules_registered_tasks_on_the_maintenance_queue() -> None:
    app.loader.import_default_modules()
    schedule = django_settings.CELERY_BEAT_SCHEDULE
    names = {entry["task"] for entry in schedule.values()}
    assert names == {
        "hallmark.maintenance.audit_checkpoint",
        "hallmark.maintenance.purge_deleted",
        "hallmark.maintenance.recover_stale_jobs",
        "hallmark.maintenance.verify_assets_sample",
    }
    for name in names:
        assert name in app.tasks
        assert app.amqp.router.route({}, name)["queue"].name == "maintenance"
    # Hourly, daily, nightly: crontab entries; the sweep every minute or more.
    assert schedule["audit-checkpoint-hourly"]["schedule"].hour == set(range(24))
    assert len(schedule["purge-deleted-daily"]["schedule"].hour) == 1
    assert len(schedule["verify-assets-sample-nightly"]["schedule"].hour) == 1
    assert schedule["recover-stale-jobs"]["schedule"] >= 60
    # A message left unserved expires when the next one is due.
    assert all(entry["options"]["expires"] for entry in schedule.values())
    assert Path(app.conf.beat_schedule_filename).parent == Path(django_settings.VAR_DIR)


@pytest.mark.django_db
def test_audit_checkpoint_task_signs_the_chain_head(users: Any, audit_key: Path) -> None:
    before = checkpoints.latest_checkpoint_file()
    result = tasks.audit_checkpoint.apply().get()
    latest = checkpoints.latest_checkpoint_file()
    assert latest is not None and latest != before
    assert result == {"seq": checkpoints.read_file(latest).seq, "path": str(latest)}


@pytest.mark.django_db
def test_purge_deleted_task_purges_what_is_past_retention(users: Any) -> None:
    old = make_asset(users["creator"], seed=1)
    recent = make_asset(users["creator"], seed=2, color=(1, 2, 3))
    for asset in (old, recent):
        retention.soft_delete(asset.pk, acting_user=users["admin"])
    Asset.objects.filter(pk=old.pk).update(
        deleted_at=timezone.now() - timedelta(days=django_settings.HALLMARK_RETENTION_DAYS + 1)
    )
    assert tasks.purge_deleted.apply().get() == {"purged": 1, "kept": 0}
    assert list(Asset.objects.values_list("pk", flat=True)) == [recent.pk]


@pytest.mark.django_db
def test_recovery_task_sweeps_the_queues_of_enabled_plugins(users: Any, procedural: str) -> None:
    stale = timezone.now() - timedelta(seconds=django_settings.HALLMARK_JOB_STALE_AFTER + 30)

    def running_job(plugin_id: str) -> GenerationJob:
        job = GenerationJob.objects.create(
            plugin_id=plugin_id, prompt="p", width=64, height=64, seed=1,
            requested_by=users["creator"], queue=f"gen.{plugin_id}",
        )
        GenerationJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, heartbeat_at=stale, enqueued_at=stale)
        return job

    lost = running_job("procedural")
    elsewhere = running_job("sd35-medium")  # not enabled: its queue may have no worker at all
    with app.connection_for_write() as conn, contextlib.suppress(Exception):
        conn.default_channel.queue_purge("gen.procedural")
    assert tasks.recover_stale_jobs.apply().get() == [str(lost.pk)]
    assert GenerationJob.objects.get(pk=elsewhere.pk).enqueued_at == stale


@pytest.mark.django_db
def test_verify_sample_finds_a_tampered_file(users: Any, settings: Any) -> None:
    assets = [make_asset(users["creator"], seed=i, color=(i, 10, 20)) for i in range(3)]
    tampered = assets[1]
    path = Path(settings.MEDIA_ROOT) / tampered.file.name
    path.write_bytes(path.read_bytes() + b"tail")
    assert len(maintenance.sample_assets(2)) == 2
    assert {a.pk for a in maintenance.sample_assets(10)} == {a.pk for a in assets}
    assert maintenance.sample_assets(0) == []
    settings.HALLMARK_VERIFY_SAMPLE_SIZE = 10
    result = tasks.verify_assets_sample.apply().get()
    assert result == {"checked": 3, "failed": [str(tampered.pk)]}


@pytest.mark.integration
def test_a_worker_serving_the_maintenance_queue_runs_what_beat_sends(
    transactional_db: None, users: Any, audit_key: Path
) -> None:
    from celery.contrib.testing.worker import start_worker

    with app.connection_for_write() as conn, contextlib.suppress(Exception):
        conn.default_channel.queue_purge("maintenance")
    with start_worker(app, pool="solo", concurrency=1, perform_ping_check=False, queues=["maintenance"], shutdown_timeout=30):
        assert checkpoints.latest_checkpoint_file() is None
        # Sent the way beat sends it: by name, routed by CELERY_TASK_ROUTES.
        app.send_task("hallmark.maintenance.audit_checkpoint", expires=60)
        wait_for(lambda: checkpoints.latest_checkpoint_file() is not None, timeout=30)
