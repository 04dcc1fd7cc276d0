"""Two admins writing the same budget or policy at once: each gets an answer (the second a
change, or a 400 naming the field), never a 500 from the database's unique constraints."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from governance.models import AuditEvent
from hallmark.errors import InvalidInput
from routing import budgets, policies
from routing.models import Budget, RoutingPolicy

pytestmark = [
    pytest.mark.skipif(
        not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
        reason="needs two real connections at once (PostgreSQL)",
    ),
    pytest.mark.django_db(transaction=True),
]


def _at_once(work: list[Callable[[], Any]]) -> list[Any]:
    """Run each callable in its own thread and connection, started together; their results or
    the exceptions they raised, in order."""
    barrier = threading.Barrier(len(work))
    outcomes: list[Any] = [None] * len(work)

    def attempt(index: int) -> None:
        try:
            barrier.wait()
            outcomes[index] = work[index]()
        except Exception as exc:  # the outcome under test
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(work))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_two_admins_setting_one_new_budget_at_once_both_succeed(users: dict[str, Any]) -> None:
    def set_to(limit: str) -> Callable[[], Any]:
        return lambda: budgets.set_budget(
            acting_user=users["admin"], limit=Decimal(limit), user=users["creator"]
        )

    outcomes = _at_once([set_to("5"), set_to("7"), set_to("9")])
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    budget = Budget.objects.get(user=users["creator"])
    assert str(budget.monthly_limit_usd) in ("5.00", "7.00", "9.00")
    events = AuditEvent.objects.filter(action="routing.budget_set").order_by("seq")
    assert events.count() == 3 and events.last().data["after"] == str(budget.monthly_limit_usd.normalize())


def test_two_admins_creating_one_policy_name_or_two_defaults_get_a_400_naming_the_field(
    users: dict[str, Any],
) -> None:
    def create(name: str) -> Callable[[], Any]:
        body = {"name": name, "tiers": {"draft": ["procedural"]}, "default": True}
        return lambda: policies.create_policy(body, acting_user=users["admin"])

    for names, field in ((["same"] * 3, "name"), (["one", "two", "three"], None)):
        RoutingPolicy.objects.all().delete()
        outcomes = _at_once([create(n) for n in names])
        errors = [o for o in outcomes if isinstance(o, Exception)]
        assert all(isinstance(e, InvalidInput) for e in errors), outcomes
        if field == "name":
            assert len(errors) == 2 and all("name" in e.errors for e in errors)
        assert RoutingPolicy.objects.filter(is_default=True).count() == 1
