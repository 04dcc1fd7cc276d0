"""Running compatible queued jobs as one model call, where the plugin batches.

The worker's entry point for a job (``generation.tasks.run_generation`` calls ``run``). A
worker takes the job as ``generation.runner`` does; when its plugin declares
``Capabilities.max_batch`` above 1 and ``HALLMARK_BATCH_MAX`` allows, it also takes up to
``limit - 1`` queued jobs that can share the call (same plugin, size, number of images,
negative prompt and parameters: ``generation.claim.claim_companions``, one statement) and
hands them all to ``Plugin.generate_batch`` at once. Their own queue messages later find them
taken and do nothing.

Each job of a batch keeps everything a lone job has: its own seed and images, heartbeat,
progress and cancellation (``JobMonitor``), its own store, assets and audit events
(``generation.storing.store_then_stop``). A job cancelled during the call is dropped from the
results and ends cancelled; a call that fails fails every job of the batch. A job whose end
raises (its failure cannot be recorded either) never keeps the jobs after it from ending
(``_end_each``). A worker that dies mid-batch leaves every job running with a stale heartbeat
(and its pending files recorded), which the recovery sweep hands to another worker like any
lost job.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from django.conf import settings

from generation.claim import Claimed, claim_companions, plugin_for, worker_name
from generation.job_monitor import JobMonitor, retrying_database
from generation.models import GenerationJob
from generation.runner import _fail_for, _take, run_claimed, store_result
from hallmark.sdk import Cancelled, GenerationRequest, GenerationResult, Plugin, PluginError, RequestInvalid
from plugins import registry
from plugins.validation import REQUEST_FIELD_NAMES, build_request

logger = logging.getLogger(__name__)


def run(job_id: str, *, store_in_background: bool = False) -> None:
    """Run a job, with the compatible queued jobs its plugin can take in the same call.

    Without batching (the plugin does not batch, ``HALLMARK_BATCH_MAX`` is 1, or nothing
    compatible is queued) this is ``generation.runner.run``.
    """
    me = worker_name()
    claimed = _take(job_id, me)
    if claimed is None:
        return
    limit = batch_limit(claimed)
    companions: list[GenerationJob] = []
    if limit > 1:
        version = registry.get_entry(claimed.job.plugin_id).get_class().version
        companions = retrying_database(
            lambda: claim_companions(claimed.job, me, limit - 1, version=version), claimed.job
        )
    if not companions:
        run_claimed(claimed, me, store_in_background=store_in_background)
        return
    logger.info("job %s: running with %d compatible jobs in one call", claimed.job.pk, len(companions))
    run_batch(claimed, companions, me, store_in_background=store_in_background)


def batch_limit(claimed: Claimed) -> int:
    """How many jobs the claimed job's plugin may run in one call here (1: no batching)."""
    if settings.HALLMARK_BATCH_MAX <= 1 or not claimed.enabled:
        return 1
    if claimed.job.source_asset_id is not None or claimed.job.derivation:
        return 1  # a promoted job runs alone: its request is derived from its source asset
    try:
        plugin_class = registry.get_entry(claimed.job.plugin_id).get_class()
    except Exception:
        return 1  # unknown or broken here: the lone path reports it on the job
    return max(1, min(settings.HALLMARK_BATCH_MAX, plugin_class.capabilities.max_batch))


def _valid_requests(
    plugin: Plugin,
    jobs: list[GenerationJob],
    monitors: list[JobMonitor],
    me: str,
    unrecorded: list[Exception],
) -> tuple[list[GenerationRequest], list[GenerationJob], list[JobMonitor]]:
    """Each job's request, and the jobs and monitors that go on with them. A job whose request
    no longer passes (the plugin or the limits changed while it waited) fails alone, as it would
    have run alone: one user's job must not fail the others' that share the call. A failure that
    cannot be recorded leaves that job for recovery (``_end_each``); its error is appended to
    ``unrecorded``, raised once the others have ended."""
    requests: list[GenerationRequest] = []
    kept: list[tuple[GenerationJob, JobMonitor]] = []
    for job, monitor in zip(jobs, monitors, strict=True):
        try:
            requests.append(
                build_request(
                    plugin, job_id=str(job.id), **{name: getattr(job, name) for name in REQUEST_FIELD_NAMES}
                )
            )
        except RequestInvalid as exc:
            try:
                _end_each([(monitor, _failure(monitor, job, me, exc))])
            except Exception as error:
                # Raised here, it would reach run_batch's handler, which fails every job of the
                # batch (this one again) with it, as if the call had failed.
                unrecorded.append(error)
            continue
        kept.append((job, monitor))
    return requests, [job for job, _ in kept], [monitor for _, monitor in kept]


def run_batch(
    claimed: Claimed, companions: list[GenerationJob], me: str, *, store_in_background: bool
) -> None:
    """Generate the leader's and its companions' images in one call, then store each job's own."""
    unrecorded: list[Exception] = []
    _run_batch(claimed, companions, me, store_in_background=store_in_background, unrecorded=unrecorded)
    if unrecorded:
        raise unrecorded[0]  # a refused job's failure could not be recorded: the task sees it, as alone


def _run_batch(
    claimed: Claimed,
    companions: list[GenerationJob],
    me: str,
    *,
    store_in_background: bool,
    unrecorded: list[Exception],
) -> None:
    """``run_batch``'s call and ends; a refusal that could not be recorded goes to ``unrecorded``."""
    jobs = [claimed.job, *companions]
    monitors = [JobMonitor(job).start() for job in jobs]
    try:
        plugin = plugin_for(claimed)
        requests, jobs, monitors = _valid_requests(plugin, jobs, monitors, me, unrecorded)
        if not jobs:
            return
        identity = plugin.identity().as_dict()
        results: list[GenerationResult | None] = plugin.generate_batch(
            requests,
            [monitor.on_progress for monitor in monitors],
            [monitor.is_cancelled for monitor in monitors],
        )
        if len(results) != len(jobs):
            raise PluginError(
                f"The plugin returned {len(results)} results for a batch of {len(jobs)} jobs.",
                code="plugin_contract",
            )
    except BaseException as exc:
        # The whole call failed (or every job was cancelled): each job ends as a lone job would.
        _end_each(
            [(monitor, _failure(monitor, job, me, exc)) for job, monitor in zip(jobs, monitors, strict=True)]
        )
        if not isinstance(exc, Exception):
            raise
        return
    ends: list[tuple[JobMonitor, Callable[[], None]]] = []
    for job, monitor, result in zip(jobs, monitors, results, strict=True):
        if result is None:
            # Cancelled during the call: its images, if any were made, are never stored.
            ends.append((monitor, _failure(monitor, job, me, Cancelled())))
            continue
        store = functools.partial(store_result, monitor, job, me, plugin, identity, result)
        ends.append((monitor, functools.partial(store, in_background=store_in_background)))
    _end_each(ends)


def _failure(monitor: JobMonitor, job: GenerationJob, me: str, exc: BaseException) -> Callable[[], None]:
    """The end of a job for what the call raised (or its cancel): recorded once the database
    answers, with the heartbeat beating until then, then stopped."""

    def end() -> None:
        try:
            retrying_database(functools.partial(_fail_for, job, me, exc), job)
        finally:
            monitor.stop()

    return end


def _end_each(ends: list[tuple[JobMonitor, Callable[[], None]]]) -> None:
    """Run each job's end (its failure recorded, or its store: here, or handed to the storage
    thread, which stops the heartbeat once stored) as the lone path runs one job's; an end that
    raises never keeps the jobs after it from ending.

    A job whose end raised is left ``running`` with its heartbeat stopped, so the recovery sweep
    takes it over, as it would a lone job's. Once every job has had its end, the first error is
    raised to the task, as the lone path raises it; each is logged here with its job, since the
    task's report names only the leader. A ``BaseException`` (the worker going away) stops every
    heartbeat left and is raised at once: recovery takes the jobs not yet ended.
    """
    first: Exception | None = None
    for index, (monitor, end) in enumerate(ends):
        try:
            end()
        except Exception as exc:
            monitor.stop()
            logger.exception("job %s: its end raised; left running for recovery", monitor.job_id)
            if first is None:
                first = exc
        except BaseException:
            for later, _ in ends[index:]:
                later.stop()
            raise
    if first is not None:
        raise first
