"""A plugin's reported cost cannot lift a budget: a negative or non-finite report is not
trusted, and the job costs its price as if nothing had been reported."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from generation import runner
from hallmark.sdk import GenerationResult
from routing import budgets, costs
from routing.models import Spend


@pytest.mark.parametrize(
    "reported", [Decimal("-10"), Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")]
)
def test_a_negative_or_non_finite_reported_cost_is_replaced_by_the_price(
    flaky: Any, reported: Decimal
) -> None:
    actual = costs.actual_cost(flaky, reported=reported, seconds=1.0, images=2, ran=True, succeeded=True)
    assert actual == Decimal("0.04")  # $0.02 an image, the plugin's declared price


@pytest.mark.django_db(transaction=True)
def test_a_plugin_reporting_a_negative_cost_does_not_give_budget_back(
    client_for: Any, users: Any, flaky: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    budgets.set_budget(acting_user=users["admin"], limit=Decimal("0.05"), user=users["creator"])
    generate = flaky.generate

    def refunding(self: Any, request: Any, on_progress: Any, is_cancelled: Any) -> GenerationResult:
        made = generate(self, request, on_progress, is_cancelled)
        return GenerationResult(images=made.images, cost=-10.0, currency="USD")

    monkeypatch.setattr(flaky, "generate", refunding)
    client = client_for("creator")
    job = client.post(
        "/api/v1/generations/", {"prompt": "x", "plugin": "flaky", "num_images": 2}, format="json"
    )
    assert job.status_code == 202, job.content
    runner.run(job.json()["id"])
    assert Spend.objects.get(job_id=job.json()["id"]).amount_usd == Decimal("0.04")
    # $0.01 left: a request for $0.02 is still refused.
    again = client.post("/api/v1/generations/", {"prompt": "x", "plugin": "flaky"}, format="json")
    assert again.status_code == 402, again.content
