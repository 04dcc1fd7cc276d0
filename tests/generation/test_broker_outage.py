"""A broker that refuses messages: submit answers at once with the job waiting for the broker,
the recovery sweep enqueues it when the broker is back, counts only what the broker took, and
leaves alone a job whose message is still waiting in its queue.

The broker is the real filesystem broker, made to fail by putting a file where its queue
folder was (every publish then fails, as a full or unmounted disk would make it). The same
paths on Redis, with the broker process killed, are in test_failures_survived.py. Last, the
worker's retry of a database action (recording a failure, storing) while the database restarts.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import OperationalError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from generation import recovery, services
from generation.job_monitor import retrying_database
from generation.models import GenerationJob

filesystem_broker = pytest.mark.skipif(
    not settings.CELERY_BROKER_URL.startswith("filesystem"), reason="breaks the filesystem broker's folder"
)
FIELDS = {"prompt": "wait for the broker", "width": 64, "height": 64}


def _queue_folder() -> Path:
    return Path(str(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_out"]))


def _messages_for(job: GenerationJob) -> int:
    return sum(str(job.pk) in p.read_text(errors="replace") for p in _queue_folder().glob("*.gen.procedural.msg"))


@pytest.fixture
def empty_queue() -> None:
    for message in _queue_folder().glob("*.msg"):
        message.unlink()


@pytest.fixture
def broker_down(empty_queue: None) -> Iterator[None]:
    """The broker refuses every publish until the test ends (or calls ``broker_back``)."""
    folder = _queue_folder()
    shutil.rmtree(folder)
    folder.write_text("not a folder")
    yield
    broker_back()


def broker_back() -> None:
    folder = _queue_folder()
    if folder.is_file():
        folder.unlink()
        folder.mkdir()


@filesystem_broker
def test_a_submit_while_the_broker_is_down_answers_at_once_waiting_for_it(
    transactional_db, client_for, users, procedural, broker_down
) -> None:
    began = time.monotonic()
    response = client_for("creator").post(
        "/api/v1/generations/", {"plugin": "procedural", **FIELDS}, format="json"
    )
    assert time.monotonic() - began < 2.0
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "queued"
    assert response.json()["waiting_for_broker"] is True
    job = GenerationJob.objects.get(pk=response.json()["id"])
    assert job.enqueue_failed

    page = Client()
    page.force_login(users["creator"])
    assert b"waiting for the broker" in page.get(reverse("job-progress", args=[job.pk])).content

    # Still down: the sweep enqueues nothing and says so (no "re-enqueued" count).
    assert recovery.recover_stale_jobs(["gen.procedural"]) == []
    assert GenerationJob.objects.get(pk=job.pk).enqueue_failed

    broker_back()
    assert recovery.recover_stale_jobs(["gen.procedural"]) == [str(job.pk)]
    job.refresh_from_db()
    assert not job.enqueue_failed
    assert _messages_for(job) == 1
    shown = client_for("creator").get(f"/api/v1/generations/{job.pk}/").json()
    assert shown["waiting_for_broker"] is False
    assert b"waiting for the broker" not in page.get(reverse("job-progress", args=[job.pk])).content
    # Enqueued now: the next sweep leaves it be.
    assert recovery.recover_stale_jobs(["gen.procedural"]) == []
    assert _messages_for(job) == 1


@filesystem_broker
def test_the_sweep_counts_only_what_the_broker_took(
    transactional_db, users, procedural, broker_down, caplog
) -> None:
    jobs = [services.submit(acting_user=users["creator"], plugin_id="procedural", fields=FIELDS)[0] for _ in range(3)]
    assert all(GenerationJob.objects.get(pk=j.pk).enqueue_failed for j in jobs)
    with caplog.at_level(logging.INFO, logger="generation"):
        assert recovery.recover_stale_jobs(["gen.procedural"]) == []
    assert "re-enqueued 0" in caplog.text  # the sweep stopped at the first refusal
    assert "stale jobs:" not in caplog.text


@filesystem_broker
def test_a_long_queued_job_behind_a_backlog_is_left_waiting(transactional_db, users, procedural, empty_queue) -> None:
    jobs = [services.submit(acting_user=users["creator"], plugin_id="procedural", fields=FIELDS)[0] for _ in range(2)]
    assert [_messages_for(j) for j in jobs] == [1, 1]
    long_ago = timezone.now() - timedelta(seconds=settings.HALLMARK_REQUEUE_QUEUED_AFTER + 60)
    GenerationJob.objects.filter(pk__in=[j.pk for j in jobs]).update(enqueued_at=long_ago)

    # Their messages are still in the queue: enqueuing again would only add messages.
    for _ in range(3):
        assert recovery.recover_stale_jobs(["gen.procedural"]) == []
    assert [_messages_for(j) for j in jobs] == [1, 1]

    # The broker lost them (the queue is empty): now they are provably gone, and enqueued again.
    for message in _queue_folder().glob("*.msg"):
        message.unlink()
    assert sorted(recovery.recover_stale_jobs(["gen.procedural"])) == sorted(str(j.pk) for j in jobs)
    assert [_messages_for(j) for j in jobs] == [1, 1]
    assert recovery.recover_stale_jobs(["gen.procedural"]) == []


def test_a_database_action_is_retried_until_the_database_answers(transactional_db, users) -> None:
    calls: list[float] = []

    def flaky() -> str:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise OperationalError("the database system is starting up")
        return "recorded"

    job = GenerationJob(plugin_id="procedural")
    assert retrying_database(flaky, job) == "recorded"
    assert len(calls) == 3


def test_a_database_action_is_not_retried_inside_a_transaction(db) -> None:
    calls = 0

    def down() -> None:
        nonlocal calls
        calls += 1
        raise OperationalError("server closed the connection unexpectedly")

    with pytest.raises(OperationalError):
        retrying_database(down, GenerationJob(plugin_id="procedural"))
    assert calls == 1


def test_a_store_that_lost_the_database_is_stored_once_it_answers(
    transactional_db, users, procedural, monkeypatch
) -> None:
    """The database goes away at the commit of the assets: the store is done again once it
    answers: one set of assets, the job succeeded, no file of the failed try left behind."""
    from assets import services as asset_services
    from assets.models import Asset
    from generation import runner

    real_create = asset_services.create_assets_of_jobs
    failures = []

    def database_gone_once(*args, **kwargs):
        if not failures:
            failures.append(1)
            raise OperationalError("server closed the connection unexpectedly")
        return real_create(*args, **kwargs)

    monkeypatch.setattr(asset_services, "create_assets_of_jobs", database_gone_once)
    job, _ = services.submit(
        acting_user=users["creator"], plugin_id="procedural", fields={**FIELDS, "num_images": 2}
    )
    runner.run(str(job.pk))
    job.refresh_from_db()
    assert failures == [1]
    assert job.status == "succeeded", job.error
    assets = list(Asset.objects.filter(job=job))
    assert len(assets) == 2
    media = Path(settings.MEDIA_ROOT)
    stored = sorted(str(p.relative_to(media)) for p in media.rglob("*") if p.is_file())
    assert stored == sorted(name for a in assets for name in (a.file.name, a.thumbnail.name))
