"""``routing.outcomes.record_all``: the jobs one transaction ended, recorded together, and one
job's bad outcome costing the others nothing."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from typing import Any

import pytest

from routing import outcomes
from routing.models import Spend


def _outcome(user_id: int) -> outcomes.JobOutcome:
    now = datetime.datetime.now(datetime.UTC)
    return outcomes.JobOutcome(
        job_id=uuid.uuid4(),
        user_id=user_id,
        plugin_id="procedural",
        status="succeeded",
        error_code="",
        images=1,
        reported_cost=Decimal("0.02"),
        submitted_at=now - datetime.timedelta(seconds=2),
        started_at=now - datetime.timedelta(seconds=1),
        finished_at=now,
    )


@pytest.mark.django_db
def test_the_jobs_of_a_group_are_settled_together(users: dict[str, Any], procedural: Any) -> None:
    ended = [_outcome(users["creator"].pk) for _ in range(3)]
    outcomes.record_all(ended)
    settled = Spend.objects.filter(job_id__in=[o.job_id for o in ended], settled=True)
    assert settled.count() == 3


@pytest.mark.django_db
def test_one_job_that_cannot_be_settled_costs_the_others_nothing(
    users: dict[str, Any], procedural: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ended = [_outcome(users["creator"].pk) for _ in range(3)]
    real_settlement = outcomes._settlement

    def settlement(outcome: outcomes.JobOutcome) -> Spend:
        if outcome.job_id == ended[1].job_id:
            raise ValueError("a price the plugin cannot give")
        return real_settlement(outcome)

    monkeypatch.setattr(outcomes, "_settlement", settlement)
    outcomes.record_all(ended)

    settled = set(Spend.objects.filter(settled=True).values_list("job_id", flat=True))
    assert settled == {ended[0].job_id, ended[2].job_id}
