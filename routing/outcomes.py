"""What generation tells routing when a job ends: its outcome (for the plugin's breaker) and
its cost (for the spend ledger). Generation calls ``report_after_commit`` inside the
transaction that ends the job; the work runs once that commits, so a routing failure can
never undo or delay the end of a job (it is logged instead)."""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from plugins import registry
from routing import breakers, costs, spend
from routing.models import RoutingPolicy, Spend

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobOutcome:
    """One ended job, as routing needs it (generation's model stays generation's).

    ``status`` is ``succeeded``, ``failed`` or ``cancelled``; ``reported_cost`` what the plugin
    said the job cost (None: nothing); ``routing_policy`` the policy that routed it ("" for a
    request that named its plugin).
    """

    job_id: uuid.UUID
    user_id: int
    plugin_id: str
    status: str
    error_code: str
    images: int
    reported_cost: Decimal | None
    submitted_at: datetime.datetime | None
    started_at: datetime.datetime | None
    finished_at: datetime.datetime
    routing_policy: str = ""


def report_after_commit(outcome: JobOutcome) -> None:
    """Record ``outcome`` once the caller's transaction commits (at once outside one)."""
    transaction.on_commit(lambda: record(outcome))


def report_all_after_commit(outcomes: Sequence[JobOutcome]) -> None:
    """``report_after_commit`` for the jobs one transaction ended together (``record_all``)."""
    ended = list(outcomes)
    transaction.on_commit(lambda: record_all(ended))


def record(outcome: JobOutcome) -> None:
    """Count the outcome against the plugin's breaker and settle the job's cost."""
    try:
        _record_breaker(outcome)
        spend.settle_all([_settlement(outcome)])
    except Exception:
        logger.exception("job %s: routing could not record its outcome", outcome.job_id)


def record_all(outcomes: Sequence[JobOutcome]) -> None:
    """``record`` for several outcomes in their order, with one ledger statement for all and
    one breaker update per run of successes of a plugin (a second success changes nothing).

    One job's bad outcome costs the others nothing: a breaker update that fails is logged and
    the next is made; a ledger statement that fails is made again job by job."""
    closed: set[str] = set()
    for outcome in outcomes:
        if outcome.status == "succeeded" and outcome.plugin_id in closed:
            continue
        try:
            _record_breaker(outcome)
        except Exception:
            logger.exception("job %s: routing could not count its outcome", outcome.job_id)
            continue
        if outcome.status == "succeeded":
            closed.add(outcome.plugin_id)
        else:
            closed.discard(outcome.plugin_id)
    try:
        spend.settle_all([_settlement(outcome) for outcome in outcomes])
    except Exception:
        logger.exception("routing could not settle the costs of %d jobs together", len(outcomes))
        for outcome in outcomes:
            try:
                spend.settle_all([_settlement(outcome)])
            except Exception:
                logger.exception("job %s: routing could not settle its cost", outcome.job_id)


def failures_to_open(policy_name: str) -> int:
    """The consecutive failures that open a breaker: the routing policy's, else the default
    policy's, else ``HALLMARK_ROUTING_BREAKER_FAILURES``."""
    policies = RoutingPolicy.objects.filter(name=policy_name) if policy_name else RoutingPolicy.objects.none()
    found = policies.values_list("breaker_failures", flat=True).first()
    if found is None:
        found = (
            RoutingPolicy.objects.filter(is_default=True).values_list("breaker_failures", flat=True).first()
        )
    return int(found) if found is not None else int(settings.HALLMARK_ROUTING_BREAKER_FAILURES)


def _record_breaker(outcome: JobOutcome) -> None:
    if outcome.status == "succeeded":
        breakers.record_success(outcome.plugin_id)
    elif outcome.status == "failed" and breakers.counts_as_failure(outcome.error_code):
        breakers.record_failure(
            outcome.plugin_id,
            error_code=outcome.error_code,
            failures_to_open=failures_to_open(outcome.routing_policy),
        )


def _settlement(outcome: JobOutcome) -> Spend:
    entry = registry.discover().get(outcome.plugin_id)
    ran = outcome.started_at is not None
    seconds = (outcome.finished_at - outcome.started_at).total_seconds() if outcome.started_at else None
    amount = costs.actual_cost(
        entry.plugin_class if entry else None,
        reported=outcome.reported_cost,
        seconds=seconds,
        images=outcome.images,
        ran=ran,
        succeeded=outcome.status == "succeeded",
    )
    return spend.settlement(
        user_id=outcome.user_id,
        plugin_id=outcome.plugin_id,
        job_id=outcome.job_id,
        amount=amount,
        images=outcome.images,
        # Only successes measure how long an image takes (a failure may end at once).
        seconds_per_image=seconds / max(outcome.images, 1)
        if seconds is not None and outcome.status == "succeeded"
        else None,
        submitted_at=outcome.submitted_at,
    )
