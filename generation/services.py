"""The only writers of generation jobs: submit, run, cancel, recover.

``run`` is safe to call any number of times for one job: it locks the row, does only what is
still missing and never makes a second set of assets (Zulip's worker habit).
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from assets import services as asset_services
from generation.models import TERMINAL_STATUSES, GenerationJob, JobStatus
from governance import roles
from governance.audit_trail import ActingUser, record_event
from governance.provenance.c2pa_signing import ProvenanceError
from plugins import services as plugin_services
from plugins.runtime import warm_cache
from plugins.sdk import Cancelled, ConfigInvalid, GenerationResult, PluginError, RequestInvalid
from plugins.validation import build_request

logger = logging.getLogger(__name__)

#: The request fields a plugin's capabilities govern (besides ``plugin`` and ``idempotency_key``).
REQUEST_FIELDS = ("prompt", "negative_prompt", "width", "height", "seed", "num_images", "params")


class IdempotencyConflict(Exception):
    """The idempotency key was used before for a different request."""


class QueueFull(Exception):
    """The user already has as many jobs queued or running as one user may (HTTP 429).

    ``limit`` is ``HALLMARK_MAX_QUEUED_PER_USER``; the message says it and what to do.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(
            f"You already have {limit} jobs queued or running, the most one user may have at once. "
            "Wait for one to finish or cancel one, then submit again."
        )


class CancelNotPermitted(Exception):
    """The acting user is neither the job's requester nor an admin (the API answers 404)."""


def queue_for(plugin_id: str) -> str:
    """The Celery queue a plugin's jobs go to; workers subscribe per plugin."""
    return f"gen.{plugin_id}"


def worker_name() -> str:
    """This process, as recorded on the jobs it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


# ---------------------------------------------------------------------------------------------
# Submit
# ---------------------------------------------------------------------------------------------


def submit(
    *,
    acting_user: User,
    plugin_id: Any,
    fields: Mapping[str, Any],
    idempotency_key: Any = None,
) -> tuple[GenerationJob, bool]:
    """Validate a request and queue a job for it; return ``(job, created)``.

    Raises ``RequestInvalid`` naming each field at fault (the plugin field too, when the plugin
    is unknown, broken, disabled or unhealthy), ``IdempotencyConflict``, and ``QueueFull`` when
    the user already has ``HALLMARK_MAX_QUEUED_PER_USER`` jobs queued or running. A request
    repeated with the same idempotency key returns the first job instead of making another
    (even at the cap: it queues nothing new).
    """
    if not isinstance(plugin_id, str) or not plugin_id:
        raise RequestInvalid({"plugin": ["This field is required and must be a plugin id."]})
    if idempotency_key is not None and (
        not isinstance(idempotency_key, str) or not 1 <= len(idempotency_key) <= 128
    ):
        raise RequestInvalid({"idempotency_key": ["Must be a string of 1 to 128 characters."]})
    try:
        plugin = plugin_services.available_plugin(plugin_id)
    except plugin_services.PluginUnavailable as exc:
        shown = str(exc) if roles.has_role(acting_user, roles.ADMIN) else exc.public_message
        raise RequestInvalid({"plugin": [shown]}) from None

    request = build_request(plugin, **{k: fields[k] for k in REQUEST_FIELDS if k in fields})
    values = {
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "width": request.width,
        "height": request.height,
        "seed": request.seed,
        "num_images": request.num_images,
        "params": dict(request.params),
    }
    seed_given = fields.get("seed") is not None
    if idempotency_key is not None:
        existing = GenerationJob.objects.filter(
            requested_by=acting_user, idempotency_key=idempotency_key
        ).first()
        if existing is not None:
            return _replay(existing, plugin_id, values, seed_given=seed_given), False
    try:
        with transaction.atomic():
            _check_queue_cap(acting_user)
            job = GenerationJob.objects.create(
                plugin_id=plugin_id,
                plugin_version=plugin.version,
                requested_by=acting_user,
                idempotency_key=idempotency_key,
                queue=queue_for(plugin_id),
                max_attempts=settings.HALLMARK_MAX_ATTEMPTS,
                progress_total=0,
                enqueued_at=timezone.now(),
                **values,
            )
            record_event(
                "generation.requested",
                acting_user=acting_user,
                target=job,
                data={"plugin": plugin_id, "plugin_version": plugin.version, **values},
            )
            transaction.on_commit(lambda: enqueue(job))
    except IntegrityError:
        # Two requests with one idempotency key raced; the other one made the job.
        existing = GenerationJob.objects.filter(
            requested_by=acting_user, idempotency_key=idempotency_key
        ).first()
        if idempotency_key is None or existing is None:
            raise
        return _replay(existing, plugin_id, values, seed_given=seed_given), False
    return job, True


def _check_queue_cap(user: User) -> None:
    """Refuse a new job when the user already has the most queued or running jobs allowed.

    One user cannot fill every worker's queue for everyone else. The user's row is locked
    first (inside the caller's transaction) so that two submissions at once cannot both take
    the last free place; the count stops at the limit, so a user with a long history costs
    no more than one with none.
    """
    limit = settings.HALLMARK_MAX_QUEUED_PER_USER
    if limit <= 0:
        return
    User.objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True).first()
    active = (
        GenerationJob.objects.filter(
            requested_by=user, status__in=(JobStatus.QUEUED, JobStatus.RUNNING)
        ).values("pk")[:limit]
    ).count()
    if active >= limit:
        raise QueueFull(limit)


def _replay(
    existing: GenerationJob, plugin_id: str, values: Mapping[str, Any], *, seed_given: bool
) -> GenerationJob:
    """Return the job an idempotency key made, if the new request asks for the same thing.

    Compares the cleaned request (so whitespace and defaults do not matter); a seed left out
    of the retry was drawn at random, so it is not compared.
    """
    compared = [k for k in values if k != "seed" or seed_given]
    differs = existing.plugin_id != plugin_id or any(values[k] != getattr(existing, k) for k in compared)
    if differs:
        raise IdempotencyConflict(
            f"Idempotency key {existing.idempotency_key!r} was already used for job {existing.id} with other parameters."
        )
    return existing


def enqueue(job: GenerationJob) -> None:
    """Hand the job to its plugin's queue. A broker that is down is logged, not raised: the
    job stays queued and a worker's recovery sweep enqueues it again."""
    from generation.tasks import run_generation

    try:
        run_generation.apply_async(args=(str(job.id),), queue=job.queue)
    except Exception:
        logger.exception("could not enqueue job %s; the recovery sweep will retry", job.id)


# ---------------------------------------------------------------------------------------------
# Cancel
# ---------------------------------------------------------------------------------------------


def may_cancel(job: GenerationJob, user: ActingUser) -> bool:
    """Whether ``user`` may cancel ``job``: its requester while holding the creator role, or an
    admin (superusers count). ``None`` is Hallmark itself (maintenance), which may."""
    if user is None:
        return True
    if not user.is_authenticated:
        return False
    if roles.has_role(user, roles.ADMIN):
        return True
    return bool(user.pk == job.requested_by_id and roles.has_role(user, roles.CREATOR))


def cancel(job_id: Any, *, acting_user: ActingUser) -> GenerationJob:
    """Cancel a job: at once when queued, within one step when running; no-op when finished.

    Raises ``CancelNotPermitted`` (before writing anything) when ``acting_user`` may not
    cancel it (``may_cancel``).
    """
    with transaction.atomic():
        job = GenerationJob.objects.select_for_update().get(pk=job_id)
        if not may_cancel(job, acting_user):
            raise CancelNotPermitted(f"Job {job.pk} is not yours to cancel.")
        if job.is_terminal or job.cancel_requested:
            return job
        if job.status == JobStatus.QUEUED:
            job.status = JobStatus.CANCELLED
            job.finished_at = timezone.now()
            job.cancel_requested = True
            job.save(update_fields=["status", "finished_at", "cancel_requested"])
            record_event(
                "generation.cancelled", acting_user=acting_user, target=job, data={"while": "queued"}
            )
        else:
            job.cancel_requested = True
            job.save(update_fields=["cancel_requested"])
            record_event("generation.cancel_requested", acting_user=acting_user, target=job, data={})
    return job


# ---------------------------------------------------------------------------------------------
# Run (on a worker)
# ---------------------------------------------------------------------------------------------


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
        ]
    )
    event_data: dict[str, Any] = {"attempts": job.attempts, **(data or {})}
    if error:
        event_data["error"] = error
        event_data["error_code"] = error_code
    record_event(f"generation.{status}", acting_user=None, system_actor="worker", target=job, data=event_data)


class _JobMonitor:
    """Progress, heartbeat and cancellation for one running job.

    Progress rows are written at most every 0.1 s (and always at the last step); a background
    thread keeps the heartbeat fresh while a plugin waits on something that reports nothing.
    """

    def __init__(self, job: GenerationJob) -> None:
        self.job_id = job.pk
        self.me = job.worker
        self._last_write = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job.pk}", daemon=True)

    def start(self) -> _JobMonitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _mine(self) -> QuerySet[GenerationJob]:
        # Only while this worker still owns the job: one presumed dead must not write over
        # the worker that took the job over.
        return GenerationJob.objects.filter(pk=self.job_id, worker=self.me, status=JobStatus.RUNNING)

    def _beat(self) -> None:
        while not self._stop.wait(settings.HALLMARK_HEARTBEAT_SECONDS):
            try:
                self._mine().update(heartbeat_at=timezone.now())
            except Exception:
                # A database restart or a lock timeout: keep beating, or the job is taken over.
                logger.warning("heartbeat for job %s failed; retrying", self.job_id, exc_info=True)
                connection.close()
        connection.close()

    def on_progress(self, step: int, total: int) -> None:
        now = time.monotonic()
        if step < total and now - self._last_write < 0.1:
            return
        self._last_write = now
        try:
            self._mine().update(progress_step=step, progress_total=total, heartbeat_at=timezone.now())
        except Exception:
            # Progress is best effort: a failed write must not fail the generation.
            logger.warning("progress of job %s not recorded", self.job_id, exc_info=True)

    def is_cancelled(self) -> bool:
        try:
            return GenerationJob.objects.filter(pk=self.job_id, cancel_requested=True).exists()
        except Exception:
            logger.warning("cancellation of job %s not checked", self.job_id, exc_info=True)
            return False


def run(job_id: str, *, store_in_background: bool = False) -> None:
    """Run a job on this worker, once, whatever the number of deliveries.

    Takes the plugin from the worker's warm cache, generates, stores the images as assets
    and finishes the job; failures become a failed job with a message for the user.

    With ``store_in_background`` the encoding, signing and writing of the images happen in a
    storage thread while this returns, so a GPU worker starts its next job instead of waiting
    for the CPU work (DESIGN.md, performance notes). The job stays ``running`` with a live
    heartbeat until it is stored; if the process dies first, recovery runs the job again.
    """
    me = worker_name()
    job = _claim(job_id, me)
    if job is None:
        return
    # The heartbeat starts before the plugin loads (loading large weights can take minutes)
    # and lasts until the images are stored.
    monitor = _JobMonitor(job).start()
    try:
        current = plugin_services.state(job.plugin_id)
        if not current.enabled:
            raise plugin_services.PluginUnavailable(
                f"Plugin {job.plugin_id} was disabled before the job ran.", code="disabled"
            )
        plugin_class = current.entry.get_class()
        if plugin_class.version != job.plugin_version:
            # Workers were upgraded while the job waited: its assets name the version that ran.
            job.plugin_version = plugin_class.version
            GenerationJob.objects.filter(pk=job.pk).update(plugin_version=plugin_class.version)
        plugin = warm_cache().get(job.plugin_id, plugin_class.clean_config(current.config))
        request = build_request(
            plugin,
            prompt=job.prompt,
            negative_prompt=job.negative_prompt,
            width=job.width,
            height=job.height,
            seed=job.seed,
            num_images=job.num_images,
            params=job.params,
            job_id=str(job.id),
        )
        identity = plugin.identity().as_dict()
        result = plugin.generate(request, monitor.on_progress, monitor.is_cancelled)
    except BaseException as exc:
        monitor.stop()
        _fail_for(job, me, exc)
        if not isinstance(exc, Exception):
            raise
        return
    store = functools.partial(
        _store_then_stop, monitor, job, me, result, identity, plugin.license.as_dict(), plugin.is_ai_model
    )
    if store_in_background:
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


def _store_then_stop(
    monitor: _JobMonitor,
    job: GenerationJob,
    me: str,
    result: GenerationResult,
    identity: dict[str, Any],
    license: dict[str, Any],
    is_ai_model: bool,
) -> None:
    try:
        _store(job, me, result, identity, license, is_ai_model)
    except ProvenanceError as exc:
        # No signer, or the signer refused: the images are not stored without their credentials.
        _fail_or_cancel(job, me, JobStatus.FAILED, error=str(exc), error_code=exc.code)
    except Exception as exc:
        logger.exception("job %s: storing the images failed", job.id)
        _fail_or_cancel(
            job,
            me,
            JobStatus.FAILED,
            error=f"Storing the images failed ({type(exc).__name__}).",
            error_code="store",
        )
    finally:
        monitor.stop()


class _BackgroundStores:
    """One storage thread per worker process, with at most ``limit`` jobs waiting for it.

    The limit is back-pressure: when storing falls behind, ``submit`` blocks the worker
    before it generates more images than memory can hold.
    """

    def __init__(self, limit: int = 2) -> None:
        self._slots = threading.BoundedSemaphore(limit)
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, store: Callable[[], None]) -> None:
        self._slots.acquire()
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hallmark-store")
            self._executor.submit(self._run, store)

    def _run(self, store: Callable[[], None]) -> None:
        try:
            store()
        except Exception:
            # Nobody reads the Future: say it here. The job stays running and is recovered.
            logger.exception("background store failed")
        finally:
            connection.close()
            self._slots.release()

    def drain(self) -> None:
        """Wait for every pending store (worker shutdown)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)


_background_stores = _BackgroundStores()


def drain_background_stores() -> None:
    """Finish storing what this process generated; called when a worker shuts down."""
    _background_stores.drain()


def _fail_or_cancel(job: GenerationJob, me: str, status: JobStatus, **kwargs: Any) -> None:
    with transaction.atomic():
        locked = GenerationJob.objects.select_for_update().get(pk=job.pk)
        if locked.is_terminal or locked.worker != me:
            return
        _finish(locked, status, **kwargs)


def _store(
    job: GenerationJob,
    me: str,
    result: GenerationResult,
    identity: dict[str, Any],
    license: dict[str, Any],
    is_ai_model: bool,
) -> None:
    """Stamp and write the files, then commit assets and the job's success together."""
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
        job, result.images, identity=identity, license=license, is_ai_model=is_ai_model
    )
    names = [name for item in prepared for name in item.file_names]
    # Record the names before writing, so that a worker taking over after a crash can remove them.
    with transaction.atomic():
        locked = GenerationJob.objects.select_for_update().get(pk=job.pk)
        if locked.is_terminal or locked.worker != me:
            return
        locked.pending_files = names
        locked.save(update_fields=["pending_files"])
    asset_services.write_files(prepared)
    with transaction.atomic():
        locked = (
            GenerationJob.objects.select_for_update(of=("self",))
            .select_related("requested_by")
            .get(pk=job.pk)
        )
        if locked.is_terminal or locked.worker != me or locked.assets.exists():
            asset_services.discard_files(names)
            return
        if locked.cancel_requested:
            asset_services.discard_files(names)
            _finish(locked, JobStatus.CANCELLED, data={"while": "storing"})
            return
        assets = asset_services.create_assets(locked, prepared, identity=identity, license=license)
        locked.pending_files = []  # committed with the assets that refer to them
        locked.progress_step = max(locked.progress_step, locked.progress_total)
        if result.cost is not None:
            locked.cost = Decimal(str(result.cost))
            locked.cost_currency = result.currency
        _finish(
            locked,
            JobStatus.SUCCEEDED,
            data={"assets": [str(a.id) for a in assets], "model": identity, "cost": result.cost},
        )


# ---------------------------------------------------------------------------------------------
# Recovery
# ---------------------------------------------------------------------------------------------


def recover_stale_jobs(queues: list[str] | None = None) -> list[str]:
    """Enqueue again the jobs a dead worker or a lost message left behind; return their ids.

    Running jobs whose heartbeat is older than ``HALLMARK_JOB_STALE_AFTER`` and queued jobs
    waiting longer than ``HALLMARK_REQUEUE_QUEUED_AFTER``. Enqueuing twice is harmless: ``run``
    takes a job only once.
    """
    now = timezone.now()
    stale_after = timedelta(seconds=settings.HALLMARK_JOB_STALE_AFTER)
    # A stale job enqueued again less than stale_after ago is already waiting for a worker.
    not_just_recovered = Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - stale_after)
    stale_running = (
        Q(status=JobStatus.RUNNING)
        & (Q(heartbeat_at__lt=now - stale_after) | Q(heartbeat_at__isnull=True))
        & not_just_recovered
    )
    lost_queued = Q(status=JobStatus.QUEUED) & (
        Q(enqueued_at__lt=now - timedelta(seconds=settings.HALLMARK_REQUEUE_QUEUED_AFTER))
        | Q(enqueued_at__isnull=True)
    )
    candidates = GenerationJob.objects.filter(stale_running | lost_queued).exclude(
        status__in=TERMINAL_STATUSES
    )
    if queues is not None:
        candidates = candidates.filter(queue__in=queues)
    recovered = []
    for job in candidates.only("id", "queue", "status")[:500]:
        GenerationJob.objects.filter(pk=job.pk, status=job.status).update(enqueued_at=now)
        enqueue(job)
        recovered.append(str(job.pk))
    if recovered:
        logger.warning("re-enqueued %d stale jobs: %s", len(recovered), ", ".join(recovered))
    return recovered
