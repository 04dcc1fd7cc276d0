"""Celery tasks: thin wrappers over ``generation.batching`` and ``generation.runner``.

``generation.services.enqueue`` sends ``run_generation`` by its name (``RUN_GENERATION_TASK``).
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError, close_old_connections

from generation import batching, checking
from generation.services import RUN_GENERATION_TASK

# A job's tasks are acknowledged once done, and retried with backoff while the database is away.
_RETRIED_ON_DATABASE_ERRORS: dict[str, Any] = {
    "acks_late": True,
    "ignore_result": True,
    "autoretry_for": (DatabaseError,),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "max_retries": 8,
}


# A database that is restarting makes the claim fail before the job is touched: try again with
# backoff rather than ack the message and leave the job to the recovery sweep minutes later.
@shared_task(name=RUN_GENERATION_TASK, reject_on_worker_lost=True, **_RETRIED_ON_DATABASE_ERRORS)
def run_generation(job_id: str) -> None:
    """Run one generation job (with compatible queued ones, where its plugin batches); safe to
    deliver more than once."""
    # Workers live long and databases restart: drop a dead connection before and after.
    close_old_connections()
    try:
        batching.run(job_id, store_in_background=settings.HALLMARK_STORE_IN_BACKGROUND)
    finally:
        close_old_connections()


@shared_task(name=checking.RUN_CHECKS_TASK, **_RETRIED_ON_DATABASE_ERRORS)
def run_checks(job_id: str) -> None:
    """Check a job's stored images against its checklist (queue ``checks``); safe to repeat."""
    close_old_connections()
    try:
        checking.run_checks(job_id)
    finally:
        close_old_connections()
