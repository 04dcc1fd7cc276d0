"""Admins enable, disable and configure plugins; each change is validated and audited."""

from __future__ import annotations

from governance.models import AuditEvent
from plugins.models import PluginSetting


def test_only_admins_change_plugins(client_for) -> None:
    for role in ("viewer", "creator", "reviewer"):
        response = client_for(role).patch("/api/v1/plugins/dummy/", {"enabled": True}, format="json")
        assert response.status_code == 403, role
    assert not PluginSetting.objects.filter(enabled=True).exists()


def test_enable_configure_disable_are_audited(client_for) -> None:
    admin = client_for("admin")
    response = admin.patch(
        "/api/v1/plugins/dummy/", {"enabled": True, "config": {"label": "tiles-v2"}}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["enabled"] is True and response.json()["config"] == {"label": "tiles-v2"}
    assert admin.patch("/api/v1/plugins/dummy/", {"enabled": False}, format="json").status_code == 200
    actions = list(AuditEvent.objects.filter(target_id="dummy").values_list("action", "actor"))
    assert actions == [("plugin.configured", "ada"), ("plugin.enabled", "ada"), ("plugin.disabled", "ada")]
    configured = AuditEvent.objects.get(action="plugin.configured")
    assert configured.data["after"] == {"label": "tiles-v2"}


def test_invalid_config_is_400_naming_the_key_and_changes_nothing(client_for) -> None:
    admin = client_for("admin")
    response = admin.patch("/api/v1/plugins/dummy/", {"config": {"label": 5, "colour": "red"}}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"config.label", "config.colour"}
    assert not AuditEvent.objects.filter(action__startswith="plugin.").exists()
    assert admin.patch("/api/v1/plugins/dummy/", {"enabled": "yes"}, format="json").status_code == 400
    assert admin.patch("/api/v1/plugins/dummy/", {"config": [1]}, format="json").status_code == 400
    assert admin.patch("/api/v1/plugins/dummy/", {"bogus": 1}, format="json").status_code == 400
    assert admin.patch("/api/v1/plugins/dummy/", [1], format="json").status_code == 400


def test_broken_plugin_cannot_be_enabled_and_unknown_is_404(client_for) -> None:
    admin = client_for("admin")
    response = admin.patch("/api/v1/plugins/dummy-broken/", {"enabled": True}, format="json")
    assert response.status_code == 400 and "broken" in response.json()["errors"]["enabled"][0]
    assert admin.patch("/api/v1/plugins/nope/", {"enabled": True}, format="json").status_code == 404
    assert client_for("viewer").get("/api/v1/plugins/nope/").status_code == 404


def test_disabled_plugin_generates_nothing(client_for, enable_plugin) -> None:
    enable_plugin("dummy")
    creator = client_for("creator")
    assert (
        creator.post("/api/v1/generations/", {"plugin": "dummy", "prompt": "x"}, format="json").status_code
        == 202
    )
    client_for("admin").patch("/api/v1/plugins/dummy/", {"enabled": False}, format="json")
    refused = creator.post("/api/v1/generations/", {"plugin": "dummy", "prompt": "x"}, format="json")
    assert refused.status_code == 400 and "disabled" in refused.json()["errors"]["plugin"][0]
