"""Taking an ordinary job in one statement: the worker's fast path into ``generation.runner``.

A writer of ``GenerationJob`` (``WRITERS``) beside the runner, which falls back to its locked
claim for anything out of the ordinary.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from assets import services as asset_services
from generation.models import GenerationJob, JobStatus
from plugins.models import PluginSetting

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claimed:
    """A job this worker took, with its plugin's settings as they were when it was taken."""

    job: GenerationJob
    enabled: bool
    config: dict[str, Any]


def _claim_sql() -> str:
    # One statement takes the job when nothing unusual is going on (queued, or running with a
    # stale heartbeat; no cancel, attempts left), and returns the row, the requester's name and
    # the plugin's settings: a round trip instead of eight, and settings that are never stale
    # (an admin's change on any host is seen by the next job). Anything unusual (a duplicate
    # delivery, files left by a crashed attempt, a cancel, no attempts left) returns no row and
    # goes through the runner's locked ``_claim``. Plain SQL because the ORM has no UPDATE ...
    # RETURNING; PostgreSQL and SQLite (3.35+) both run it.
    quote = connection.ops.quote_name
    job = quote(GenerationJob._meta.db_table)
    user = quote(User._meta.db_table)
    setting = quote(PluginSetting._meta.db_table)
    columns = ", ".join(f"{job}.{quote(str(f.column))}" for f in GenerationJob._meta.concrete_fields)
    plugin_setting = f"FROM {setting} WHERE {setting}.plugin_id = {job}.plugin_id"
    return (
        f"UPDATE {job} SET attempts = attempts + 1, status = %s, worker = %s, "
        "started_at = COALESCE(started_at, %s), heartbeat_at = %s "
        "WHERE id = %s AND cancel_requested = %s AND attempts < max_attempts "
        "AND (status = %s OR (status = %s AND (heartbeat_at IS NULL OR heartbeat_at < %s))) "
        f"RETURNING {columns}, "
        f"(SELECT username FROM {user} WHERE {user}.id = {job}.requested_by_id) AS claim_username, "
        f"(SELECT enabled {plugin_setting}) AS claim_enabled, "
        f"(SELECT config {plugin_setting}) AS claim_config"
        + (
            # Evaluated before this statement's own commit (autocommit), for that commit only:
            # visible to every worker at once, durable with the job's next synchronous commit
            # (pending files, or its end: WAL is flushed in order), so the claim costs no WAL
            # flush of its own (~7 ms on the development machine's disk). A database crash in
            # between loses only the claim: the job looks queued or stale and runs again, as
            # after a lost worker.
            ", set_config('synchronous_commit', 'off', true) AS claim_async"
            if connection.vendor == "postgresql"
            else ""
        )
    )


def claim_fast(job_id: str, me: str) -> Claimed | None:
    """Take an ordinary job in one statement (see ``_claim_sql``); None when it is not one."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.HALLMARK_JOB_STALE_AFTER)
    try:
        pk = GenerationJob._meta.pk.to_python(job_id)
    except ValidationError:
        return None
    when = GenerationJob._meta.get_field("heartbeat_at")
    params = [
        JobStatus.RUNNING.value,
        me,
        when.get_db_prep_value(now, connection),
        when.get_db_prep_value(now, connection),
        GenerationJob._meta.pk.get_db_prep_value(pk, connection),
        False,
        JobStatus.QUEUED.value,
        JobStatus.RUNNING.value,
        when.get_db_prep_value(stale, connection),
    ]
    # One statement in autocommit: it commits as it runs (one round trip in all).
    job = next(iter(GenerationJob.objects.raw(_claim_sql(), params)), None)
    if job is None:
        return None
    username, enabled, config = job.claim_username, job.claim_enabled, job.claim_config  # type: ignore[attr-defined]
    job.requested_by = User.from_db(connection.alias, ["id", "username"], [job.requested_by_id, username])
    if isinstance(config, str):  # jsonb and SQLite's JSON both arrive as text here
        config = json.loads(config)
    if job.pending_files:
        # A previous attempt wrote files and died before committing them; the job is ours now.
        removed = asset_services.discard_files(list(job.pending_files))
        logger.info("job %s: removed %d files left by a crashed attempt", job.id, len(removed))
        GenerationJob.objects.filter(pk=job.pk, worker=me).update(pending_files=[])
        job.pending_files = []
    return Claimed(job, bool(enabled), dict(config or {}))


def worker_name() -> str:
    """This process, as recorded on the jobs it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"
