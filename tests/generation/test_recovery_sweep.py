"""The recovery sweep's selection: a backlog of long-queued jobs in one busy queue does not keep
due jobs (a failed enqueue, a dead worker's job) of other queues from being enqueued again, and
the broker's answer about a queue (empty, busy, missing, cannot tell) decides only for the
long-queued jobs of that queue.

The broker is the one the test run is configured with (the filesystem broker by default, Redis
in CI), on queues of this test's own, emptied before and after; the AMQP answers are asked of a
real RabbitMQ (``HALLMARK_TEST_AMQP_URL``; skipped when none answers).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from generation import recovery, services
from generation.models import GenerationJob, JobStatus
from hallmark.celery import app

AMQP_URL = os.environ.get("HALLMARK_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


def _job(user: User, queue: str, **fields: object) -> GenerationJob:
    return GenerationJob(
        plugin_id="procedural",
        prompt="recover me",
        width=64,
        height=64,
        seed=1,
        queue=queue,
        requested_by=user,
        **fields,
    )


def _messages_in(queue: str) -> int:
    with app.connection_for_write() as conn:
        return int(conn.default_channel._size(queue))


@pytest.fixture
def queues() -> Iterator[list[str]]:
    """Three queues no worker serves, empty before and after the test. Their names are fixed,
    not drawn: a virtual broker (Redis) keeps a queue's bindings after it is purged, and a
    new name per run would leave a new set each time."""
    names = ["gen.sweep-backlog", "gen.sweep-refused", "gen.sweep-dead-worker"]
    _purge(names)
    yield names
    _purge(names)


def _purge(names: list[str]) -> None:
    with app.connection_for_write() as conn:
        for name in names:
            conn.default_channel.queue_purge(name)


def test_a_backlog_in_one_busy_queue_does_not_hold_back_due_jobs_of_other_queues(
    transactional_db, users: dict[str, User], queues: list[str]
) -> None:
    user = users["creator"]
    busy, failed_queue, running_queue = queues
    long_ago = timezone.now() - timedelta(seconds=settings.HALLMARK_REQUEUE_QUEUED_AFTER + 3600)
    # A full window of long-queued jobs, oldest of all, in a queue that still holds a message.
    GenerationJob.objects.bulk_create(_job(user, busy) for _ in range(recovery.SWEEP_BATCH))
    GenerationJob.objects.filter(queue=busy).update(created_at=long_ago, enqueued_at=long_ago)
    app.send_task(services.RUN_GENERATION_TASK, args=("backlog",), queue=busy)
    # Then a job whose enqueue failed and a dead worker's job, in other queues.
    failed = _job(user, failed_queue, enqueue_failed=True, enqueued_at=timezone.now())
    dead = _job(user, running_queue, status=JobStatus.RUNNING, heartbeat_at=long_ago, enqueued_at=long_ago)
    GenerationJob.objects.bulk_create([failed, dead])

    assert sorted(recovery.recover_stale_jobs()) == sorted([str(failed.pk), str(dead.pk)])
    assert [_messages_in(q) for q in queues] == [1, 1, 1]
    failed.refresh_from_db()
    assert not failed.enqueue_failed
    # The backlog was left waiting, not enqueued again: its queue holds the one message it had.
    assert not GenerationJob.objects.filter(queue=busy, enqueued_at__gt=long_ago).exists()
    assert recovery.recover_stale_jobs() == []


def test_each_kind_is_enqueued_oldest_first_up_to_the_batch(
    transactional_db, users: dict[str, User], queues: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recovery, "SWEEP_BATCH", 2)
    user = users["creator"]
    quiet, failed_queue, _ = queues
    long_ago = timezone.now() - timedelta(seconds=settings.HALLMARK_REQUEUE_QUEUED_AFTER + 3600)
    waiting = [_job(user, quiet, enqueued_at=long_ago) for _ in range(3)]
    refused = [_job(user, failed_queue, enqueue_failed=True) for _ in range(3)]
    GenerationJob.objects.bulk_create(waiting + refused)
    for age, job in enumerate(waiting + refused):
        GenerationJob.objects.filter(pk=job.pk).update(created_at=long_ago - timedelta(seconds=10 - age))

    first = recovery.recover_stale_jobs(queues)
    assert first == [str(j.pk) for j in refused[:2] + waiting[:2]]
    # The rest next time: the refused one at once; the long-queued one not while the two
    # enqueued just now wait in its queue.
    assert recovery.recover_stale_jobs(queues) == [str(refused[2].pk)]
    assert _messages_in(quiet) == 2


filesystem_broker = pytest.mark.skipif(
    not settings.CELERY_BROKER_URL.startswith("filesystem"), reason="breaks the filesystem broker's folder"
)


@filesystem_broker
def test_a_queue_the_broker_cannot_count_is_left_alone_with_a_warning(
    transactional_db, users: dict[str, User], queues: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    user = users["creator"]
    long_ago = timezone.now() - timedelta(seconds=settings.HALLMARK_REQUEUE_QUEUED_AFTER + 3600)
    GenerationJob.objects.bulk_create(_job(user, queues[0], enqueued_at=long_ago) for _ in range(3))
    folder = Path(str(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_out"]))
    kept = folder.with_name("queue-kept")
    folder.rename(kept)
    folder.write_text("not a folder")  # every count of a queue fails
    try:
        with caplog.at_level(logging.WARNING, logger="generation.recovery"):
            assert recovery.recover_stale_jobs(queues) == []
    finally:
        folder.unlink()
        kept.rename(folder)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(queues[0] in m and "its 3 long-queued jobs" in m for m in warnings), warnings


def _amqp_answers() -> bool:
    parts = urlsplit(AMQP_URL)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), timeout=1).close()
    except OSError:
        return False
    return True


rabbitmq = pytest.mark.skipif(not _amqp_answers(), reason=f"no RabbitMQ answers at {AMQP_URL}")


@pytest.fixture
def amqp_broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The sweep's broker questions go to RabbitMQ; yields a queue name that does not exist."""
    options = {"max_retries": 0}  # as settings.py sets for every broker but the filesystem
    monkeypatch.setattr(
        app, "connection_for_write", partial(app.connection_for_write, AMQP_URL, transport_options=options)
    )
    name = f"gen.sweep-{uuid.uuid4().hex[:12]}"
    yield name
    with app.connection_for_write() as conn:
        conn.default_channel.queue_delete(name)


@rabbitmq
def test_on_amqp_a_queue_that_does_not_exist_is_empty(
    amqp_broker: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="generation.recovery"):
        assert recovery.broker_queue_is_empty(amqp_broker, long_queued=1) is True
    assert caplog.records == []
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        channel.queue_declare(amqp_broker, durable=False, auto_delete=False)
        assert recovery.broker_queue_is_empty(amqp_broker, long_queued=1) is True
        with conn.Producer() as producer:
            producer.publish({"job": "lost?"}, routing_key=amqp_broker, exchange="")
    assert recovery.broker_queue_is_empty(amqp_broker, long_queued=1) is False


@rabbitmq
def test_on_amqp_a_refused_question_is_not_empty_and_warns_with_the_jobs_it_holds_back(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = AMQP_URL.replace("guest:guest@", "guest:wrong-password@")
    monkeypatch.setattr(
        app,
        "connection_for_write",
        partial(app.connection_for_write, wrong, transport_options={"max_retries": 0}),
    )
    with caplog.at_level(logging.WARNING, logger="generation.recovery"):
        assert recovery.broker_queue_is_empty("gen.sweep-refused", long_queued=7) is False
    assert "its 7 long-queued jobs" in caplog.text
    assert "gen.sweep-refused" in caplog.text
