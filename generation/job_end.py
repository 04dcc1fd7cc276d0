"""The end of a job that stores no images: cancelled, failed or given up, with its audit event.

A writer of ``GenerationJob`` (``WRITERS``) for the worker side: the runner's claim, its
handling of what a plugin raised and the storing path (``generation.storing``) end jobs here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from assets import services as asset_services
from generation.models import GenerationJob, JobStatus
from generation.routing_hooks import report_end
from governance.audit_trail import record_event


def finish(
    job: GenerationJob,
    status: JobStatus,
    *,
    error: str = "",
    error_code: str = "",
    data: Mapping[str, Any] | None = None,
) -> None:
    """Move a locked job to a terminal status and audit it (caller holds the transaction)."""
    if job.pending_files:
        # Files written for assets that will never be committed (no asset refers to them).
        asset_services.discard_files(list(job.pending_files))
    job.status = status
    job.error = error
    job.error_code = error_code
    job.finished_at = timezone.now()
    job.pending_files = []
    job.save(
        update_fields=[
            "status",
            "error",
            "error_code",
            "finished_at",
            "pending_files",
            "progress_step",
            "cost",
            "cost_currency",
            "store_seconds",
        ]
    )
    event_data: dict[str, Any] = {"attempts": job.attempts, **(data or {})}
    if error:
        event_data["error"] = error
        event_data["error_code"] = error_code
    record_event(f"generation.{status}", acting_user=None, system_actor="worker", target=job, data=event_data)
    report_end(job, status, error_code=error_code, cost=job.cost)


def fail_or_cancel(job: GenerationJob, me: str, status: JobStatus, **kwargs: Any) -> None:
    """End ``job`` with ``status`` (``finish``'s keywords), only while it is still ``me``'s."""
    with transaction.atomic():
        locked = GenerationJob.objects.select_for_update().get(pk=job.pk)
        if locked.is_terminal or locked.worker != me:
            return
        finish(locked, status, **kwargs)
