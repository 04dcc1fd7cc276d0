"""Unit tests of request validation against declared capabilities."""

from __future__ import annotations

import pytest

from hallmark.sdk import ConfigInvalid, ParamSpec, PluginError, RequestInvalid, secret_from_env
from plugins.builtin.procedural import ProceduralPlugin
from plugins.validation import build_request


def test_defaults_are_filled_from_declarations() -> None:
    request = build_request(ProceduralPlugin(), prompt="  hello  ", seed=3)
    assert request.prompt == "hello"
    assert (request.width, request.height, request.num_images) == (512, 512, 1)
    assert request.params == {"steps": 4, "step_delay": 0.0}


def test_all_errors_are_reported_together() -> None:
    with pytest.raises(RequestInvalid) as caught:
        build_request(ProceduralPlugin(), prompt="", width=7, seed=-3, num_images=9, params={"bogus": 1})
    assert set(caught.value.errors) == {"prompt", "width", "seed", "num_images", "params.bogus"}


@pytest.mark.parametrize("value", [float("inf"), float("nan"), True, "1"])
def test_float_params_refuse_non_finite_and_non_numbers(value) -> None:
    with pytest.raises(ValueError):
        ParamSpec("float", minimum=0, maximum=10).clean(value)


def test_config_is_validated_against_schema() -> None:
    with pytest.raises(ConfigInvalid) as caught:
        ProceduralPlugin.clean_config({"default_palette": "neon", "extra": 1})
    assert set(caught.value.errors) == {"default_palette", "extra"}
    assert ProceduralPlugin.clean_config({}) == {"default_palette": "dusk"}


def test_procedural_is_deterministic_and_seed_sensitive() -> None:
    plugin = ProceduralPlugin()
    progress: list[tuple[int, int]] = []

    def make(seed: int) -> bytes:
        request = build_request(
            plugin, prompt="same prompt", seed=seed, width=128, height=64, params={"steps": 3}
        )
        result = plugin.generate(request, lambda s, t: progress.append((s, t)), lambda: False)
        image = result.images[0].image
        assert image.size == (128, 64)
        return image.tobytes()

    assert make(1) == make(1)
    assert make(1) != make(2)
    assert progress[-1] == (3, 3)


def test_procedural_stops_when_cancelled() -> None:
    from hallmark.sdk import Cancelled

    plugin = ProceduralPlugin()
    request = build_request(plugin, prompt="stop me", seed=1, width=64, height=64, params={"steps": 10})
    steps: list[int] = []
    with pytest.raises(Cancelled):
        plugin.generate(request, lambda s, t: steps.append(s), lambda: max(steps, default=0) >= 3)
    assert max(steps) == 3


@pytest.mark.parametrize(
    "name",
    [
        "DATABASE_URL",
        "DJANGO_SECRET_KEY",
        "AWS_SECRET_ACCESS_KEY",
        "HALLMARK_AUDIT_SIGNING_KEY",
        "CELERY_BROKER_URL",
    ],
)
def test_env_settings_never_name_hallmarks_own_secrets(name, settings) -> None:
    with pytest.raises(ValueError) as refused:
        ParamSpec("env").clean(name)
    assert name in str(refused.value)
    settings.HALLMARK_SECRET_ENV_ALLOWLIST = ("*",)  # not even an operator who allows everything
    with pytest.raises(ValueError):
        ParamSpec("env").clean(name)


def test_env_settings_follow_the_operator_allow_list(settings) -> None:
    spec = ParamSpec("env")
    assert spec.clean("IDEOGRAM_API_KEY") == "IDEOGRAM_API_KEY"  # the default: IDEOGRAM_*
    assert spec.clean("") == ""  # no variable named: the plugin reports the key missing
    with pytest.raises(ValueError) as refused:
        spec.clean("OPENAI_API_KEY")
    assert "HALLMARK_SECRET_ENV_ALLOWLIST" in str(refused.value) and "IDEOGRAM_*" in str(refused.value)
    settings.HALLMARK_SECRET_ENV_ALLOWLIST = ("OPENAI_API_KEY", "STABILITY_*")
    assert spec.clean("OPENAI_API_KEY") == "OPENAI_API_KEY" and spec.clean("STABILITY_KEY") == "STABILITY_KEY"
    with pytest.raises(ValueError):
        spec.clean("IDEOGRAM_API_KEY")
    settings.HALLMARK_SECRET_ENV_ALLOWLIST = ()
    with pytest.raises(ValueError, match="now: nothing"):
        spec.clean("OPENAI_API_KEY")


def test_a_config_naming_a_refused_variable_names_the_key() -> None:
    from plugins.builtin.ideogram import IdeogramV2Plugin

    with pytest.raises(ConfigInvalid) as refused:
        IdeogramV2Plugin.clean_config({"api_key_env": "DJANGO_SECRET_KEY"})
    assert set(refused.value.errors) == {"api_key_env"}


def test_secret_from_env_checks_again_before_reading(settings, monkeypatch) -> None:
    monkeypatch.setenv("IDEOGRAM_API_KEY", "  ideo-sk-1  ")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:db-password@h/db")
    assert secret_from_env("IDEOGRAM_API_KEY") == "ideo-sk-1"
    for name in ("DATABASE_URL", "PATH"):
        with pytest.raises(PluginError) as refused:
            secret_from_env(name)
        assert refused.value.code == "secret_not_allowed" and "db-password" not in str(refused.value)
    settings.HALLMARK_SECRET_ENV_ALLOWLIST = ("OTHER_*",)
    with pytest.raises(PluginError):
        secret_from_env("IDEOGRAM_API_KEY")


def test_plugins_sdk_is_the_old_name_of_hallmark_sdk() -> None:
    import hallmark.errors
    import hallmark.sdk
    import plugins.sdk

    assert hallmark.sdk.__all__ and plugins.sdk.__all__ == hallmark.sdk.__all__
    for name in hallmark.sdk.__all__:
        assert getattr(plugins.sdk, name) is getattr(hallmark.sdk, name), name
    assert issubclass(hallmark.sdk.RequestInvalid, hallmark.errors.InvalidInput)
