"""``/plugins/``: admins only; enable, disable and configure through the audited service; the
configuration form from the schema, with the plugin's own checks beside each field."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from governance.models import AuditEvent
from plugins import services
from plugins.models import PluginSetting


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_only_admins_see_the_plugins_pages(users: dict[str, Any]) -> None:
    anonymous = Client().get("/plugins/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    for role in ("viewer", "creator", "reviewer", "nobody"):
        client = _client(users[role])
        assert client.get("/plugins/").status_code == 403
        assert client.get("/plugins/procedural/").status_code == 403
        assert client.post("/plugins/procedural/enabled/", {"enabled": "true"}).status_code == 403
        assert client.post("/plugins/procedural/", {"config.default_palette": "sea"}).status_code == 403
    assert (
        not PluginSetting.objects.exists()
        and not AuditEvent.objects.filter(action__startswith="plugin.").exists()
    )
    admin = _client(users["admin"])
    assert admin.get("/plugins/").status_code == 200
    assert admin.get("/plugins/no-such-plugin/").status_code == 404
    # The nav shows the page to admins only.
    assert b'href="/plugins/"' in admin.get("/").content
    assert b'href="/plugins/"' not in _client(users["creator"]).get("/").content


def test_the_list_shows_licence_capabilities_health_and_state(users: dict[str, Any], procedural: str) -> None:
    response = _client(users["admin"]).get("/plugins/")
    by_id = {p["id"]: p for p in response.context["plugins"]}
    assert {"procedural", "ideogram-v2", "ideogram-v2a-turbo", "sd35-medium"} <= set(by_id)
    assert by_id["procedural"]["enabled"] and not by_id["ideogram-v2"]["enabled"]
    html = response.content.decode()
    assert "MIT License" in html and "LicenseRef-Ideogram-API-Terms" in html
    assert (
        "Any size from 64 to 2048 pixels a side, in multiples of 8 (default 512)."
        in by_id["procedural"]["capabilities"]
    )
    assert "11 fixed aspect ratios" in by_id["ideogram-v2"]["capabilities"][0]
    assert not any("model call" in c for c in by_id["procedural"]["capabilities"])
    assert "Runs up to 4 compatible queued jobs as one model call." in by_id["sd35-medium"]["capabilities"]
    assert any(c.startswith("No negative prompt.") for c in by_id["ideogram-v2a-turbo"]["capabilities"])
    assert "health-green" in html
    assert 'aria-label="Disable Procedural' in html and 'aria-label="Enable Ideogram 2.0 (hosted)"' in html


def test_enable_and_disable_are_audited(users: dict[str, Any]) -> None:
    admin = _client(users["admin"])
    assert admin.get("/plugins/procedural/enabled/").status_code == 405  # a GET changes nothing
    response = admin.post("/plugins/procedural/enabled/", {"enabled": "true"})
    assert response.status_code == 302 and response["Location"] == "/plugins/"
    assert services.state("procedural").enabled
    admin.post("/plugins/procedural/enabled/", {"enabled": "false"})
    assert not services.state("procedural").enabled
    actions = list(
        AuditEvent.objects.filter(target_id="procedural").order_by("seq").values_list("action", flat=True)
    )
    assert actions == ["plugin.enabled", "plugin.disabled"]
    assert admin.post("/plugins/procedural/enabled/", {"enabled": "maybe"}).status_code == 400


def test_csrf_is_required(users: dict[str, Any]) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["admin"])
    assert client.post("/plugins/procedural/enabled/", {"enabled": "true"}).status_code == 403
    assert not services.state("procedural").enabled


def test_the_config_form_comes_from_the_schema_and_saving_is_audited(
    users: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDEOGRAM_OTHER_KEY", "secret-value-never-shown")
    admin = _client(users["admin"])
    page = admin.get("/plugins/ideogram-v2/")
    kinds = {i.key: i.kind for i in page.context["inputs"]}
    assert (
        kinds["base_url"] == "text" and kinds["api_key_env"] == "secret" and kinds["max_attempts"] == "number"
    )
    html = page.content.decode()
    assert (
        'id="f-config-max_attempts" name="config.max_attempts" type="number" min="1" max="10" step="1"'
        in html
    )
    assert "Secret: <strong>not set</strong>" in html  # IDEOGRAM_API_KEY, the default name, is unset
    response = admin.post(
        "/plugins/ideogram-v2/",
        {"config.api_key_env": "IDEOGRAM_OTHER_KEY", "config.max_attempts": "2", "config.base_url": ""},
    )
    assert response.status_code == 302 and response["Location"] == "/plugins/ideogram-v2/?saved=1"
    saved = services.state("ideogram-v2").config
    assert saved == {"api_key_env": "IDEOGRAM_OTHER_KEY", "max_attempts": 2}
    event = AuditEvent.objects.get(action="plugin.configured", target_id="ideogram-v2")
    assert event.data["after"] == saved
    shown = admin.get("/plugins/ideogram-v2/?saved=1").content.decode()
    assert "Configuration saved." in shown and "Secret: <strong>set</strong>" in shown
    assert "secret-value-never-shown" not in shown


def test_hostile_values_are_refused_beside_their_fields_and_nothing_is_saved(
    users: dict[str, Any], settings: Any
) -> None:
    settings.HALLMARK_SECRET_ENV_ALLOWLIST = ["IDEOGRAM_*"]
    settings.HALLMARK_IDEOGRAM_ALLOWED_HOSTS = ["api.ideogram.ai"]
    admin = _client(users["admin"])
    services.update_plugin("ideogram-v2", acting_user=users["admin"], config={"max_attempts": 3})
    events_before = AuditEvent.objects.count()
    response = admin.post(
        "/plugins/ideogram-v2/",
        {
            "config.api_key_env": "DATABASE_URL",
            "config.base_url": "https://evil.example.com",
            "config.max_attempts": "lots",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    for key in ("api_key_env", "base_url", "max_attempts"):
        assert f'data-field="{key}"' in html, key
        assert f'aria-describedby="e-config-{key}' in html
    assert "DATABASE_URL holds Hallmark" in html
    # What was typed is shown again so it can be fixed; nothing was saved or audited.
    assert 'value="https://evil.example.com"' in html
    assert services.state("ideogram-v2").config == {"max_attempts": 3}
    assert AuditEvent.objects.count() == events_before
    # A name outside the operator's allow-list is refused too.
    outside = admin.post("/plugins/ideogram-v2/", {"config.api_key_env": "OPENAI_API_KEY"})
    assert outside.status_code == 400 and 'data-field="api_key_env"' in outside.content.decode()
    assert services.state("ideogram-v2").config == {"max_attempts": 3}
    assert AuditEvent.objects.count() == events_before


def test_a_checkbox_setting_round_trips(users: dict[str, Any]) -> None:
    admin = _client(users["admin"])
    response = admin.post(
        "/plugins/sd35-medium/", {"config.drop_t5": ["false", "true"], "config.device": "cpu"}
    )
    assert response.status_code == 302
    assert services.state("sd35-medium").config["drop_t5"] is True
    admin.post("/plugins/sd35-medium/", {"config.drop_t5": "false", "config.device": "cpu"})
    assert services.state("sd35-medium").config["drop_t5"] is False
    assert AuditEvent.objects.filter(action="plugin.configured", target_id="sd35-medium").count() == 2


def test_a_broken_plugin_is_listed_with_its_error_and_cannot_be_enabled(users: dict[str, Any]) -> None:
    admin = _client(users["admin"])
    listed = {p["id"]: p for p in admin.get("/plugins/").context["plugins"]}
    assert listed["dummy-broken"]["broken"] and "import failed" in listed["dummy-broken"]["error"]
    response = admin.post("/plugins/dummy-broken/enabled/", {"enabled": "true"})
    assert response.status_code == 400 and "cannot be enabled" in response.content.decode()
    assert admin.post("/plugins/dummy-broken/", {}).status_code == 400
    assert not AuditEvent.objects.filter(target_id="dummy-broken").exists()
