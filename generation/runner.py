"""The worker side of a generation job: claim it, generate, store the images, finish it.

``run`` is safe to call any number of times for one job: it takes the row (one statement in
``generation.claim`` for an ordinary job, a locked read otherwise), does only what is still
missing and never makes a second set of assets (Zulip's worker habit). While a job runs,
``generation.job_monitor.JobMonitor`` keeps its heartbeat fresh, records progress and answers the plugin's
cancellation checks; a job whose heartbeat goes stale is taken over by another worker's
recovery sweep (``generation.recovery.recover_stale_jobs``). The names of the files a job will
write are recorded on it (``pending_files``) before they are written, so an attempt that died
half-way leaves nothing behind once the job is taken again. With ``store_in_background`` the
encoding, signing and writing run in one storage thread per process
(``generation.background_stores``),
whose bounded queue stops a worker from generating faster than it can store.

The web side (submit, cancel, recover, enqueue) is ``generation.services``; the Celery task
that calls ``run`` is ``generation.tasks.run_generation``.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from assets import services as asset_services
from assets import soft_binding
from generation import checking
from generation.background_stores import BackgroundStores
from generation.claim import Claimed, claim_fast, plugin_for, worker_name
from generation.job_monitor import JobMonitor, retrying_database
from generation.lineage import Source, derive_request, keep_latents
from generation.models import GenerationJob, JobStatus
from generation.output import Generated
from generation.routing_hooks import report_end
from governance.audit_trail import PendingEvent, record_event
from governance.provenance.c2pa_signing import ProvenanceError
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


def _finish(
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
    store = functools.partial(_store_then_stop, monitor, job, me, output)
    if in_background:
        _background_stores.submit(store)
    else:
        store()


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


def _store_then_stop(monitor: JobMonitor, job: GenerationJob, me: str, output: Generated) -> None:
    """Store what was generated, turn a failure to store into the job's end, stop the monitor."""
    try:
        try:
            # A database restart while storing: store again once it answers (files an earlier
            # try wrote are removed by the next; a commit that did land ends the retry).
            retrying_database(lambda: _store(job, me, output, progress=monitor.latest), job)
        except ProvenanceError as exc:
            # No signer, or the signer refused: the images are not stored without their credentials.
            retrying_database(
                functools.partial(
                    _fail_or_cancel, job, me, JobStatus.FAILED, error=str(exc), error_code=exc.code
                ),
                job,
            )
        except Exception as exc:
            logger.exception("job %s: storing the images failed", job.id)
            retrying_database(
                functools.partial(
                    _fail_or_cancel,
                    job,
                    me,
                    JobStatus.FAILED,
                    error=f"Storing the images failed ({type(exc).__name__}).",
                    error_code="store",
                ),
                job,
            )
    finally:
        monitor.stop()


_background_stores = BackgroundStores()


def drain_background_stores() -> None:
    """Finish storing what this process generated; called when a worker shuts down."""
    _background_stores.drain()


def _fail_or_cancel(job: GenerationJob, me: str, status: JobStatus, **kwargs: Any) -> None:
    with transaction.atomic():
        locked = GenerationJob.objects.select_for_update().get(pk=job.pk)
        if locked.is_terminal or locked.worker != me:
            return
        _finish(locked, status, **kwargs)


def _store(job: GenerationJob, me: str, output: Generated, *, progress: tuple[int, int] | None = None) -> None:
    """Stamp and write the files, then commit assets and the job's success together.

    ``progress`` is the plugin's last report (``JobMonitor.latest``), written with the end.
    """
    began = time.monotonic()
    result, identity, license = output.result, output.identity, output.license
    if len(result.images) != job.num_images:
        _fail_or_cancel(
            job,
            me,
            JobStatus.FAILED,
            error=f"The plugin returned {len(result.images)} images for {job.num_images} requested.",
            error_code="plugin_contract",
        )
        return
    prepared = asset_services.prepare(
        job,
        result.images,
        identity=identity,
        license=license,
        is_ai_model=output.is_ai_model,
        watermark=output.watermark,
        parent=output.source.ingredient() if output.source else None,
    )
    names = [name for item in prepared for name in item.file_names]
    # Record the names before writing, so that a worker taking over after a crash can remove
    # them; only while the job is still this worker's (one short transaction).
    mine = GenerationJob.objects.filter(pk=job.pk, worker=me, status=JobStatus.RUNNING)
    with transaction.atomic():
        earlier = mine.select_for_update().values_list("pending_files", flat=True).first()
        if earlier is None:
            return
        if earlier:
            # An earlier try of this store wrote them and lost the database before committing.
            asset_services.discard_files([n for n in earlier if n not in names])
        mine.update(pending_files=names)
    asset_services.write_files(prepared)
    with transaction.atomic():
        # The usual end in one transaction: the job finished (its row locked by the UPDATE),
        # the asset rows in one insert, then every audit event with one lock of the chain head.
        changes: dict[str, Any] = {}
        if result.cost is not None:
            changes.update(cost=Decimal(str(result.cost)), cost_currency=result.currency)
        total: Any = F("progress_total")
        if progress is not None:
            total = changes["progress_total"] = Greatest(F("progress_total"), Value(progress[1]))
        finished = mine.filter(cancel_requested=False).update(
            status=JobStatus.SUCCEEDED,
            error="",
            error_code="",
            finished_at=timezone.now(),
            pending_files=[],  # committed with the assets that refer to them
            store_seconds=time.monotonic() - began,
            progress_step=Greatest(F("progress_step"), total),
            **changes,
        )
        if finished:
            report_end(job, JobStatus.SUCCEEDED, cost=result.cost)
            asset_ids = [str(item.asset_id) for item in prepared]
            transaction.on_commit(lambda: keep_latents(asset_ids, result.images, output.latent_space))
            asset_services.create_assets(
                job,
                prepared,
                identity=identity,
                license=license,
                then=[
                    PendingEvent(
                        f"generation.{JobStatus.SUCCEEDED}",
                        target=job,
                        system_actor="worker",
                        data={"attempts": job.attempts, "assets": asset_ids, "model": identity, "cost": result.cost},
                    )
                ],
            )
            checking.after_stored(job)
            return
    # Not ours any more, finished meanwhile, or cancelled while storing: decide under the lock.
    with transaction.atomic():
        locked = GenerationJob.objects.select_for_update().get(pk=job.pk)
        if locked.is_terminal or locked.worker != me:
            asset_services.discard_files(names)
            return
        if locked.cancel_requested:
            asset_services.discard_files(names)
            _finish(locked, JobStatus.CANCELLED, data={"while": "storing"})
