"""Where generation meets routing (``routing``, the layer below): a request that names a tier or
a policy instead of a plugin is routed here, every submission passes the budgets here, and
every ended job is reported to routing from here (its plugin's breaker, its cost)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from generation.models import GenerationJob
from hallmark.sdk import Plugin, RequestInvalid
from routing import budgets, costs
from routing.outcomes import JobOutcome, report_after_commit, report_all_after_commit
from routing.services import RoutingDecision, choose_plugin


def route(*, acting_user: User, plugin_id: Any, fields: Mapping[str, Any]) -> RoutingDecision | None:
    """The routing decision for a request that names ``tier`` or ``policy``; None when it names
    neither (the request must then name its plugin). Naming a plugin too is a 400."""
    tier, policy = fields.get("tier"), fields.get("policy")
    if tier is None and policy is None:
        return None
    if plugin_id is not None:
        raise RequestInvalid({"plugin": ["Name either a plugin or a tier and/or policy, not both."]})
    if tier is not None and not isinstance(tier, str):
        raise RequestInvalid({"tier": ["Must be draft or final."]})
    return choose_plugin(acting_user=acting_user, tier=tier, policy_name=policy)


def job_fields(decision: RoutingDecision | None) -> dict[str, str]:
    """The routing fields of a new job (empty strings for a job that named its plugin)."""
    if decision is None:
        return {}
    return {
        "routed_to": decision.plugin_id,
        "routing_reason": decision.reason[:500],
        "routing_policy": decision.policy,
        "routing_tier": decision.tier,
    }


def audited(decision: RoutingDecision | None) -> dict[str, Any]:
    """What the ``generation.requested`` event adds for a routed request (``routing``)."""
    return {"routing": decision.audit_data()} if decision is not None else {}


def check_budget(*, acting_user: User, plugin: Plugin, images: int) -> uuid.UUID:
    """Refuse (``routing.budgets.BudgetExceeded``, a 402) a request that would overspend a budget
    of the user or of one of their groups; reserve its estimated cost otherwise, under the id
    the job must be created with (returned). Call inside the submit transaction, before the
    job is created."""
    job_id = uuid.uuid4()
    budgets.check_and_reserve(
        user=acting_user,
        plugin_id=plugin.id,
        job_id=job_id,
        images=images,
        estimate=lambda: costs.cost_per_image(type(plugin), plugin.config),
    )
    return job_id


def report_end(job: GenerationJob, status: str, *, error_code: str = "", cost: Any = None) -> None:
    """Tell routing, once the ending transaction commits, how ``job`` ended and what it cost."""
    report_after_commit(_outcome(job, status, error_code=error_code, cost=cost))


def report_successes(ended: Sequence[tuple[GenerationJob, Any]]) -> None:
    """``report_end`` for jobs (with their reported costs) that one transaction marked
    succeeded together: routing records them all after the commit, in one go."""
    report_all_after_commit([_outcome(job, "succeeded", cost=cost) for job, cost in ended])


def _outcome(job: GenerationJob, status: str, *, error_code: str = "", cost: Any = None) -> JobOutcome:
    return JobOutcome(
        job_id=job.pk,
        user_id=job.requested_by_id,
        plugin_id=job.plugin_id,
        status=str(status),
        error_code=error_code,
        images=job.num_images,
        reported_cost=None if cost is None else Decimal(str(cost)),
        submitted_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at or timezone.now(),
        routing_policy=job.routing_policy,
    )
