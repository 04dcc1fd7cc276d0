"""``plugins.readiness`` and ``manage.py plugin_status``: the one thing each plugin lacks."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from plugins import readiness, services
from plugins.builtin.sd35 import pipeline as sd35_pipeline
from plugins.models import PluginSetting

CPU = {"device": "cpu", "dtype": "float32"}


def lines_by_id() -> dict[str, readiness.Readiness]:
    return {r.plugin_id: r for r in readiness.readiness()}


@pytest.fixture(autouse=True)
def _no_ideogram_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IDEOGRAM_API_KEY", raising=False)


def test_a_fresh_installation_says_what_each_seed_model_lacks(users) -> None:
    found = lines_by_id()
    for plugin_id in ("sd35-medium", "sd35-large-turbo"):
        item = found[plugin_id]
        assert (item.status, item.ready) == ("not ready", False)
        assert item.message.startswith(
            f"weights not registered: run manage.py register_weights {plugin_id} <folder> --enable"
        )
    for plugin_id in ("ideogram-v2", "ideogram-v2a-turbo"):
        assert found[plugin_id].status == "not ready"
        assert found[plugin_id].message == "no API key: set IDEOGRAM_API_KEY and enable it (docs/models.md)"
    assert found["procedural"].status == "disabled"
    assert 'PATCH /api/v1/plugins/procedural/ with {"enabled": true}' in found["procedural"].message


def test_a_key_then_enabling_makes_ideogram_ready(users, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDEOGRAM_API_KEY", "ideo-sk-readiness")
    assert lines_by_id()["ideogram-v2"].status == "disabled"
    services.update_plugin("ideogram-v2", acting_user=users["admin"], enabled=True)
    item = lines_by_id()["ideogram-v2"]
    assert (item.status, item.message) == ("ready", "")
    # An enabled plugin whose key goes away only needs the key.
    monkeypatch.delenv("IDEOGRAM_API_KEY")
    assert lines_by_id()["ideogram-v2"].message == "no API key: set IDEOGRAM_API_KEY (docs/models.md)"


def test_registered_weights_make_sd35_ready_and_an_absent_t5_is_noted(users, tmp_path: Path) -> None:
    pytest.importorskip("diffusers")
    from tests.plugins.tiny_sd3 import build_tiny_sd3

    folder = build_tiny_sd3(tmp_path / "no-t5", with_t5=False)
    services.update_plugin(
        "sd35-medium", acting_user=users["admin"], enabled=True, config={"weights_path": str(folder), **CPU}
    )
    item = lines_by_id()["sd35-medium"]
    assert item.status == "ready"
    assert item.message.startswith("T5 encoder absent: loaded without it (drop_t5)")


def test_missing_libraries_and_invalid_stored_config_are_named(
    users, tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sd35_pipeline, "_installed", lambda name: name != "diffusers")
    item = lines_by_id()["sd35-large-turbo"]
    assert item.message.startswith("diffusers not installed")
    assert "HALLMARK_INSTALL_MODELS=none" in item.message
    monkeypatch.undo()

    # A path accepted once, then refused after the operator confined weights to a root.
    services.update_plugin("sd35-medium", acting_user=users["admin"], config={"weights_path": str(tmp_path)})
    settings.HALLMARK_WEIGHTS_ROOT = str(tmp_path / "root")
    item = lines_by_id()["sd35-medium"]
    assert item.status == "not ready"
    assert item.message.startswith(
        "configuration invalid (weights_path: must lie inside HALLMARK_WEIGHTS_ROOT"
    )


def test_a_broken_plugin_is_listed_with_its_error(users) -> None:
    found = lines_by_id()
    if "dummy-broken" not in found:
        pytest.skip("the test plugin distribution is not installed (scripts/install.sh dev)")
    assert found["dummy-broken"].status == "broken"
    assert "import failed" in found["dummy-broken"].message


def test_plugin_status_command_lines_and_json(users) -> None:
    services.update_plugin("procedural", acting_user=users["admin"], enabled=True)
    out = io.StringIO()
    call_command("plugin_status", "--manage", ".venv/bin/python manage.py", stdout=out)
    lines = out.getvalue().splitlines()
    assert "ready      procedural" in lines
    assert any(
        line.startswith(
            "not ready  sd35-medium: weights not registered: run .venv/bin/python manage.py register_weights"
        )
        for line in lines
    ), lines
    as_json = io.StringIO()
    call_command("plugin_status", "--json", stdout=as_json)
    data = {item["plugin_id"]: item for item in json.loads(as_json.getvalue())}
    assert data["procedural"]["ready"] is True and data["procedural"]["enabled"] is True
    assert data["sd35-medium"]["ready"] is False
    assert not PluginSetting.objects.filter(plugin_id="sd35-medium").exists()  # reading changes nothing
