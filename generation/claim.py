"""Taking an ordinary job in one statement: the worker's fast path into ``generation.runner``;
taking the queued jobs that can share its model call (``claim_companions``, for
``generation.batching``); the taken job's plugin (``plugin_for``).

A writer of ``GenerationJob`` (``WRITERS``) beside the runner, which falls back to its locked
claim for anything out of the ordinary.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import socket
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.utils import timezone

from assets import services as asset_services
from generation.job_monitor import retrying_database
from generation.models import GenerationJob, JobStatus
from hallmark.sdk import Plugin
from plugins import registry
from plugins import services as plugin_services
from plugins.models import PluginSetting
from plugins.runtime import warm_cache

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claimed:
    """A job this worker took, with its plugin's settings as they were when it was taken."""

    job: GenerationJob
    enabled: bool
    config: dict[str, Any]


def _claim_sql() -> str:
    """The claim statement for this connection's database (built once per vendor)."""
    return _claim_sql_for(connection.vendor)


@functools.cache
def _claim_sql_for(vendor: str) -> str:
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
            if vendor == "postgresql"
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
    with connection.cursor() as cursor:
        cursor.execute(_claim_sql(), params)
        row = cursor.fetchone()
    if row is None:
        return None
    job = _job_from_row(row)
    username, enabled, config = row[len(job._meta.concrete_fields) :][:3]
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


def _job_from_row(row: Sequence[Any]) -> GenerationJob:
    """The job from the first columns of a claim's row (``_claim_sql``'s RETURNING order).

    What ``raw()`` does, without working out again for every claim which column is which
    field and how each is converted (the most CPU of a claim, measured): the converters are
    looked up once per database connection.
    """
    wrapper = connections[connection.alias]  # this thread's, not the proxy all threads share
    loaders = _loaders.get(wrapper)
    if loaders is None:
        loaders = _loaders[wrapper] = [
            (
                index,
                column,
                [*wrapper.ops.get_db_converters(column), *column.get_db_converters(wrapper)],
            )
            for index, column in enumerate(
                field.get_col(GenerationJob._meta.db_table) for field in GenerationJob._meta.concrete_fields
            )
        ]
    values = list(row[: len(loaders)])
    for index, column, converters in loaders:
        for convert in converters:
            values[index] = convert(values[index], column, wrapper)
    return GenerationJob.from_db(wrapper.alias, _ATTNAMES, values)


_ATTNAMES = [field.attname for field in GenerationJob._meta.concrete_fields]
# Per database connection (each thread has its own): its converters for a job's columns.
_loaders: weakref.WeakKeyDictionary[Any, list[tuple[int, Any, list[Any]]]] = weakref.WeakKeyDictionary()


def plugin_for(claimed: Claimed) -> Plugin:
    """The taken job's plugin, from this worker's warm cache, configured as the claim read it.

    Raises ``PluginUnavailable`` when the plugin was disabled meanwhile, ``LookupError`` when
    it is not installed here, ``ConfigInvalid`` when its configuration no longer passes.
    """
    job = claimed.job
    entry = registry.get_entry(job.plugin_id)
    if not claimed.enabled:
        raise plugin_services.PluginUnavailable(
            f"Plugin {job.plugin_id} was disabled before the job ran.", code="disabled"
        )
    plugin_class = entry.get_class()
    if plugin_class.version != job.plugin_version:
        # Workers were upgraded while the job waited: its assets name the version that ran.
        job.plugin_version = plugin_class.version
        retrying_database(
            lambda: GenerationJob.objects.filter(pk=job.pk).update(plugin_version=plugin_class.version), job
        )
    return warm_cache().get(job.plugin_id, plugin_class.clean_config(claimed.config))


def worker_name() -> str:
    """This process, as recorded on the jobs it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _companions_sql(limit: int) -> str:
    # The queued jobs that can share the leader's model call: same plugin, size, number of
    # images, negative prompt and parameters, none derived from an asset (compared with the leader's stored row, so both
    # databases compare like with like: jsonb on PostgreSQL, the stored text on SQLite), oldest
    # first. PostgreSQL skips rows another worker has locked (its own claim of one of them)
    # instead of waiting; SQLite runs one writer at a time. The outer conditions are checked
    # again on the row as it is when updated.
    quote = connection.ops.quote_name
    job = quote(GenerationJob._meta.db_table)
    user = quote(User._meta.db_table)
    columns = ", ".join(f"{job}.{quote(str(f.column))}" for f in GenerationJob._meta.concrete_fields)
    postgresql = connection.vendor == "postgresql"
    # The candidates are picked once, in a CTE: as a subquery of the UPDATE, PostgreSQL may run
    # a LIMIT ... SKIP LOCKED again per row and take more than the limit.
    materialized = "MATERIALIZED " if postgresql else ""
    locking = " FOR UPDATE OF candidate SKIP LOCKED" if postgresql else ""
    return (
        f"WITH picked AS {materialized}(SELECT candidate.id FROM {job} candidate, {job} leader "
        "WHERE leader.id = %s AND candidate.id <> leader.id AND candidate.status = %s "
        "AND candidate.plugin_id = leader.plugin_id "
        "AND candidate.width = leader.width AND candidate.height = leader.height "
        "AND candidate.num_images = leader.num_images "
        "AND candidate.negative_prompt = leader.negative_prompt AND candidate.params = leader.params "
        "AND candidate.cancel_requested = %s AND candidate.attempts < candidate.max_attempts "
        # A promoted job derives from its source asset (lineage, ingredient, refinement): alone.
        "AND candidate.source_asset_id IS NULL AND candidate.derivation = '' "
        f"ORDER BY candidate.created_at LIMIT {int(limit)}{locking}) "
        f"UPDATE {job} SET attempts = attempts + 1, status = %s, worker = %s, plugin_version = %s, "
        "started_at = COALESCE(started_at, %s), heartbeat_at = %s "
        "WHERE id IN (SELECT id FROM picked) AND status = %s AND cancel_requested = %s "
        f"RETURNING {columns}, "
        f"(SELECT username FROM {user} WHERE {user}.id = {job}.requested_by_id) AS claim_username"
        # No WAL flush of its own, as for the leader's claim (``_claim_sql``).
        + (", set_config('synchronous_commit', 'off', true) AS claim_async" if postgresql else "")
    )


def claim_companions(leader: GenerationJob, me: str, limit: int, *, version: str) -> list[GenerationJob]:
    """Take up to ``limit`` queued jobs that can run in one model call with ``leader``.

    One statement, like the leader's own claim; the jobs taken are running on this worker
    (attempts counted, heartbeat set) and their own queue messages later find them taken.
    ``version`` is the plugin version that will run them (recorded on them, as for the leader).
    Their order is the queue's: oldest first.
    """
    if limit < 1:
        return []
    now = timezone.now()
    when = GenerationJob._meta.get_field("heartbeat_at")
    queued, running = JobStatus.QUEUED.value, JobStatus.RUNNING.value
    stamp = when.get_db_prep_value(now, connection)
    leader_pk = GenerationJob._meta.pk.get_db_prep_value(leader.pk, connection)
    params = [leader_pk, queued, False, running, me, version, stamp, stamp, queued, False]
    jobs = list(GenerationJob.objects.raw(_companions_sql(limit), params))
    for job in jobs:
        username = job.claim_username  # type: ignore[attr-defined]
        job.requested_by = User.from_db(connection.alias, ["id", "username"], [job.requested_by_id, username])
        if job.pending_files:
            # Not left by a normal queued job; removed as the leader's claim would.
            asset_services.discard_files(list(job.pending_files))
            GenerationJob.objects.filter(pk=job.pk, worker=me).update(pending_files=[])
            job.pending_files = []
    jobs.sort(key=lambda job: job.created_at)
    return jobs
