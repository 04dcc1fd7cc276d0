"""Plugins are found through the real ``hallmark.plugins`` entry points, broken ones listed."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

from plugins import registry, services
from plugins.models import PluginSetting


def test_dummy_plugin_distribution_is_found_through_its_entry_point() -> None:
    names = {ep.name: ep for ep in entry_points(group="hallmark.plugins")}
    assert names["dummy"].dist is not None and names["dummy"].dist.name == "hallmark-dummy-plugin"
    entry = registry.discover(refresh=True)["dummy"]
    assert not entry.broken
    assert entry.distribution == "hallmark-dummy-plugin"
    assert entry.get_class().__module__ == "hallmark_dummy_plugin"


def test_plugin_that_fails_to_import_is_broken_with_its_error() -> None:
    entry = registry.discover()["dummy-broken"]
    assert entry.broken
    assert "ModuleNotFoundError" in entry.error and "hallmark_dependency_that_does_not_exist" in entry.error
    with pytest.raises(LookupError):
        entry.get_class()


def test_incompatible_plugin_is_broken_with_the_reason() -> None:
    entry = registry.discover()["dummy-incompatible"]
    assert entry.broken
    assert "needs Hallmark >=99" in entry.error


def test_plugin_written_for_another_sdk_is_broken_with_the_reason() -> None:
    from hallmark.sdk import SDK_VERSION

    entry = registry.discover()["dummy-sdk-incompatible"]
    assert entry.broken
    assert "needs plugin SDK >=2,<3" in entry.error and f"SDK {SDK_VERSION}" in entry.error
    # The distribution's own plugin declares the SDK it needs and is within it.
    assert not registry.discover()["dummy"].broken


@pytest.mark.parametrize(
    ("sdk_compat", "error"),
    [
        (">=1,<2", ""),
        (">=1.1", ""),
        ("<1.1", "needs plugin SDK <1.1"),
        ("~=2.0", "needs plugin SDK ~=2.0"),
        ("not a range", "sdk_compat 'not a range' is not a valid version specifier"),
    ],
)
def test_sdk_compat_is_checked_against_the_sdk_version(sdk_compat: str, error: str) -> None:
    from importlib.metadata import EntryPoint

    from plugins.builtin.procedural import ProceduralPlugin

    class Declared(ProceduralPlugin):
        id = "declared-sdk"

    Declared.sdk_compat = sdk_compat
    globals()["Declared"] = Declared
    entry = registry._load(EntryPoint("declared-sdk", f"{__name__}:Declared", "hallmark.plugins"))
    assert entry.error.startswith(error) if error else not entry.broken


def test_a_plugin_that_declares_no_sdk_range_works_with_any_1x_sdk() -> None:
    from hallmark.sdk import DEFAULT_SDK_COMPAT, SDK_VERSION, Plugin

    assert Plugin.sdk_compat == DEFAULT_SDK_COMPAT == ">=1,<2"
    assert SDK_VERSION.split(".")[0] == "1"
    assert not registry.discover()["procedural"].broken


def test_broken_plugins_do_not_take_the_api_down(client_for) -> None:
    response = client_for("viewer").get("/api/v1/plugins/")
    assert response.status_code == 200
    by_id = {p["id"]: p for p in response.json()}
    assert by_id["dummy-broken"]["broken"] is True and by_id["dummy-broken"]["error"]
    assert by_id["dummy-broken"]["health"]["status"] == "red"
    assert by_id["procedural"]["broken"] is False
    assert by_id["procedural"]["license"]["spdx_id"] == "MIT"
    assert by_id["procedural"]["capabilities"]["max_images"] == 4


def test_new_plugin_is_disabled_until_an_admin_enables_it(client_for) -> None:
    assert not PluginSetting.objects.exists()
    listing = {p["id"]: p for p in client_for("viewer").get("/api/v1/plugins/").json()}
    assert listing["dummy"]["enabled"] is False
    with pytest.raises(services.PluginUnavailable):
        services.available_plugin("dummy")


def test_badly_typed_metadata_marks_the_plugin_broken_instead_of_crashing() -> None:
    from importlib.metadata import EntryPoint

    from plugins.builtin.procedural import ProceduralPlugin

    class WrongTypes(ProceduralPlugin):
        id = "wrong-types"
        params_schema = ["not", "a", "mapping"]  # type: ignore[assignment]
        hallmark_compat = None  # type: ignore[assignment]

    globals()["WrongTypes"] = WrongTypes
    entry = registry._load(EntryPoint("wrong-types", f"{__name__}:WrongTypes", "hallmark.plugins"))
    assert entry.broken and "bad metadata" in entry.error
