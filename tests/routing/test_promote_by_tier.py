"""Promoting a draft by tier: routing chooses the final plugin, and the job records why."""

from __future__ import annotations

from generation.models import GenerationJob
from governance.models import AuditEvent
from tests.conftest import draft_asset


def test_a_final_tier_promotion_goes_where_the_policy_says_and_records_it(
    users, procedural, flaky, make_policy, client_for
) -> None:
    make_policy("house", draft=["procedural"], final=["flaky", "procedural"], default=True)
    draft = draft_asset(users["creator"])
    client = client_for("creator")

    response = client.post(
        f"/api/v1/assets/{draft.pk}/promote/", {"tier": "final", "mode": "rerender"}, format="json"
    )
    assert response.status_code == 202, response.content
    job = GenerationJob.objects.get(pk=response.json()["id"])
    assert (job.plugin_id, job.routed_to, job.routing_reason, job.routing_tier) == (
        "flaky",
        "flaky",
        "preferred",
        "final",
    )
    assert job.source_asset_id == draft.pk
    event = AuditEvent.objects.get(action="generation.requested", target_id=str(job.pk))
    assert event.data["routing"]["routed_to"] == "flaky"

    # A refinement needs a plugin that refines: the flaky tiles cannot, so the policy falls back.
    response = client.post(
        f"/api/v1/assets/{draft.pk}/promote/", {"tier": "final", "mode": "refine"}, format="json"
    )
    assert response.status_code == 202, response.content
    job = GenerationJob.objects.get(pk=response.json()["id"])
    assert job.plugin_id == "procedural" and job.derivation == "refine"
    assert job.routing_reason.startswith("fallback: flaky") and "refine" in job.routing_reason


def test_a_tier_no_plugin_of_which_qualifies_is_a_400_and_queues_nothing(
    users, procedural, flaky, make_policy, client_for
) -> None:
    make_policy("tiles-only", final=["flaky"], default=True)
    draft = draft_asset(users["creator"])
    before = GenerationJob.objects.count()
    response = client_for("creator").post(
        f"/api/v1/assets/{draft.pk}/promote/", {"tier": "final", "mode": "refine"}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "tier" in response.json()["errors"]
    assert GenerationJob.objects.count() == before
