"""The web side of generation jobs: submit, cancel, enqueue (the recovery sweep, which enqueues
again what was lost, is ``generation.recovery``).

With ``generation.runner`` (the worker side: claim, generate, store, finish) these are the
only writers of generation jobs. A job reaches a worker as the Celery task
``RUN_GENERATION_TASK``, sent by name: this module never imports the task, so the web side
does not load the worker's code and the two modules import each other in one direction only
(``generation.tasks`` imports the runner).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from generation import checking, routing_hooks
from generation.derivation import DerivedFrom, audited_lineage, lineage_fields
from generation.models import GenerationJob, JobStatus
from governance import roles
from governance.audit_trail import ActingUser, record_event
from governance.provenance.prompt_digest import prompt_digest
from hallmark.celery import app
from hallmark.sdk import RequestInvalid
from plugins import services as plugin_services
from plugins.validation import REQUEST_FIELD_NAMES, build_request, request_values
from routing.services import RoutingDecision

logger = logging.getLogger(__name__)

#: The Celery task that runs a job on a worker (``generation.tasks.run_generation``).
RUN_GENERATION_TASK = "generation.run_generation"


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


# ---------------------------------------------------------------------------------------------
# Submit
# ---------------------------------------------------------------------------------------------


def submit(
    *,
    acting_user: User,
    plugin_id: Any,
    fields: Mapping[str, Any],
    idempotency_key: Any = None,
    derived_from: DerivedFrom | None = None,
    routed: RoutingDecision | None = None,
    retry_of: GenerationJob | None = None,
    queue_cap: bool = True,
) -> tuple[GenerationJob, bool]:
    """Validate a request and queue a job for it; return ``(job, created)``.

    Raises ``RequestInvalid`` naming each field at fault (the plugin field too, when the plugin
    is unknown, broken, disabled or unhealthy), ``IdempotencyConflict``, and ``QueueFull`` when
    the user already has ``HALLMARK_MAX_QUEUED_PER_USER`` jobs queued or running. A request
    repeated with the same idempotency key returns the first job instead of making another
    (even at the cap: it queues nothing new). A request that names ``tier`` and/or ``policy``
    in ``fields`` instead of a plugin is routed (``generation.routing_hooks``); every request
    passes the budgets (``routing.budgets.BudgetExceeded``, a 402). ``derived_from``: a promotion's source;
    ``routed``: the decision that chose ``plugin_id`` (a promotion by tier), recorded on the job.
    ``retry_of``: the next attempt to pass its checklist; ``queue_cap=False``: a benchmark's cell.
    """
    decision = routing_hooks.route(acting_user=acting_user, plugin_id=plugin_id, fields=fields) or routed
    if decision is not None:
        plugin_id = decision.plugin_id
    if not isinstance(plugin_id, str) or not plugin_id:
        raise RequestInvalid({"plugin": ["This field is required and must be a plugin id."]})
    if idempotency_key is not None and (
        not isinstance(idempotency_key, str)
        or not 1 <= len(idempotency_key) <= 128
        or "\x00" in idempotency_key
    ):
        raise RequestInvalid({"idempotency_key": ["Must be a string of 1 to 128 characters, without NUL."]})
    try:
        plugin = (
            decision.plugin if decision and decision.plugin else plugin_services.available_plugin(plugin_id)
        )
    except plugin_services.PluginUnavailable as exc:
        shown = str(exc) if roles.has_role(acting_user, roles.ADMIN) else exc.public_message
        raise RequestInvalid({"plugin": [shown]}) from None

    request = build_request(plugin, **{k: fields[k] for k in REQUEST_FIELD_NAMES if k in fields})
    values = request_values(request)
    acceptance = checking.job_fields(fields, retry_of=retry_of)
    seed_given = fields.get("seed") is not None
    if idempotency_key is not None:
        existing = GenerationJob.objects.filter(
            requested_by=acting_user, idempotency_key=idempotency_key
        ).first()
        if existing is not None:
            if decision is not None and existing.routing_policy == decision.policy:
                plugin_id = existing.plugin_id  # routed again: the same request, whichever plugin
            return _replay(
                existing, plugin_id, values, derived_from, seed_given=seed_given, acceptance=acceptance
            ), False
    try:
        with transaction.atomic():
            if queue_cap:
                _check_queue_cap(acting_user)
            job_id = routing_hooks.check_budget(
                acting_user=acting_user, plugin=plugin, images=values["num_images"]
            )
            job = GenerationJob.objects.create(
                id=job_id,
                plugin_id=plugin_id,
                plugin_version=plugin.version,
                requested_by=acting_user,
                idempotency_key=idempotency_key,
                queue=queue_for(plugin_id),
                max_attempts=settings.HALLMARK_MAX_ATTEMPTS,
                progress_total=0,
                enqueued_at=timezone.now(),
                **routing_hooks.job_fields(decision),
                **values,
                **lineage_fields(derived_from),
                **acceptance,
            )
            record_event(
                "generation.requested",
                acting_user=acting_user,
                target=job,
                data={
                    "plugin": plugin_id,
                    "plugin_version": plugin.version,
                    **audited_request(values),
                    **routing_hooks.audited(decision),
                }
                | audited_lineage(derived_from)
                | checking.audited(acceptance),
            )
            transaction.on_commit(lambda: enqueue(job))
    except IntegrityError:
        # Two requests with one idempotency key raced; the other one made the job.
        existing = GenerationJob.objects.filter(
            requested_by=acting_user, idempotency_key=idempotency_key
        ).first()
        if idempotency_key is None or existing is None:
            raise
        return _replay(
            existing, plugin_id, values, derived_from, seed_given=seed_given, acceptance=acceptance
        ), False
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


def audited_request(values: Mapping[str, Any]) -> dict[str, Any]:
    """A request as its audit event records it: prompts in the clear only when they are also
    written into files (``HALLMARK_EMBED_PROMPTS``); otherwise their digests (an HMAC under the
    organisation key), since audit exports and evidence packs leave the building."""
    if settings.HALLMARK_EMBED_PROMPTS:
        return dict(values)
    recorded = {k: v for k, v in values.items() if k not in ("prompt", "negative_prompt")}
    recorded.update(prompt_digest(str(values.get("prompt", ""))))
    negative = str(values.get("negative_prompt") or "")
    if negative:
        recorded["negative_prompt_digest"] = prompt_digest(negative)
    return recorded


def _replay(
    existing: GenerationJob,
    plugin_id: str,
    values: Mapping[str, Any],
    derived_from: DerivedFrom | None,
    *,
    seed_given: bool,
    acceptance: Mapping[str, Any],
) -> GenerationJob:
    """Return the job an idempotency key made, if the new request asks for the same thing.

    Compares the cleaned request (so whitespace and defaults do not matter); a seed left out
    of the retry was drawn at random, so it is not compared. A promotion is the same only from
    the same asset, the same way: two drafts may hold the same prompt, seed and size; and with
    the same checklist, expected text and attempts to pass.
    """
    compared = [k for k in values if k != "seed" or seed_given]
    differs = existing.plugin_id != plugin_id or any(values[k] != getattr(existing, k) for k in compared)
    source = str(existing.source_asset_id) if existing.source_asset_id is not None else ""
    made = DerivedFrom(source, existing.derivation, existing.strength)
    differs = differs or made != (derived_from or DerivedFrom(source_asset_id="", derivation=""))
    differs = differs or not checking.same_request(existing, acceptance)
    if differs:
        raise IdempotencyConflict(
            f"Idempotency key {existing.idempotency_key!r} was already used for job {existing.id} with other parameters."
        )
    return existing


def enqueue(job: GenerationJob, *, recovering: bool = False) -> bool:
    """Hand the job to its plugin's queue; return whether the broker took it.

    The publish is tried once, with the broker's short connect timeout
    (``HALLMARK_BROKER_PUBLISH_TIMEOUT``), so a submit during a broker outage answers at once
    instead of blocking on Celery's publish retries. A failure is logged, not raised: the job
    is marked ``enqueue_failed`` (the API shows ``waiting_for_broker``) and the recovery sweep
    enqueues it when the broker is back. ``recovering`` (the sweep) also records the new
    enqueue time, which keeps a job just enqueued again from being enqueued once more.
    """
    try:
        app.send_task(RUN_GENERATION_TASK, args=(str(job.id),), queue=job.queue, retry=False)
    except Exception as exc:
        logger.warning(
            "could not enqueue job %s (%s: %s); it waits for the broker and the recovery sweep will retry",
            job.id,
            type(exc).__name__,
            exc,
        )
        job.enqueue_failed = True
        try:
            GenerationJob.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(enqueue_failed=True)
        except DatabaseError:
            # The row keeps enqueued_at: the sweep's time limit still finds it.
            logger.warning("job %s: the failed enqueue could not be recorded", job.id, exc_info=True)
        return False
    if recovering or job.enqueue_failed:
        job.enqueue_failed = False
        job.enqueued_at = timezone.now()
        GenerationJob.objects.filter(pk=job.pk).update(enqueue_failed=False, enqueued_at=job.enqueued_at)
    return True


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
            routing_hooks.report_end(job, JobStatus.CANCELLED)
        else:
            job.cancel_requested = True
            job.save(update_fields=["cancel_requested"])
            record_event("generation.cancel_requested", acting_user=acting_user, target=job, data={})
    return job
