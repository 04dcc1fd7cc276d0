"""Scheduled maintenance as Celery tasks, sent by ``celery beat`` (``CELERY_BEAT_SCHEDULE``).

Thin: each calls the logic its management command calls. They run on the ``maintenance``
queue (``CELERY_TASK_ROUTES``), which ``manage.py runworker --maintenance`` serves. A failure
is logged by the worker and the next run is the retry; none of them holds anything between
runs, so a missed or repeated run costs nothing but its work.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.conf import settings

from assets import retention
from generation import recovery
from generation import services as generation_services
from governance import checkpoints
from operations import maintenance
from plugins import services as plugin_services

logger = logging.getLogger(__name__)


@shared_task(name="hallmark.maintenance.audit_checkpoint", ignore_result=True)
def audit_checkpoint() -> dict[str, Any]:
    """Verify the audit chain and sign its head (``manage.py audit_checkpoint``)."""
    checkpoint, path = checkpoints.create_checkpoint()
    logger.info("audit checkpoint: seq %d written to %s", checkpoint.seq, path)
    return {"seq": checkpoint.seq, "path": str(path)}


@shared_task(name="hallmark.maintenance.purge_deleted", ignore_result=True)
def purge_deleted() -> dict[str, Any]:
    """Purge assets deleted longer than the retention period ago (``manage.py purge_deleted``)."""
    report = retention.purge_deleted()
    logger.info("purge: %d purged, %d kept", len(report.purged), len(report.skipped))
    return {"purged": len(report.purged), "kept": len(report.skipped)}


@shared_task(name="hallmark.maintenance.recover_stale_jobs", ignore_result=True)
def recover_stale_jobs() -> list[str]:
    """The stale-job sweep over the queues of enabled plugins (workers also sweep their own; a
    second pass is harmless: a job runs once whatever the number of its messages). A disabled
    plugin's queue is left to its workers, if any: messages sent where nobody listens pile up.
    Then the checks the broker lost are sent again (``generation.recovery.resend_lost_checks``)."""
    queues = [generation_services.queue_for(s.id) for s in plugin_services.states() if s.enabled]
    recovered = recovery.recover_stale_jobs(queues) if queues else []
    recovery.resend_lost_checks()
    return recovered


@shared_task(name="hallmark.maintenance.verify_assets_sample", ignore_result=True)
def verify_assets_sample() -> dict[str, Any]:
    """Re-check a random sample of stored assets (``manage.py verify_assets`` on a sample)."""
    report = maintenance.verify_sample(settings.HALLMARK_VERIFY_SAMPLE_SIZE)
    logger.log(
        logging.ERROR if report.problems else logging.INFO,
        "verify_assets sample: %d checked, %d with problems",
        report.checked,
        len(report.problems),
    )
    return {"checked": report.checked, "failed": sorted(report.problems)}
