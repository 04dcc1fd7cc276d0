"""The worker side of a generation job: claim it, generate, store the images, finish it.

``run`` is safe to call any number of times for one job: it takes the row (one statement in
``generation.claim`` for an ordinary job, a locked read otherwise), does only what is still
missing and never makes a second set of assets (Zulip's worker habit). While a job runs,
``generation.job_monitor.JobMonitor`` keeps its heartbeat fresh, records progress and answers the plugin's
cancellation checks; a job whose heartbeat goes stale is taken over by another worker's
recovery sweep (``generation.recovery.recover_stale_jobs``). The names of the files a job will
write are recorded on it (``pending_files``) before they are written, so an attempt that died
half-way leaves nothing behind once the job is taken again. Storing is
``generation.storing``; with ``store_in_background`` the encoding, signing and writing run in
one storage thread per process (``generation.background_stores``), which stores the jobs
waiting for it together and whose bounded queue stops a worker from generating faster than it
can store.

The web side (submit, cancel, recover, enqueue) is ``generation.services``; the Celery task
that calls ``run`` is ``generation.tasks.run_generation``.
"""

from __future__ import annotations

import functools
import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from assets import services as asset_services
from assets import soft_binding
from generation.background_stores import BackgroundStores
from generation.claim import Claimed, claim_fast, plugin_for, worker_name
from generation.job_end import fail_or_cancel as _fail_or_cancel
from generation.job_end import finish as _finish
from generation.job_monitor import JobMonitor, retrying_database
from generation.lineage import Source, derive_request
from generation.models import GenerationJob, JobStatus
from generation.output import Generated
from generation.storing import ToStore, store_group, store_then_stop
from hallmark.sdk import Cancelled, ConfigInvalid, GenerationResult, Plugin, PluginError, RequestInvalid
from plugins import services as plugin_services
from plugins.models import PluginSetting
from plugins.validation import REQUEST_FIELD_NAMES, build_request

logger = logging.getLogger(__name__)


def _take(job_id: str, me: str) -> Claimed | None:
    """The job and its plugin's settings for this worker, or None when there is nothing to do."""
    claimed = claim_fast(job_id, me)
    if claimed is not None:
        return claimed
    job = _claim(job_id, me)
    if job is None:
        return None
    setting = PluginSetting.objects.filter(plugin_id=job.plugin_id).values("enabled", "config").first()
    return Claimed(job, bool(setting and setting["enabled"]), dict(setting["config"]) if setting else {})


def _claim(job_id: str, me: str) -> GenerationJob | None:
    """Lock the job and take it for this worker, or return None when there is nothing to do."""
    with transaction.atomic():
        job = (
            GenerationJob.objects.select_for_update(of=("self",))
            .select_related("requested_by")
            .filter(pk=job_id)
            .first()
        )
        if job is None or job.is_terminal:
            return None
        now = timezone.now()
        heartbeat_fresh = job.heartbeat_at is not None and now - job.heartbeat_at < timedelta(
            seconds=settings.HALLMARK_JOB_STALE_AFTER
        )
        if job.status == JobStatus.RUNNING and heartbeat_fresh:
            # A live worker has it (perhaps this one, still storing): this delivery is a duplicate.
            return None
        if job.pending_files:
            # A previous attempt wrote files and died before committing them.
            removed = asset_services.discard_files(list(job.pending_files))
            logger.info("job %s: removed %d files left by a crashed attempt", job.id, len(removed))
            job.pending_files = []
        if job.cancel_requested:
            _finish(job, JobStatus.CANCELLED, data={"while": "running"})
            return None
        if job.attempts >= job.max_attempts:
            _finish(
                job,
                JobStatus.FAILED,
                error=f"Gave up after {job.attempts} attempts: the worker was lost each time.",
                error_code="attempts_exhausted",
            )
            return None
        job.attempts += 1
        job.status = JobStatus.RUNNING
        job.worker = me
        job.started_at = job.started_at or now
        job.heartbeat_at = now
        job.save(
            update_fields=["attempts", "status", "worker", "started_at", "heartbeat_at", "pending_files"]
        )
    return job


def run(job_id: str, *, store_in_background: bool = False) -> None:
    """Run a job on this worker, once, whatever the number of deliveries.

    Takes the plugin from the worker's warm cache, generates, stores the images as assets
    and finishes the job; failures become a failed job with a message for the user.

    With ``store_in_background`` the encoding, signing and writing of the images happen in a
    storage thread while this returns, so a GPU worker starts its next job instead of waiting
    for the CPU work (docs/benchmarks.md measures both). The job stays ``running`` with a live
    heartbeat until it is stored; if the process dies first, recovery runs the job again.
    """
    me = worker_name()
    claimed = _take(job_id, me)
    if claimed is None:
        return
    run_claimed(claimed, me, store_in_background=store_in_background)


def run_claimed(claimed: Claimed, me: str, *, store_in_background: bool = False) -> None:
    """``run`` for a job this worker has just taken (``generation.batching`` takes its own)."""
    job = claimed.job
    # The heartbeat starts before the plugin loads (loading large weights can take minutes)
    # and lasts until the images are stored.
    monitor = JobMonitor(job).start()
    try:
        plugin = plugin_for(claimed)
        request = build_request(
            plugin, job_id=str(job.id), **{name: getattr(job, name) for name in REQUEST_FIELD_NAMES}
        )
        request, source = derive_request(job, request, plugin)
        identity = plugin.identity().as_dict()
        result = plugin.generate(request, monitor.on_progress, monitor.is_cancelled)
    except BaseException as exc:
        try:
            # Recorded once the database answers again, with the heartbeat still beating: a
            # failure is not left `running` for the recovery sweep to find.
            retrying_database(functools.partial(_fail_for, job, me, exc), job)
        finally:
            monitor.stop()
        if not isinstance(exc, Exception):
            raise
        return
    store_result(monitor, job, me, plugin, identity, result, source=source, in_background=store_in_background)


def store_result(
    monitor: JobMonitor,
    job: GenerationJob,
    me: str,
    plugin: Plugin,
    identity: dict[str, Any],
    result: GenerationResult,
    *,
    source: Source | None = None,
    in_background: bool,
) -> None:
    """Store what ``plugin`` made for ``job`` and end it: here, or in the storage thread."""
    output = Generated(
        result=result,
        identity=identity,
        license=plugin.license.as_dict(),
        is_ai_model=plugin.is_ai_model,
        watermark=soft_binding.should_watermark(type(plugin)),
        source=source,
        latent_space=plugin.capabilities.latent_space,
    )
    item = ToStore(monitor, job, me, output)
    if in_background:
        _background_stores.submit(item)
    else:
        store_then_stop(item)


def _fail_for(job: GenerationJob, me: str, exc: BaseException) -> None:
    """Turn what ``generate`` raised into the job's end."""
    if isinstance(exc, Cancelled):
        _fail_or_cancel(job, me, JobStatus.CANCELLED, data={"while": "running"})
    elif isinstance(exc, PluginError):
        _fail_or_cancel(
            job, me, JobStatus.FAILED, error=str(exc), error_code=exc.code, data={"retryable": exc.retryable}
        )
    elif isinstance(exc, ConfigInvalid):
        # The stored configuration no longer passes (an operator narrowed an allow-list).
        _fail_or_cancel(
            job,
            me,
            JobStatus.FAILED,
            # The keys at fault, not the messages: those may name paths, hosts and variables.
            error=(
                f"Plugin {job.plugin_id} is misconfigured ({', '.join(sorted(exc.errors))}); "
                "an admin must fix its configuration."
            ),
            error_code="plugin_misconfigured",
        )
    elif isinstance(exc, RequestInvalid):
        _fail_or_cancel(
            job, me, JobStatus.FAILED, error=f"Request no longer valid: {exc}", error_code="invalid"
        )
    elif isinstance(exc, LookupError | plugin_services.PluginUnavailable):
        _fail_or_cancel(job, me, JobStatus.FAILED, error=str(exc), error_code="plugin_unavailable")
    elif isinstance(exc, Exception):
        logger.error("job %s: plugin %s crashed", job.id, job.plugin_id, exc_info=exc)
        _fail_or_cancel(
            job,
            me,
            JobStatus.FAILED,
            error=f"The plugin failed unexpectedly ({type(exc).__name__}).",
            error_code="crash",
        )
    # KeyboardInterrupt, SystemExit: the worker is going away; recovery takes the job over.


_background_stores: BackgroundStores[ToStore] = BackgroundStores(store_group)


def drain_background_stores() -> None:
    """Finish storing what this process generated; called when a worker shuts down."""
    _background_stores.drain()
