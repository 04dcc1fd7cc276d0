"""Budgets: a request that would overspend is refused with what is left; estimates count while
jobs wait; actual costs replace them; concurrent submissions cannot both take the last dollars."""

from __future__ import annotations

import threading
import uuid
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection

from generation import runner, services
from generation.models import GenerationJob
from governance.models import AuditEvent
from plugins.builtin.sd35.variants import SD35MediumPlugin
from routing import budgets, costs, spend
from routing.models import Spend
from tests.conftest import make_user


def _submit(client, **body):
    return client.post("/api/v1/generations/", {"prompt": "SALE", "plugin": "flaky", **body}, format="json")


@pytest.mark.django_db
def test_a_budget_refuses_the_request_that_would_exceed_it_and_says_what_is_left(
    client_for, users, flaky
) -> None:
    budgets.set_budget(acting_user=users["admin"], limit=Decimal("0.05"), user=users["creator"])
    client = client_for("creator")
    assert _submit(client, num_images=2).status_code == 202  # $0.04 held while it waits
    refused = _submit(client)
    assert refused.status_code == 402, refused.content
    message = refused.json()["errors"]["budget"][0]
    assert "$0.01 left of $0.05 this month" in message and "user carl" in message
    assert GenerationJob.objects.count() == 1
    # Another user has no budget: not affected.
    assert _submit(client_for("creator2")).status_code == 202


@pytest.mark.django_db
def test_a_group_budget_counts_every_member(client_for, users, flaky) -> None:
    team = Group.objects.create(name="design")
    users["creator"].groups.add(team)
    users["creator2"].groups.add(team)
    budgets.set_budget(acting_user=users["admin"], limit=Decimal("0.04"), group=team)
    assert _submit(client_for("creator")).status_code == 202
    assert _submit(client_for("creator2")).status_code == 202
    refused = _submit(client_for("creator"))
    assert refused.status_code == 402
    assert "group design has $0.00 left of $0.04" in refused.json()["errors"]["budget"][0]


@pytest.mark.django_db(transaction=True)
def test_the_actual_cost_replaces_the_estimate_and_spend_is_reported(
    client_for, users, flaky, procedural
) -> None:
    budgets.set_budget(acting_user=users["admin"], limit=Decimal("1.00"), user=users["creator"])
    client = client_for("creator")
    paid = _submit(client, num_images=2).json()
    assert Spend.objects.get(job_id=paid["id"]).settled is False
    runner.run(paid["id"])
    row = Spend.objects.get(job_id=paid["id"])
    assert (row.settled, row.amount_usd, row.images) == (True, Decimal("0.04"), 2)
    free = client.post("/api/v1/generations/", {"prompt": "x", "plugin": "procedural"}, format="json").json()
    runner.run(free["id"])
    assert Spend.objects.get(job_id=free["id"]).amount_usd == 0
    cancelled = _submit(client).json()
    services.cancel(cancelled["id"], acting_user=users["creator"])
    assert Spend.objects.get(job_id=cancelled["id"]).amount_usd == 0  # never ran: nothing charged

    report = client_for("admin").get("/api/v1/spend/").json()
    carl = next(row for row in report["by_user"] if row["user"] == "carl")
    assert Decimal(carl["amount_usd"]) == Decimal("0.04") and carl["jobs"] == 3
    by_plugin = {row["plugin"]: row for row in report["by_plugin"]}
    assert Decimal(by_plugin["flaky"]["amount_usd"]) == Decimal("0.04") and by_plugin["flaky"]["images"] == 3
    listed = client_for("admin").get("/api/v1/budgets/").json()
    assert Decimal(listed[0]["left_usd"]) == Decimal("0.96")


@pytest.mark.django_db(transaction=True)
def test_local_plugins_cost_gpu_seconds(users, settings) -> None:
    settings.HALLMARK_GPU_SECOND_PRICE_USD = Decimal("0.001")
    settings.HALLMARK_ROUTING_SECONDS_PER_IMAGE = 8
    assert costs.cost_per_image(SD35MediumPlugin) == Decimal("0.008")  # no history: the default
    for seconds in (2.0, 4.0, 30.0):
        spend.settle_all(
            [
                spend.settlement(
                    user_id=users["creator"].pk,
                    plugin_id="sd35-medium",
                    job_id=uuid.uuid4(),
                    amount=Decimal(0),
                    images=1,
                    seconds_per_image=seconds,
                    submitted_at=None,
                )
            ]
        )
    assert costs.cost_per_image(SD35MediumPlugin) == Decimal("0.004")  # the median, 4 s
    # A finished local job costs its own seconds, whatever its outcome.
    actual = costs.actual_cost(
        SD35MediumPlugin, reported=Decimal(0), seconds=3.0, images=1, ran=True, succeeded=False
    )
    assert actual == Decimal("0.003")


@pytest.mark.skipif(
    not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"), reason="PostgreSQL locks rows"
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_cannot_both_take_the_last_of_a_budget(users, flaky) -> None:
    # Four members of one group at once: each submission locks only its own user's row for the
    # queue cap, so only the budget's own lock can keep them from all passing.
    team = Group.objects.create(name="team")
    members = [make_user(f"member{i}", "creator") for i in range(4)]
    team.user_set.add(*members)
    budgets.set_budget(acting_user=users["admin"], limit=Decimal("0.02"), group=team)
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def attempt(member) -> None:
        try:
            barrier.wait()
            services.submit(acting_user=member, plugin_id="flaky", fields={"prompt": "race"})
            outcomes.append("queued")
        except budgets.BudgetExceeded:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(member,)) for member in members]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["queued", "refused", "refused", "refused"]
    assert GenerationJob.objects.count() == 1


@pytest.mark.django_db
def test_budget_changes_are_audited_and_admin_only(client_for, users) -> None:
    denied = client_for("creator").post(
        "/api/v1/budgets/", {"user": "carl", "monthly_limit_usd": "5"}, format="json"
    )
    assert denied.status_code == 403
    assert client_for("creator").get("/api/v1/spend/").status_code == 403
    admin = client_for("admin")
    made = admin.post("/api/v1/budgets/", {"user": "carl", "monthly_limit_usd": "5"}, format="json")
    assert made.status_code == 201, made.content
    changed = admin.post("/api/v1/budgets/", {"user": "carl", "monthly_limit_usd": "7.50"}, format="json")
    assert changed.status_code == 200 and changed.json()["monthly_limit_usd"] == "7.50"
    events = list(
        AuditEvent.objects.filter(action="routing.budget_set").order_by("seq").values_list("data", flat=True)
    )
    assert [(e["before"], e["after"]) for e in events] == [(None, "5"), ("5.00", "7.50")]
    for body, field in (
        ({"user": "nobody-here", "monthly_limit_usd": "5"}, "user"),
        ({"group": "nope", "monthly_limit_usd": "5"}, "group"),
        ({"user": "carl", "monthly_limit_usd": "-1"}, "monthly_limit_usd"),
        ({"user": "carl", "monthly_limit_usd": "0.001"}, "monthly_limit_usd"),
        ({"user": "carl", "group": "design", "monthly_limit_usd": "1"}, "non_field_errors"),
        ({"user": "carl", "monthly_limit_usd": "1", "extra": 1}, "extra"),
    ):
        response = admin.post("/api/v1/budgets/", body, format="json")
        assert response.status_code == 400 and field in response.json()["errors"], (body, response.content)
    assert admin.delete(f"/api/v1/budgets/{made.json()['id']}/").status_code == 204
    assert AuditEvent.objects.filter(action="routing.budget_removed").count() == 1
    assert admin.get("/api/v1/spend/?month=2026-13").status_code == 400
