"""The recovery sweep: enqueue again the jobs a dead worker, a broker outage or a lost message
left behind (run by each worker at start-up and on a timer, and by Celery beat).

It writes nothing itself: each job goes back to its queue through ``generation.services.enqueue``,
which records the new enqueue time. Taking a job twice is harmless: ``generation.runner.run``
runs a job only once.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from acceptance.models import CheckResult
from assets.models import Asset
from generation import checking, services
from generation.models import GenerationJob, JobStatus
from hallmark.celery import app

logger = logging.getLogger(__name__)

#: AMQP's reply code for a queue that does not exist (a passive declare of it).
AMQP_NOT_FOUND = 404
#: The most jobs of each kind (stale running, never published, long queued) one sweep enqueues
#: again; the next sweep takes the rest. One limit per kind, so that a backlog of one kind
#: (thousands of jobs waiting in a busy queue) cannot keep the others from being recovered.
SWEEP_BATCH = 500


def recover_stale_jobs(queues: list[str] | None = None) -> list[str]:
    """Enqueue again the jobs a dead worker, a broker outage or a lost message left behind;
    return the ids of those the broker took.

    - running jobs whose heartbeat is older than ``HALLMARK_JOB_STALE_AFTER`` (a dead worker);
    - queued jobs whose enqueue failed (``enqueue_failed``: the broker was down at submission);
    - queued jobs waiting longer than ``HALLMARK_REQUEUE_QUEUED_AFTER`` whose message is
      provably gone: only when their queue in the broker is empty. A job behind a backlog is
      merely waiting, and enqueuing it again would only add a message per sweep.

    Each kind is selected on its own, oldest first, up to ``SWEEP_BATCH`` jobs, in that order;
    the jobs of busy queues are left out in the query itself, so they never take the place of
    a job that is due. The first enqueue that fails ends the sweep (the broker is down; the
    next sweep retries), and only enqueues that succeeded are counted. Enqueuing twice is
    harmless all the same: ``generation.runner.run`` takes a job only once.
    """
    now = timezone.now()
    stale_after = timedelta(seconds=settings.HALLMARK_JOB_STALE_AFTER)
    jobs = GenerationJob.objects.all()
    if queues is not None:
        jobs = jobs.filter(queue__in=queues)
    # A stale job enqueued again less than stale_after ago is already waiting for a worker.
    not_just_recovered = Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - stale_after)
    stale_running = jobs.filter(
        Q(status=JobStatus.RUNNING)
        & (Q(heartbeat_at__lt=now - stale_after) | Q(heartbeat_at__isnull=True))
        & not_just_recovered
    )
    never_published = jobs.filter(status=JobStatus.QUEUED, enqueue_failed=True)
    long_queued = jobs.filter(
        Q(status=JobStatus.QUEUED, enqueue_failed=False)
        & (
            Q(enqueued_at__lt=now - timedelta(seconds=settings.HALLMARK_REQUEUE_QUEUED_AFTER))
            | Q(enqueued_at__isnull=True)
        )
    )
    # The broker is asked before this sweep publishes anything: a queue empty then has lost
    # the messages of its long-queued jobs, whatever the sweep adds to it afterwards.
    busy = _busy_queues(long_queued)
    recovered: list[str] = []
    for kind in (stale_running, never_published, long_queued.exclude(queue__in=busy)):
        batch = kind.only("id", "queue", "status", "enqueue_failed", "enqueued_at").order_by("created_at")
        for job in batch[:SWEEP_BATCH]:
            if not services.enqueue(job, recovering=True):
                logger.warning(
                    "recovery sweep stopped: the broker refused an enqueue; re-enqueued %d jobs before it",
                    len(recovered),
                )
                return _reported(recovered)
            recovered.append(str(job.pk))
    return _reported(recovered)


def _reported(recovered: list[str]) -> list[str]:
    if recovered:
        logger.warning("re-enqueued %d stale jobs: %s", len(recovered), ", ".join(recovered))
    return recovered


def _busy_queues(long_queued: QuerySet[GenerationJob]) -> list[str]:
    """The queues of ``long_queued`` jobs that the broker does not say are empty.

    One count per queue (queues are per plugin, so there are few), and one broker question each.
    """
    per_queue = long_queued.order_by().values_list("queue").annotate(jobs=Count("id"))
    busy: list[str] = []
    for queue, waiting in per_queue:
        if not broker_queue_is_empty(queue, long_queued=waiting):
            busy.append(queue)
            logger.info(
                "%d long-queued jobs in %s left alone: the queue still holds messages", waiting, queue
            )
    return busy


def broker_queue_is_empty(queue: str, *, long_queued: int) -> bool:
    """Whether the broker holds no message ready in ``queue``; False when it cannot tell.

    Kombu's virtual transports (Redis, filesystem, SQS) count a queue with their channel's
    ``_size`` (Redis: across its priority lists; a queue never written is 0). AMQP answers a
    passive declare, and NOT_FOUND (404) for a queue that does not exist, which holds no
    message either: treating that as "cannot tell" would leave a lost job queued forever.
    Any other failure is logged at warning with ``long_queued``, the number of jobs that stay
    waiting because of it.
    """
    try:
        with app.connection_for_write() as conn:
            channel: Any = conn.default_channel
            size = getattr(channel, "_size", None)
            if size is not None:
                return int(size(queue)) == 0
            try:
                return int(channel.queue_declare(queue=queue, passive=True).message_count) == 0
            except conn.channel_errors as exc:
                if getattr(exc, "reply_code", None) == AMQP_NOT_FOUND:
                    return True
                raise
    except Exception as exc:
        logger.warning(
            "could not count queue %s (%s: %s); its %d long-queued jobs are not enqueued again until it can be counted",
            queue,
            type(exc).__name__,
            exc,
            long_queued,
        )
        return False


#: How far back the sweep looks for succeeded jobs whose checks never ran (a day: a broker
#: outage longer than that needs ``manage.py`` attention anyway, and a job whose checks fail
#: to run every time is not sent again for ever).
LOST_CHECKS_WINDOW = timedelta(days=1)


def resend_lost_checks() -> list[str]:
    """Send again the checks of succeeded jobs whose checks never ran; return their ids.

    A job's checks are sent once its images are stored (``generation.checking.after_stored``);
    if the broker refused that message, no image of the job has a result for its checklist
    version. Such jobs, finished longer than ``HALLMARK_REQUEUE_QUEUED_AFTER`` ago (and within
    ``LOST_CHECKS_WINDOW``), are sent again, but only while the ``checks`` queue is empty: a
    backlog of OCR work is merely late, not lost. Running a job's checks twice is harmless
    (results are recorded once per image and version; each attempt is submitted once).
    """
    now = timezone.now()
    result_for_its_version = CheckResult.objects.filter(
        asset=OuterRef("pk"), checklist_version=OuterRef(OuterRef("checklist_version"))
    )
    # An image of the job with no result for the job's own checklist version: they never ran.
    unchecked_asset = Asset.objects.live().filter(job=OuterRef("pk")).exclude(Exists(result_for_its_version))
    lost = GenerationJob.objects.filter(
        Exists(unchecked_asset),
        status=JobStatus.SUCCEEDED,
        checklist_version__isnull=False,
        finished_at__lt=now - timedelta(seconds=settings.HALLMARK_REQUEUE_QUEUED_AFTER),
        finished_at__gt=now - LOST_CHECKS_WINDOW,
    ).order_by("finished_at")
    job_ids = [str(pk) for pk in lost.values_list("pk", flat=True)[:SWEEP_BATCH]]
    if not job_ids or not broker_queue_is_empty(checking.CHECKS_QUEUE, long_queued=len(job_ids)):
        return []
    sent: list[str] = []
    for job_id in job_ids:
        if not checking.send_checks(job_id):
            break  # the broker is down: the next sweep tries again
        sent.append(job_id)
    if sent:
        logger.warning("sent again the lost checks of %d jobs: %s", len(sent), ", ".join(sent))
    return sent
