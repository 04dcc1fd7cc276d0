"""Routing decisions through ``POST /api/v1/generations/``: preferred, fallback, ceilings,
capabilities, and what the job and its audit event record."""

from __future__ import annotations

from decimal import Decimal

import pytest

from generation import services
from generation.models import GenerationJob
from governance.models import AuditEvent
from plugins import services as plugin_services
from routing.services import choose_plugin

pytestmark = pytest.mark.django_db


def _submit(client, **body):
    return client.post("/api/v1/generations/", {"prompt": "OPEN LATE", **body}, format="json")


def test_a_draft_request_goes_to_the_first_draft_plugin(client_for, procedural, flaky, make_policy) -> None:
    make_policy("studio", draft=["procedural", "flaky"], final=["flaky", "procedural"], default=True)
    response = _submit(client_for("creator"), tier="draft")
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["plugin"], body["routed_to"], body["routing_reason"]) == (
        "procedural",
        "procedural",
        "preferred",
    )
    assert (body["routing_policy"], body["routing_tier"]) == ("studio", "draft")
    final = _submit(client_for("creator"), tier="final").json()
    assert final["plugin"] == "flaky" and final["routing_reason"] == "preferred"


def test_a_disabled_plugin_is_skipped_and_the_job_and_audit_say_why(
    client_for, users, procedural, flaky, make_policy
) -> None:
    make_policy("studio", draft=["flaky", "procedural"], default=True)
    plugin_services.update_plugin("flaky", acting_user=users["admin"], enabled=False)
    response = _submit(client_for("creator"), tier="draft")
    assert response.status_code == 202, response.content
    job = GenerationJob.objects.get(pk=response.json()["id"])
    assert job.plugin_id == "procedural"
    assert job.routing_reason == "fallback: flaky disabled"
    event = AuditEvent.objects.get(action="generation.requested", target_id=str(job.pk))
    assert event.data["routing"]["reason"] == "fallback: flaky disabled"
    assert event.data["routing"]["skipped"] == [{"plugin": "flaky", "why": "flaky disabled"}]
    assert event.data["routing"]["policy"] == "studio" and event.data["plugin"] == "procedural"


def test_a_named_policy_is_used_instead_of_the_default(client_for, procedural, flaky, make_policy) -> None:
    make_policy("cheap", draft=["procedural"], default=True)
    make_policy("pricey", final=["flaky"])
    body = _submit(client_for("creator"), policy="pricey").json()
    assert (body["plugin"], body["routing_policy"], body["routing_tier"]) == ("flaky", "pricey", "final")


def test_a_ceiling_below_every_plugin_refuses_the_request(client_for, flaky, make_policy) -> None:
    # Prices are checked before availability: the hosted plugin need not even be enabled.
    make_policy("thrifty", final=["flaky", "ideogram-v2a-turbo"], max_cost_per_image_usd="0.01", default=True)
    response = _submit(client_for("creator"), tier="final")
    assert response.status_code == 400, response.content
    message = response.json()["errors"]["max_cost_per_image_usd"][0]
    assert "flaky costs $0.0200 per image, over the $0.0100 ceiling" in message
    assert "ideogram-v2a-turbo costs $0.0250 per image" in message
    assert not GenerationJob.objects.exists()


def test_a_required_capability_skips_plugins_without_it(client_for, procedural, flaky, make_policy) -> None:
    make_policy("posters", final=["flaky", "procedural"], required_capabilities=["typography"], default=True)
    body = _submit(client_for("creator"), tier="final").json()
    assert body["plugin"] == "procedural"
    assert body["routing_reason"] == "fallback: flaky lacks typography"


def test_when_nothing_qualifies_the_400_names_tier_and_each_reason(
    client_for, users, flaky, make_policy
) -> None:
    make_policy("studio", draft=["flaky", "procedural"], default=True)
    plugin_services.update_plugin("flaky", acting_user=users["admin"], enabled=False)
    response = _submit(client_for("creator"), tier="draft")
    assert response.status_code == 400
    message = response.json()["errors"]["tier"][0]
    assert "flaky disabled" in message and "procedural disabled" in message


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tier": "draft", "plugin": "procedural"}, "plugin"),
        ({"tier": "best"}, "tier"),
        ({"policy": "nope"}, "policy"),
        ({"tier": 3}, "tier"),
    ],
)
def test_bad_routing_fields_are_400s_naming_the_field(
    client_for, procedural, make_policy, body, field
) -> None:
    make_policy("studio", draft=["procedural"], default=True)
    response = _submit(client_for("creator"), **body)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


def test_a_tier_without_a_default_policy_is_a_400(client_for, procedural, make_policy) -> None:
    make_policy("studio", draft=["procedural"])
    response = _submit(client_for("creator"), tier="draft")
    assert response.status_code == 400
    assert "default" in response.json()["errors"]["tier"][0]


def test_choose_plugin_is_callable_on_its_own(users, procedural, flaky, make_policy) -> None:
    make_policy("studio", final=["flaky", "procedural"])
    decision = choose_plugin(acting_user=users["creator"], tier="final", policy_name="studio")
    assert (decision.plugin_id, decision.reason, decision.policy) == ("flaky", "preferred", "studio")
    assert decision.cost_per_image_usd == Decimal("0.02")
    typed = choose_plugin(
        acting_user=users["creator"], tier="final", policy_name="studio", required_capabilities=["typography"]
    )
    assert typed.plugin_id == "procedural" and typed.skipped == (("flaky", "flaky lacks typography"),)


def test_the_job_page_says_how_the_job_was_routed(client, users, procedural, flaky, make_policy) -> None:
    make_policy("studio", draft=["flaky", "procedural"], default=True)
    plugin_services.update_plugin("flaky", acting_user=users["admin"], enabled=False)
    job, _ = services.submit(
        acting_user=users["creator"], plugin_id=None, fields={"prompt": "x", "tier": "draft"}
    )
    client.force_login(users["creator"])
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Routed by policy studio (draft tier): fallback: flaky disabled" in page


def test_a_routed_request_repeated_with_its_idempotency_key_returns_the_first_job(
    client_for, procedural, make_policy
) -> None:
    make_policy("studio", draft=["procedural"], default=True)
    client = client_for("creator")
    first = _submit(client, tier="draft", idempotency_key="k-1", seed=5)
    again = _submit(client, tier="draft", idempotency_key="k-1", seed=5)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]
    assert GenerationJob.objects.count() == 1
