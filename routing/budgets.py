"""Monthly budgets per user or group: set and remove them (audited), and refuse a request that
would overspend one. The only writer of ``Budget``.

``check_and_reserve`` runs inside the submit transaction, before the job is created: it locks
every budget that applies to the user (their own and each of their groups', in primary-key
order so that two submissions cannot deadlock), sums the month's spend under that lock, and
writes the new job's estimate into the ledger before the lock is released. Two submissions
racing for the last dollars therefore queue on the lock, and the second sees the first's
estimate. A user with no budget costs one query and leaves no estimate behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth.models import Group, User
from django.db import IntegrityError, transaction
from django.db.models import Q

from governance.audit_trail import record_event
from hallmark.errors import InvalidInput, ServiceError
from routing import spend
from routing.models import Budget


class BudgetExceeded(ServiceError):
    """The request would take a budget over its monthly limit: HTTP 402 with
    ``{"errors": {"budget": [<what is left of what>]}}``."""

    http_status = 402

    def response_data(self) -> dict[str, Any]:
        """``{"detail": ..., "errors": {"budget": [...]}}``."""
        return {"detail": str(self), "errors": {"budget": [str(self)]}}


def owner_name(budget: Budget) -> str:
    """Who a budget belongs to, as users read it: ``user ada`` or ``group design``."""
    if budget.user is not None:
        return f"user {budget.user.username}"
    assert budget.group is not None  # the user-xor-group constraint
    return f"group {budget.group.name}"


def applicable(user: User) -> Q:
    """The budgets that apply to ``user``: their own and each of their groups'."""
    return Q(user=user) | Q(group__in=user.groups.all())


def check_and_reserve(
    *, user: User, plugin_id: str, job_id: uuid.UUID, images: int, estimate: Callable[[], Decimal]
) -> Decimal | None:
    """Refuse (``BudgetExceeded``) a request whose estimate would take any budget that applies
    over its limit this month; otherwise reserve the estimate and return it (None: no budget).

    ``estimate()`` is the cost of one image; it is only asked when a budget applies.
    """
    budgets = list(
        Budget.objects.select_for_update(of=("self",))
        .filter(applicable(user))
        .select_related("user", "group")
        .order_by("pk")
    )
    if not budgets:
        return None
    cost = estimate() * images
    month = spend.month_of()
    for budget in budgets:
        used = (
            spend.spent(month, user=user) if budget.user_id else spend.spent(month, group_id=budget.group_id)
        )
        left = max(budget.monthly_limit_usd - used, Decimal(0))
        if cost > left:
            raise BudgetExceeded(
                f"This request would cost about ${cost:.2f}, but the budget of {owner_name(budget)} has "
                f"${left:.2f} left of ${budget.monthly_limit_usd:.2f} this month."
            )
    spend.reserve(user=user, plugin_id=plugin_id, job_id=job_id, amount=cost, images=images)
    return cost


def clean_limit(value: Any) -> Decimal:
    """A monthly limit in US dollars (0 to 1,000,000,000, cents), or ``InvalidInput``."""
    message = {"monthly_limit_usd": ["Required: a number of US dollars from 0 to 1000000000, in cents."]}
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInput(message)
    try:
        limit = Decimal(str(value))
    except InvalidOperation:
        raise InvalidInput(message) from None
    if not limit.is_finite() or not 0 <= limit <= 10**9 or limit != limit.quantize(Decimal("0.01")):
        raise InvalidInput(message)
    return limit


def set_budget(
    *, acting_user: User, limit: Decimal, user: User | None = None, group: Group | None = None
) -> tuple[Budget, bool]:
    """Create or change the budget of a user or a group (``routing.budget_set``); return
    ``(budget, created)``."""
    if (user is None) == (group is None):
        raise InvalidInput({"non_field_errors": ["Name either a user or a group."]})
    try:
        return _set_budget(acting_user=acting_user, limit=limit, user=user, group=group)
    except IntegrityError:
        # Another admin created this budget at the same moment (``_set_budget``'s lock had no
        # row to hold yet): theirs is committed now, so this change applies to it.
        return _set_budget(acting_user=acting_user, limit=limit, user=user, group=group)


def _set_budget(
    *, acting_user: User, limit: Decimal, user: User | None, group: Group | None
) -> tuple[Budget, bool]:
    """``set_budget`` in one transaction."""
    with transaction.atomic():
        budget = Budget.objects.select_for_update().filter(user=user, group=group).first()
        created = budget is None
        before = None if budget is None else str(budget.monthly_limit_usd)
        if budget is None:
            budget = Budget(user=user, group=group)
        budget.monthly_limit_usd = limit
        budget.updated_by = acting_user
        budget.save()
        record_event(
            "routing.budget_set",
            acting_user=acting_user,
            target=budget,
            data={"owner": owner_name(budget), "before": before, "after": str(limit)},
        )
    return budget, created


def remove_budget(budget: Budget, *, acting_user: User) -> None:
    """Remove a budget (``routing.budget_removed``)."""
    with transaction.atomic():
        pk, owner, limit = budget.pk, owner_name(budget), str(budget.monthly_limit_usd)
        budget.delete()
        record_event(
            "routing.budget_removed",
            acting_user=acting_user,
            target=(Budget._meta.label_lower, str(pk)),
            data={"owner": owner, "before": limit},
        )
