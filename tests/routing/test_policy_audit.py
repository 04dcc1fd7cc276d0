"""Every policy a change touches is audited on its own: making one policy the default takes
the default from another, and that policy's history says so (who, before and after)."""

from __future__ import annotations

import pytest

from governance.models import AuditEvent
from routing.models import RoutingPolicy

pytestmark = pytest.mark.django_db


def _events_of(policy: RoutingPolicy) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(target_type="routing.routingpolicy", target_id=str(policy.pk)).order_by(
            "seq"
        )
    )


@pytest.mark.parametrize("how", ["create", "patch"])
def test_the_policy_that_loses_the_default_has_its_own_audit_event(client_for, users, how: str) -> None:
    admin = client_for("admin")
    body = {"tiers": {"draft": ["procedural"]}}
    assert (
        admin.post(
            "/api/v1/routing-policies/", {**body, "name": "old", "default": True}, format="json"
        ).status_code
        == 201
    )
    if how == "create":
        response = admin.post(
            "/api/v1/routing-policies/", {**body, "name": "new", "default": True}, format="json"
        )
    else:
        assert (
            admin.post("/api/v1/routing-policies/", {**body, "name": "new"}, format="json").status_code == 201
        )
        response = admin.patch("/api/v1/routing-policies/new/", {"default": True}, format="json")
    assert response.status_code in (200, 201), response.content

    old = RoutingPolicy.objects.get(name="old")
    assert old.is_default is False
    events = _events_of(old)
    assert [e.action for e in events] == ["routing.policy_created", "routing.policy_changed"]
    changed = events[-1]
    assert changed.actor_id == str(users["admin"].pk) or changed.actor == users["admin"].username
    assert (changed.data["before"]["default"], changed.data["after"]["default"]) == (True, False)
    assert changed.data["before"]["tiers"] == changed.data["after"]["tiers"] == body["tiers"]
