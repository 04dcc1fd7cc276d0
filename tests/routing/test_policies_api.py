"""``/api/v1/routing-policies/``: admins write (audited), every role reads, and every value is
checked against the plugin registry with errors that name the field."""

from __future__ import annotations

import pytest

from governance.models import AuditEvent
from routing.models import RoutingPolicy

pytestmark = pytest.mark.django_db

GOOD = {
    "name": "studio",
    "tiers": {"draft": ["procedural"], "final": ["ideogram-v2", "procedural"]},
    "max_cost_per_image_usd": 0.1,
    "required_capabilities": ["typography"],
    "breaker": {"failures": 3, "probe_after_s": 60},
    "default": True,
}


def test_admins_create_change_and_delete_policies_audited(client_for) -> None:
    admin = client_for("admin")
    made = admin.post("/api/v1/routing-policies/", GOOD, format="json")
    assert made.status_code == 201, made.content
    assert made.json()["max_cost_per_image_usd"] == "0.1" and made.json()["default"] is True
    created = AuditEvent.objects.get(action="routing.policy_created")
    assert created.data["after"]["tiers"] == GOOD["tiers"]

    changed = admin.patch("/api/v1/routing-policies/studio/", {"breaker": {"failures": 5}}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["breaker"] == {"failures": 5, "probe_after_s": 60}
    event = AuditEvent.objects.get(action="routing.policy_changed")
    assert (event.data["before"]["breaker"]["failures"], event.data["after"]["breaker"]["failures"]) == (3, 5)

    # A second default takes over from the first.
    other = admin.post("/api/v1/routing-policies/", {**GOOD, "name": "other"}, format="json")
    assert other.status_code == 201
    assert list(RoutingPolicy.objects.filter(is_default=True).values_list("name", flat=True)) == ["other"]

    assert client_for("viewer").get("/api/v1/routing-policies/").status_code == 200
    assert admin.delete("/api/v1/routing-policies/studio/").status_code == 204
    assert AuditEvent.objects.filter(action="routing.policy_deleted", data__before__name="studio").exists()
    assert admin.get("/api/v1/routing-policies/studio/").status_code == 404


@pytest.mark.parametrize("role", ["creator", "reviewer", "viewer"])
def test_only_admins_write_policies(client_for, role) -> None:
    client = client_for(role)
    assert client.post("/api/v1/routing-policies/", GOOD, format="json").status_code == 403
    assert not RoutingPolicy.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tiers": {"draft": ["procedural", "no-such-plugin"]}}, "tiers.draft[1]"),
        ({"tiers": {"draft": []}}, "tiers.draft"),
        ({"tiers": {"draft": "procedural"}}, "tiers.draft"),
        ({"tiers": {}}, "tiers"),
        ({"tiers": {"best": ["procedural"]}}, "tiers.best"),
        ({"tiers": {"draft": ["procedural", "procedural"]}}, "tiers.draft[1]"),
        ({"breaker": {"failures": 0}}, "breaker.failures"),
        ({"breaker": {"failures": 101}}, "breaker.failures"),
        ({"breaker": {"probe_after_s": 0}}, "breaker.probe_after_s"),
        ({"breaker": {"probe_after_s": 86401}}, "breaker.probe_after_s"),
        ({"breaker": {"failures": True}}, "breaker.failures"),
        ({"max_cost_per_image_usd": -0.01}, "max_cost_per_image_usd"),
        ({"max_cost_per_image_usd": "NaN"}, "max_cost_per_image_usd"),
        ({"max_cost_per_image_usd": "lots"}, "max_cost_per_image_usd"),
        ({"required_capabilities": ["telepathy"]}, "required_capabilities[0]"),
        ({"required_capabilities": "typography"}, "required_capabilities"),
        ({"name": "has space"}, "name"),
        ({"name": ""}, "name"),
        ({"default": "yes"}, "default"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_policies_are_400s_naming_the_field(client_for, change, field) -> None:
    response = client_for("admin").post("/api/v1/routing-policies/", {**GOOD, **change}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert not RoutingPolicy.objects.exists()


def test_a_duplicate_name_is_a_400(client_for) -> None:
    admin = client_for("admin")
    assert admin.post("/api/v1/routing-policies/", GOOD, format="json").status_code == 201
    again = admin.post("/api/v1/routing-policies/", GOOD, format="json")
    assert again.status_code == 400 and "name" in again.json()["errors"]


def test_the_breakers_list_names_every_installed_plugin(client_for) -> None:
    rows = client_for("viewer").get("/api/v1/routing/breakers/").json()
    assert {"procedural", "sd35-medium"} <= {row["plugin"] for row in rows}
    assert all(row["state"] == "closed" for row in rows)


def test_the_openapi_schema_documents_routing(client_for) -> None:
    schema = client_for("viewer").get("/api/schema/?format=json").json()
    for path in (
        "/api/v1/routing-policies/",
        "/api/v1/routing/breakers/",
        "/api/v1/budgets/",
        "/api/v1/spend/",
    ):
        assert path in schema["paths"], path
    request = schema["components"]["schemas"]["GenerationRequestRequest"]["properties"]
    assert {"tier", "policy"} <= set(request)
