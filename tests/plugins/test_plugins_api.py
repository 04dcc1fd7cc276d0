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


def test_plugin_config_and_health_details_are_for_admins_only(client_for, tmp_path, settings) -> None:
    """Configuration (weights paths, key variable names, base URLs), the config schema and
    health messages that name them are admins' business; every other role sees the plugin's
    declaration, whether it is enabled, and its health status alone."""
    # An internal gateway the operator allows (an admin alone could not point the key there).
    settings.HALLMARK_IDEOGRAM_ALLOWED_HOSTS = ("api.ideogram.ai", "ideogram.acme.internal")
    weights = tmp_path / "secret-models" / "sd35"
    admin = client_for("admin")
    for plugin_id, config in (
        ("sd35-medium", {"weights_path": str(weights), "device": "cpu", "dtype": "float32"}),
        (
            "ideogram-v2",
            {"api_key_env": "IDEOGRAM_ACME_KEY_VAR", "base_url": "https://ideogram.acme.internal"},
        ),
    ):
        response = admin.patch(
            f"/api/v1/plugins/{plugin_id}/", {"enabled": True, "config": config}, format="json"
        )
        assert response.status_code == 200, response.content
    revealing = (
        str(weights),
        "secret-models",
        "IDEOGRAM_ACME_KEY_VAR",
        "ideogram.acme.internal",
        str(tmp_path),
    )

    # The admin sees it all, health messages with the paths included.
    as_admin = {p["id"]: p for p in admin.get("/api/v1/plugins/").json()}
    assert as_admin["sd35-medium"]["config"]["weights_path"] == str(weights)
    assert as_admin["sd35-medium"]["health"]["status"] == "red"
    assert str(weights) in as_admin["sd35-medium"]["health"]["message"]
    assert "IDEOGRAM_ACME_KEY_VAR" in as_admin["ideogram-v2"]["health"]["message"]
    assert "weights_path" in as_admin["sd35-medium"]["config_schema"]
    assert as_admin["dummy-broken"]["error"] != "The plugin failed to load; an admin can see why."

    for role in ("viewer", "creator", "reviewer"):
        client = client_for(role)
        listing = client.get("/api/v1/plugins/")
        single = client.get("/api/v1/plugins/sd35-medium/")
        assert listing.status_code == 200 and single.status_code == 200
        for text in (listing.content.decode(), single.content.decode()):
            leaked = [value for value in revealing if value in text]
            assert leaked == [], f"{role} sees {leaked}"
        by_id = {p["id"]: p for p in listing.json()}
        for plugin_id in ("sd35-medium", "ideogram-v2"):
            shown = by_id[plugin_id]
            assert "config" not in shown and "config_schema" not in shown, role
            assert shown["health"] == {"status": "red"}, role
            assert shown["enabled"] is True
            for key in ("id", "name", "version", "license", "capabilities", "params_schema"):
                assert shown[key] == as_admin[plugin_id][key], (role, key)
        assert single.json()["health"] == {"status": "red"}
        assert by_id["dummy-broken"]["broken"] is True
        assert by_id["dummy-broken"]["error"] == "The plugin failed to load; an admin can see why."


def test_submitting_to_an_unhealthy_plugin_names_no_path_to_a_creator(client_for, tmp_path) -> None:
    """The 400 for an unhealthy plugin says why to an admin only: health messages name paths."""
    weights = tmp_path / "private-models" / "sd35"
    admin = client_for("admin")
    response = admin.patch(
        "/api/v1/plugins/sd35-medium/",
        {"enabled": True, "config": {"weights_path": str(weights), "device": "cpu", "dtype": "float32"}},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = {"plugin": "sd35-medium", "prompt": "a lighthouse"}
    as_creator = client_for("creator").post("/api/v1/generations/", body, format="json")
    assert as_creator.status_code == 400
    message = " ".join(as_creator.json()["errors"]["plugin"])
    assert "unhealthy" in message and "private-models" not in message and str(tmp_path) not in message
    as_admin = admin.post("/api/v1/generations/", body, format="json")
    assert as_admin.status_code == 400 and str(weights) in " ".join(as_admin.json()["errors"]["plugin"])
