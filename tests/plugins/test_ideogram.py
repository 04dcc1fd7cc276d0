"""The hosted Ideogram plugins against a local fake that follows Ideogram's documented contract.

Unit tests call the plugin directly (fast); integration tests go through the API and a real
Celery worker, as a user would.
"""

from __future__ import annotations

import io
import json
import logging
import os
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from PIL import Image

from assets.models import Asset
from generation.models import GenerationJob
from governance.models import AuditEvent
from hallmark.sdk import Cancelled, ConfigInvalid, PluginError, RequestInvalid
from plugins import services as plugin_services
from plugins.builtin.ideogram import (
    ASPECT_RATIOS,
    IdeogramV2ATurboPlugin,
    IdeogramV2Plugin,
    parse_retry_after,
)
from plugins.builtin.ideogram.auth_state import AuthFailures
from plugins.validation import build_request
from tests.conftest import wait_for
from tests.plugins.conftest import IDEOGRAM_KEY_ENV
from tests.plugins.fake_ideogram import MAGIC_SUFFIX, UNSAFE_PROMPT_WORD, FakeIdeogram

PLUGINS = {
    "ideogram-v2": ("V_2", IdeogramV2Plugin),
    "ideogram-v2a-turbo": ("V_2A_TURBO", IdeogramV2ATurboPlugin),
}
ALL_IDS = list(PLUGINS)


def _health_markers() -> dict[str, Any]:
    """The refused-key markers in the shared cache (each test starts with an empty cache)."""
    from django.core.cache import cache

    keys = [AuthFailures(plugin_id, IDEOGRAM_KEY_ENV).cache_key for plugin_id in ALL_IDS]
    return {key: value for key in keys if (value := cache.get(key)) is not None}


@pytest.fixture
def fake_ideogram(
    fake_ideogram: FakeIdeogram, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> FakeIdeogram:
    """The conftest's fake, allowed by the operator settings (plain http on 127.0.0.1)."""
    return fake_ideogram.allow(settings, monkeypatch)


def _run(plugin: Any, **fields: Any) -> Any:
    request = build_request(plugin, **{"prompt": "a lighthouse poster", **fields})
    steps: list[tuple[int, int]] = []
    result = plugin.generate(request, lambda s, t: steps.append((s, t)), lambda: False)
    return request, result, steps


# ---------------------------------------------------------------------------------------------
# Unit: the plugin against the fake
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("plugin_id", ALL_IDS)
def test_generate_sends_model_key_and_enums_and_records_provider_data(
    plugin_id, fake_ideogram, ideogram_config, ideogram_key
) -> None:
    model, cls = PLUGINS[plugin_id]
    plugin = cls(ideogram_config())
    _, result, steps = _run(
        plugin, seed=1234, num_images=2, params={"aspect_ratio": "ASPECT_16_9", "style_type": "DESIGN"}
    )
    (sent,) = fake_ideogram.generate_requests()
    assert sent.headers["Api-Key"] == ideogram_key
    assert sent.json == {
        "image_request": {
            "prompt": "a lighthouse poster",
            "model": model,
            "aspect_ratio": "ASPECT_16_9",
            "magic_prompt_option": "AUTO",
            "seed": 1234,
            "style_type": "DESIGN",
            "num_images": 2,
        }
    }
    # The key goes to the API only, never to the image links.
    assert all("Api-Key" not in r.headers for r in fake_ideogram.image_requests())
    assert len(fake_ideogram.image_requests()) == 2
    assert [i.image.size for i in result.images] == [(1312, 736), (1312, 736)]
    first = result.images[0]
    assert first.seed == 1234 and result.images[1].seed == 1235
    assert first.provider["prompt"] == "a lighthouse poster" + MAGIC_SUFFIX
    assert first.provider["resolution"] == "1312x736"
    assert first.provider["model"] == model and first.provider["style_type"] == "DESIGN"
    assert first.provider["created"]
    assert result.cost == pytest.approx(2 * cls.default_cost_per_image) and result.currency == "USD"
    assert steps[0] == (0, 3) and steps[-1] == (3, 3)


def test_provider_seed_is_recorded_when_ideogram_draws_it(fake_ideogram, ideogram_config) -> None:
    # Ideogram treats seed 0 as "pick one": the asset must carry the seed it really used.
    _, result, _ = _run(IdeogramV2Plugin(ideogram_config()), seed=0, params={"magic_prompt_option": "OFF"})
    assert result.images[0].seed > 0
    assert result.images[0].provider["seed"] == result.images[0].seed
    assert result.images[0].provider["prompt"] == "a lighthouse poster"


def test_width_and_height_pick_the_matching_aspect_ratio(fake_ideogram, ideogram_config) -> None:
    plugin = IdeogramV2Plugin(ideogram_config())
    request = build_request(plugin, prompt="x", width=736, height=1312)
    assert request.aspect_ratio == "ASPECT_9_16"
    with pytest.raises(RequestInvalid) as refused:
        build_request(plugin, prompt="x", width=1000, height=1000)
    assert "width" in refused.value.errors
    default = build_request(plugin, prompt="x")
    assert (default.width, default.height, default.aspect_ratio) == (1024, 1024, "ASPECT_1_1")
    assert set(ASPECT_RATIOS) == set(plugin.params_schema["aspect_ratio"].choices)


def test_negative_prompt_sent_for_v2_and_refused_for_v2a_turbo(fake_ideogram, ideogram_config) -> None:
    _run(IdeogramV2Plugin(ideogram_config()), negative_prompt="blurry")
    assert fake_ideogram.generate_requests()[0].json["image_request"]["negative_prompt"] == "blurry"
    with pytest.raises(RequestInvalid) as refused:
        build_request(IdeogramV2ATurboPlugin(ideogram_config()), prompt="x", negative_prompt="blurry")
    assert "V_2A" in refused.value.errors["negative_prompt"][0]


def test_one_429_is_retried_honouring_retry_after(fake_ideogram, ideogram_config) -> None:
    fake_ideogram.fail_next(429, retry_after="1")
    _, result, _ = _run(IdeogramV2Plugin(ideogram_config(backoff_base_seconds=0.0)))
    first, second = fake_ideogram.generate_requests()
    assert second.at - first.at >= 0.95  # waited as told, not the zero backoff
    assert len(result.images) == 1


def test_retry_after_as_http_date_and_5xx_backoff(fake_ideogram, ideogram_config) -> None:
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=1), usegmt=True)
    fake_ideogram.fail_next(503, retry_after=soon)
    fake_ideogram.fail_next(500)
    _, result, _ = _run(IdeogramV2Plugin(ideogram_config(max_attempts=3)))
    assert len(fake_ideogram.generate_requests()) == 3 and len(result.images) == 1


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0.0
    assert (
        parse_retry_after("soon") is None
        and parse_retry_after(None) is None
        and parse_retry_after("") is None
    )


def test_retries_are_bounded_by_attempts(fake_ideogram, ideogram_config) -> None:
    fake_ideogram.fail_next(503, times=10)
    with pytest.raises(PluginError) as failed:
        _run(IdeogramV2Plugin(ideogram_config(max_attempts=3)))
    assert len(fake_ideogram.generate_requests()) == 3
    assert failed.value.retryable and failed.value.code == "provider_unavailable"
    assert "503" in str(failed.value) and "3 attempts" in str(failed.value)


def test_retries_are_bounded_by_the_time_budget(fake_ideogram, ideogram_config) -> None:
    fake_ideogram.fail_next(429, retry_after="3600")
    with pytest.raises(PluginError) as failed:
        _run(IdeogramV2Plugin(ideogram_config(max_total_seconds=30)))
    assert len(fake_ideogram.generate_requests()) == 1  # gave up at once instead of sleeping an hour
    assert "time budget" in str(failed.value) and failed.value.code == "provider_unavailable"


def test_cancel_during_backoff_stops_the_job(fake_ideogram, ideogram_config) -> None:
    fake_ideogram.fail_next(429, retry_after="30")
    plugin = IdeogramV2Plugin(ideogram_config())
    request = build_request(plugin, prompt="x")
    calls = {"n": 0}

    def cancelled() -> bool:
        calls["n"] += 1
        return calls["n"] > 2  # cancelled while waiting out the Retry-After

    with pytest.raises(Cancelled):
        plugin.generate(request, lambda s, t: None, cancelled)
    assert len(fake_ideogram.generate_requests()) == 1


def test_unsafe_image_fails_without_downloading(fake_ideogram, ideogram_config) -> None:
    fake_ideogram.unsafe_next()
    with pytest.raises(PluginError) as failed:
        _run(IdeogramV2Plugin(ideogram_config()))
    assert failed.value.code == "unsafe_image" and "unsafe" in str(failed.value)
    assert fake_ideogram.image_requests() == []


def test_provider_refusals_are_not_retried(fake_ideogram, ideogram_config) -> None:
    plugin = IdeogramV2Plugin(ideogram_config())
    with pytest.raises(PluginError) as refused:
        _run(plugin, prompt=f"a {UNSAFE_PROMPT_WORD} poster")
    assert refused.value.code == "provider_refused" and "safety" in str(refused.value)
    fake_ideogram.fail_next(400, error="image_request.prompt is too long")
    with pytest.raises(PluginError) as invalid:
        _run(plugin)
    assert invalid.value.code == "provider_rejected" and "too long" in str(invalid.value)
    assert len(fake_ideogram.generate_requests()) == 2


def test_downloads_are_checked_retried_and_size_limited(fake_ideogram, ideogram_config) -> None:
    fake_ideogram.fail_next_download(503)
    _, result, _ = _run(IdeogramV2Plugin(ideogram_config()))
    assert len(fake_ideogram.image_requests()) == 2 and result.images[0].image.size == (1024, 1024)

    fake_ideogram.corrupt_next()
    with pytest.raises(PluginError) as corrupt:
        _run(IdeogramV2Plugin(ideogram_config()))
    assert corrupt.value.code == "bad_image"

    with pytest.raises(PluginError) as too_big:
        _run(IdeogramV2Plugin(ideogram_config(max_image_bytes=2048)))
    assert too_big.value.code == "download_too_large"

    fake_ideogram.fail_next_download(404)
    with pytest.raises(PluginError) as expired:
        _run(IdeogramV2Plugin(ideogram_config()))
    assert expired.value.code == "download_failed" and "expired" in str(expired.value)


def test_redirects_are_not_followed_with_the_key(fake_ideogram, ideogram_config, ideogram_key) -> None:
    with FakeIdeogram("other-key") as elsewhere:
        fake_ideogram.fail_next(307, headers={"Location": f"{elsewhere.base_url}/generate"})
        with pytest.raises(PluginError) as failed:
            _run(IdeogramV2Plugin(ideogram_config()))
        assert elsewhere.requests == []
    assert ideogram_key not in str(failed.value)


def test_unreachable_provider_is_retried_then_fails(ideogram_key, monkeypatch, settings) -> None:
    monkeypatch.setenv(IDEOGRAM_KEY_ENV, ideogram_key)
    closed = FakeIdeogram(ideogram_key)  # bound, never started, then closed: nothing listens
    closed.allow(settings, monkeypatch)
    base_url = closed.base_url
    closed._server.server_close()
    plugin = IdeogramV2Plugin(
        {"base_url": base_url, "api_key_env": IDEOGRAM_KEY_ENV, "max_attempts": 2, "backoff_base_seconds": 0}
    )
    with pytest.raises(PluginError) as failed:
        _run(plugin)
    assert failed.value.retryable and "could not connect" in str(failed.value)


def test_401_turns_health_red_until_the_key_changes(
    fake_ideogram, ideogram_config, ideogram_key, monkeypatch
) -> None:
    config = ideogram_config()
    assert IdeogramV2Plugin(config).health().status == "green"
    monkeypatch.setenv(IDEOGRAM_KEY_ENV, "ideo-sk-wrong")
    with pytest.raises(PluginError) as failed:
        _run(IdeogramV2Plugin(config))
    assert failed.value.code == "auth_failed" and not failed.value.retryable
    assert IDEOGRAM_KEY_ENV in str(failed.value) and "ideo-sk-wrong" not in str(failed.value)
    # A fresh instance (as in the web process) reads the state the worker left.
    health = IdeogramV2Plugin(config).health()
    assert health.status == "red" and "401" in health.message and "ideo-sk-wrong" not in health.message
    (marker,) = _health_markers().values()
    assert marker["status"] == 401 and "ideo-sk-wrong" not in json.dumps(marker)
    # The other plugin, with its own key state, is unaffected.
    assert IdeogramV2ATurboPlugin(config).health().status == "green"
    # A new key gets its chance; a success clears the state.
    monkeypatch.setenv(IDEOGRAM_KEY_ENV, ideogram_key)
    assert IdeogramV2Plugin(config).health().status == "green"
    _run(IdeogramV2Plugin(config))
    assert _health_markers() == {}


def test_403_also_turns_health_red(ideogram_key, monkeypatch, settings) -> None:
    monkeypatch.setenv(IDEOGRAM_KEY_ENV, "ideo-sk-forbidden")
    with FakeIdeogram(ideogram_key, forbidden_keys=("ideo-sk-forbidden",)) as fake:
        fake.allow(settings, monkeypatch)
        config = {"base_url": fake.base_url, "api_key_env": IDEOGRAM_KEY_ENV}
        with pytest.raises(PluginError) as failed:
            _run(IdeogramV2ATurboPlugin(config))
    assert "403" in str(failed.value) and failed.value.code == "auth_failed"
    assert IdeogramV2ATurboPlugin(config).health().status == "red"


@pytest.mark.parametrize("value", [None, "", "   "])
def test_health_red_without_a_key(value, monkeypatch) -> None:
    if value is None:
        monkeypatch.delenv("IDEOGRAM_API_KEY", raising=False)
    else:
        monkeypatch.setenv("IDEOGRAM_API_KEY", value)
    health = IdeogramV2Plugin({}).health()
    assert health.status == "red" and "IDEOGRAM_API_KEY" in health.message
    with pytest.raises(PluginError) as failed:
        _run(IdeogramV2Plugin({}))
    assert failed.value.code == "auth_missing"


def test_config_defaults_and_checks(settings) -> None:
    v2, turbo = IdeogramV2Plugin({}), IdeogramV2ATurboPlugin({})
    assert v2.config["base_url"] == "https://api.ideogram.ai"
    assert v2.config["api_key_env"] == "IDEOGRAM_API_KEY"
    assert v2.config["cost_per_image"] == 0.08 and turbo.config["cost_per_image"] == 0.025
    settings.HALLMARK_IDEOGRAM_ALLOWED_HOSTS = ("api.ideogram.ai", "proxy.example")
    assert IdeogramV2Plugin({"base_url": "https://proxy.example/ideogram/"}).config["base_url"] == (
        "https://proxy.example/ideogram"
    )
    for bad in (
        "ftp://api.ideogram.ai",
        "https://user:secret@api.ideogram.ai",
        "http://api.ideogram.ai",
        "https://api.ideogram.ai/?key=x",
        "not a url",
        "http://127.0.0.1:8080",
    ):
        with pytest.raises(ConfigInvalid) as refused:
            IdeogramV2Plugin({"base_url": bad})
        assert set(refused.value.errors) == {"base_url"}, bad
    with pytest.raises(ConfigInvalid) as refused:
        IdeogramV2Plugin({"api_key_env": "not-a-name", "timeout_seconds": 10_000, "max_attempts": 0})
    assert set(refused.value.errors) == {"api_key_env", "timeout_seconds", "max_attempts"}


def test_identity_and_capabilities() -> None:
    identity = IdeogramV2ATurboPlugin({}).identity()
    assert identity.model_version == "V_2A_TURBO" and identity.weights_fingerprint.startswith("hosted:")
    # Where the key goes (a proxy, a gateway) is configuration, and identities are shown to all.
    assert "endpoint" not in identity.extra and identity.extra["provider"] == "Ideogram"
    caps = IdeogramV2Plugin.capabilities
    assert caps.max_images == 8 and caps.seed_max == 2_147_483_647
    assert caps.aspect_ratios["ASPECT_16_9"] == (1312, 736)
    assert caps.cost.basis == "per_image" and caps.cost.per_image == 0.08


# ---------------------------------------------------------------------------------------------
# Through the API and a real worker
# ---------------------------------------------------------------------------------------------


def _enable(client_for, plugin_id: str, config: dict[str, Any]) -> None:
    response = client_for("admin").patch(
        f"/api/v1/plugins/{plugin_id}/", {"enabled": True, "config": config}, format="json"
    )
    assert response.status_code == 200, response.content


def _wait_finished(client, job_id: str) -> dict[str, Any]:
    def finished() -> dict | None:
        body = client.get(f"/api/v1/generations/{job_id}/").json()
        return body if body["status"] in ("succeeded", "failed", "cancelled") else None

    return wait_for(finished, timeout=60)


def _media_files(settings: Any) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.integration
@pytest.mark.parametrize("plugin_id", ALL_IDS)
def test_generation_through_api_and_worker(
    plugin_id, celery_worker, client_for, fake_ideogram, ideogram_config, ideogram_key
) -> None:
    model, cls = PLUGINS[plugin_id]
    _enable(client_for, plugin_id, ideogram_config())
    fake_ideogram.fail_next(429, retry_after="0")  # one rate limit on the way
    creator = client_for("creator")
    response = creator.post(
        "/api/v1/generations/",
        {
            "plugin": plugin_id,
            "prompt": "a lighthouse poster",
            "seed": 42,
            "params": {"aspect_ratio": "ASPECT_16_9"},
        },
        format="json",
    )
    assert response.status_code == 202, response.content
    job = _wait_finished(creator, response.json()["id"])
    assert job["status"] == "succeeded", job
    assert float(job["cost"]) == pytest.approx(cls.default_cost_per_image) and job["cost_currency"] == "USD"

    rate_limited, sent = fake_ideogram.generate_requests()
    assert sent.headers["Api-Key"] == ideogram_key
    assert sent.json["image_request"]["model"] == model == rate_limited.json["image_request"]["model"]

    asset = creator.get(f"/api/v1/assets/{job['assets'][0]}/").json()
    assert (asset["width"], asset["height"]) == (1312, 736)
    assert asset["prompt"] == "a lighthouse poster"
    assert asset["provider_data"]["prompt"] == "a lighthouse poster" + MAGIC_SUFFIX
    assert asset["provider_data"]["resolution"] == "1312x736"
    assert asset["provider_data"]["seed"] == asset["seed"] == 42
    assert asset["model"]["version"] == model
    download = creator.get(f"/api/v1/assets/{asset['id']}/file/")
    with Image.open(io.BytesIO(b"".join(download.streaming_content))) as stored:
        assert stored.size == (1312, 736)
    call_command("verify_audit")


@pytest.mark.integration
def test_unsafe_image_fails_the_job_and_stores_nothing(
    celery_worker, client_for, fake_ideogram, ideogram_config, settings
) -> None:
    _enable(client_for, "ideogram-v2a-turbo", ideogram_config())
    fake_ideogram.unsafe_next()
    creator = client_for("creator")
    job_id = creator.post(
        "/api/v1/generations/",
        {"plugin": "ideogram-v2a-turbo", "prompt": "x", "num_images": 2},
        format="json",
    ).json()["id"]
    job = _wait_finished(creator, job_id)
    assert job["status"] == "failed" and job["error_code"] == "unsafe_image"
    assert "unsafe" in job["error"] and job["assets"] == []
    assert not Asset.objects.exists()
    assert _media_files(settings) == []
    assert fake_ideogram.image_requests() == []


@pytest.mark.integration
def test_bad_key_fails_turns_health_red_and_refuses_next_submit(
    celery_worker, client_for, fake_ideogram, ideogram_config, ideogram_key, monkeypatch
) -> None:
    _enable(client_for, "ideogram-v2", ideogram_config())
    monkeypatch.setenv(IDEOGRAM_KEY_ENV, "ideo-sk-revoked-0000")
    creator = client_for("creator")
    job_id = creator.post(
        "/api/v1/generations/", {"plugin": "ideogram-v2", "prompt": "x"}, format="json"
    ).json()["id"]
    job = _wait_finished(creator, job_id)
    assert job["status"] == "failed" and job["error_code"] == "auth_failed"
    assert IDEOGRAM_KEY_ENV not in job["error"]  # the variable's name is configuration
    job = client_for("admin").get(f"/api/v1/generations/{job_id}/").json()
    assert "API key" in job["error"] and IDEOGRAM_KEY_ENV in job["error"]
    assert "ideo-sk-revoked-0000" not in job["error"]

    plugin = creator.get("/api/v1/plugins/ideogram-v2/").json()
    assert plugin["health"]["status"] == "red"
    refused = creator.post("/api/v1/generations/", {"plugin": "ideogram-v2", "prompt": "x"}, format="json")
    assert refused.status_code == 400 and "unhealthy" in refused.json()["errors"]["plugin"][0]
    with pytest.raises(plugin_services.PluginUnavailable):
        plugin_services.available_plugin("ideogram-v2")
    assert GenerationJob.objects.count() == 1

    monkeypatch.setenv(IDEOGRAM_KEY_ENV, ideogram_key)  # the admin fixes the key
    assert creator.get("/api/v1/plugins/ideogram-v2/").json()["health"]["status"] == "green"
    retried = creator.post("/api/v1/generations/", {"plugin": "ideogram-v2", "prompt": "x"}, format="json")
    assert retried.status_code == 202
    assert _wait_finished(creator, retried.json()["id"])["status"] == "succeeded"


def test_v2a_turbo_refuses_negative_prompt_through_the_api(
    client_for, fake_ideogram, ideogram_config
) -> None:
    _enable(client_for, "ideogram-v2a-turbo", ideogram_config())
    response = client_for("creator").post(
        "/api/v1/generations/",
        {"plugin": "ideogram-v2a-turbo", "prompt": "x", "negative_prompt": "blurry"},
        format="json",
    )
    assert response.status_code == 400
    assert "negative prompt" in response.json()["errors"]["negative_prompt"][0]
    assert not GenerationJob.objects.exists()


def test_missing_key_refuses_submit(client_for, fake_ideogram, ideogram_config, monkeypatch) -> None:
    _enable(client_for, "ideogram-v2", ideogram_config())
    monkeypatch.delenv(IDEOGRAM_KEY_ENV)
    response = client_for("creator").post(
        "/api/v1/generations/", {"plugin": "ideogram-v2", "prompt": "x"}, format="json"
    )
    # Variable names are configuration: a creator learns that the plugin is unhealthy, an admin why.
    assert response.status_code == 400 and "unhealthy" in response.json()["errors"]["plugin"][0]
    assert IDEOGRAM_KEY_ENV not in response.json()["errors"]["plugin"][0]
    response = client_for("admin").post(
        "/api/v1/generations/", {"plugin": "ideogram-v2", "prompt": "x"}, format="json"
    )
    assert response.status_code == 400 and IDEOGRAM_KEY_ENV in response.json()["errors"]["plugin"][0]


@pytest.mark.integration
def test_the_key_appears_nowhere(
    celery_worker, client_for, fake_ideogram, ideogram_config, ideogram_key, monkeypatch, caplog, settings
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "requests", "plugins", "generation", "celery"):
        caplog.set_level(logging.DEBUG, logger=name)
    _enable(client_for, "ideogram-v2", ideogram_config(max_attempts=2))
    creator = client_for("creator")

    def run(**body: Any) -> dict[str, Any]:
        job_id = creator.post(
            "/api/v1/generations/", {"plugin": "ideogram-v2", "prompt": "x", **body}, format="json"
        ).json()["id"]
        return _wait_finished(creator, job_id)

    fake_ideogram.fail_next(429, retry_after="0")
    ok = run()
    assert ok["status"] == "succeeded"
    fake_ideogram.fail_next(500, times=2)
    assert run()["error_code"] == "provider_unavailable"
    fake_ideogram.fail_next(400, error=f"echoing your key {ideogram_key} back")  # a careless provider
    provider_echo = run()
    assert provider_echo["error_code"] == "provider_rejected" and "[redacted]" in provider_echo["error"]
    fake_ideogram.unsafe_next()
    assert run()["error_code"] == "unsafe_image"
    monkeypatch.setenv(IDEOGRAM_KEY_ENV, ideogram_key + "-wrong")
    assert run()["error_code"] == "auth_failed"
    # The key really was in play: the fake received it.
    assert any(r.headers.get("Api-Key") == ideogram_key for r in fake_ideogram.generate_requests())

    wrong_key = ideogram_key + "-wrong"
    admin = client_for("admin")
    outputs = [
        caplog.text,
        json.dumps(list(GenerationJob.objects.values()), default=str),
        json.dumps(list(AuditEvent.objects.values()), default=str),
        json.dumps(list(Asset.objects.values()), default=str),
        admin.get("/api/v1/generations/").content.decode(),
        admin.get("/api/v1/assets/").content.decode(),
        admin.get("/api/v1/plugins/").content.decode(),
        admin.get("/api/v1/plugins/ideogram-v2/").content.decode(),
        admin.get("/api/v1/audit/").content.decode(),
        *(p.read_bytes().decode("latin-1") for p in _media_files(settings)),
        *(json.dumps(marker) for marker in _health_markers().values()),
    ]
    assert len(caplog.records) > 0 and "/generate" in caplog.text  # the logs were really captured
    for text in outputs:
        assert ideogram_key not in text
        assert wrong_key not in text
    assert os.environ[IDEOGRAM_KEY_ENV] == wrong_key


@pytest.mark.integration
def test_health_red_crosses_from_worker_process_to_web(
    worker_process, client_for, fake_ideogram, ideogram_config, ideogram_key, monkeypatch, settings
) -> None:
    # The worker is another process: only state it shares can reach the web process (the
    # cache, here the run's file cache under its var dir; Redis or the database across hosts).
    _enable(client_for, "ideogram-v2", ideogram_config())
    monkeypatch.setenv(IDEOGRAM_KEY_ENV, ideogram_key + "-refused")  # unique: no earlier state
    worker_process(queues=["gen.ideogram-v2"])
    creator = client_for("creator")
    job_id = creator.post(
        "/api/v1/generations/", {"plugin": "ideogram-v2", "prompt": "x"}, format="json"
    ).json()["id"]
    job = _wait_finished(creator, job_id)
    assert job["error_code"] == "auth_failed"
    assert creator.get("/api/v1/plugins/ideogram-v2/").json()["health"]["status"] == "red"


# ---------------------------------------------------------------------------------------------
# The operator, not a database row, decides which secret goes where
# ---------------------------------------------------------------------------------------------

EXFILTRATION = {"base_url": "https://evil.example", "api_key_env": "DATABASE_URL"}


@pytest.fixture
def environ_reads(monkeypatch) -> list[str]:
    """Names read with ``os.environ.get`` during the test (how plugins read their secrets)."""
    reads: list[str] = []
    real_get = os.environ.get

    def spy(name: str, default: Any = None) -> Any:
        reads.append(name)
        return real_get(name, default)

    monkeypatch.setattr(os.environ, "get", spy)
    return reads


def test_admin_cannot_point_the_key_at_another_secret_or_host(client_for) -> None:
    admin = client_for("admin")
    response = admin.patch("/api/v1/plugins/ideogram-v2/", {"config": EXFILTRATION}, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"config.api_key_env", "config.base_url"}
    assert "DATABASE_URL" in errors["config.api_key_env"][0]
    assert "HALLMARK_IDEOGRAM_ALLOWED_HOSTS" in errors["config.base_url"][0]
    assert "evil.example" in errors["config.base_url"][0]
    assert admin.get("/api/v1/plugins/ideogram-v2/").json()["config"] == {}
    assert not AuditEvent.objects.filter(action="plugin.configured").exists()


@pytest.mark.parametrize(
    "name", ["DATABASE_URL", "DJANGO_SECRET_KEY", "AWS_SECRET_ACCESS_KEY", "HALLMARK_AUDIT_KEY", "PATH"]
)
def test_api_key_env_must_be_on_the_operator_allow_list(client_for, name) -> None:
    response = client_for("admin").patch(
        "/api/v1/plugins/ideogram-v2a-turbo/", {"config": {"api_key_env": name}}, format="json"
    )
    assert response.status_code == 400
    (message,) = response.json()["errors"]["config.api_key_env"]
    assert name in message
    if name == "PATH":  # merely not listed: the message says which operator setting allows more
        assert "HALLMARK_SECRET_ENV_ALLOWLIST" in message and "IDEOGRAM_*" in message


def test_operator_settings_allow_another_key_variable_and_a_proxy(client_for, settings) -> None:
    settings.HALLMARK_SECRET_ENV_ALLOWLIST = ("IDEOGRAM_*", "TEAM_IDEOGRAM_KEY")
    settings.HALLMARK_IDEOGRAM_ALLOWED_HOSTS = ("api.ideogram.ai", "ideogram-proxy.corp.example:8443")
    config = {"api_key_env": "TEAM_IDEOGRAM_KEY", "base_url": "https://ideogram-proxy.corp.example:8443/v1"}
    response = client_for("admin").patch("/api/v1/plugins/ideogram-v2/", {"config": config}, format="json")
    assert response.status_code == 200, response.content
    # The port is part of the rule: the same proxy on its default port is another endpoint.
    refused = client_for("admin").patch(
        "/api/v1/plugins/ideogram-v2/",
        {"config": {"base_url": "https://ideogram-proxy.corp.example/v1"}},
        format="json",
    )
    assert refused.status_code == 400 and "config.base_url" in refused.json()["errors"]


def _job_with_config_changed_under_it(
    users, config: dict[str, Any], changed: dict[str, Any]
) -> GenerationJob:
    """A job submitted while ``config`` was valid; then the row holds ``changed``, as a row
    written before this upgrade would (the service refuses to save it now)."""
    from generation import services as generation_services
    from plugins.models import PluginSetting

    plugin_services.update_plugin("ideogram-v2", acting_user=users["admin"], enabled=True, config=config)
    job, _ = generation_services.submit(
        acting_user=users["creator"], plugin_id="ideogram-v2", fields={"prompt": "x"}
    )
    PluginSetting.objects.filter(plugin_id="ideogram-v2").update(config={**config, **changed})
    return job


@pytest.mark.parametrize(
    "changed, named",
    [
        ({"api_key_env": "DATABASE_URL"}, "api_key_env"),
        ({"api_key_env": "DJANGO_SECRET_KEY"}, "api_key_env"),
        ({"base_url": "https://evil.example"}, "base_url"),
        ({"base_url": "https://evil.example", "api_key_env": "DATABASE_URL"}, "api_key_env"),
    ],
)
def test_a_row_saved_before_the_allow_lists_sends_nothing(
    users, fake_ideogram, ideogram_config, monkeypatch, environ_reads, changed, named
) -> None:
    from generation import runner

    monkeypatch.setenv("DATABASE_URL", "postgres://hallmark:db-password-123@db/hallmark")
    monkeypatch.setenv("DJANGO_SECRET_KEY", "django-secret-456")
    with FakeIdeogram("other-key") as evil:
        changed = {k: (evil.base_url if v == "https://evil.example" else v) for k, v in changed.items()}
        job = _job_with_config_changed_under_it(users, ideogram_config(), changed)
        environ_reads.clear()
        runner.run(str(job.pk))
        assert evil.requests == []
    job.refresh_from_db()
    assert job.status == "failed" and named in job.error
    assert job.error_code == "plugin_misconfigured"
    assert fake_ideogram.generate_requests() == [] and not Asset.objects.exists()
    assert "db-password-123" not in job.error and "django-secret-456" not in job.error
    assert "DATABASE_URL" not in environ_reads and "DJANGO_SECRET_KEY" not in environ_reads
    health = plugin_services.health("ideogram-v2")
    assert health.status == "red" and named in health.message
    with pytest.raises(plugin_services.PluginUnavailable):
        plugin_services.available_plugin("ideogram-v2")
    assert "DATABASE_URL" not in environ_reads and "DJANGO_SECRET_KEY" not in environ_reads


def test_narrowed_operator_settings_stop_a_warm_instance(
    fake_ideogram, ideogram_config, settings, monkeypatch, environ_reads
) -> None:
    # Allowed when the worker loaded the plugin; the operator narrows the lists afterwards.
    settings.HALLMARK_SECRET_ENV_ALLOWLIST = ("IDEOGRAM_*", "LEGACY_TOKEN")
    monkeypatch.setenv("LEGACY_TOKEN", "legacy-secret-789")
    warm = IdeogramV2Plugin(ideogram_config(api_key_env="LEGACY_TOKEN"))
    warm.load()
    settings.HALLMARK_SECRET_ENV_ALLOWLIST = ("IDEOGRAM_*",)
    environ_reads.clear()
    with pytest.raises(PluginError) as refused:
        _run(warm)
    assert refused.value.code == "config_not_allowed"
    assert "HALLMARK_SECRET_ENV_ALLOWLIST" in str(refused.value) and "LEGACY_TOKEN" in str(refused.value)
    health = warm.health()
    assert health.status == "red" and "HALLMARK_SECRET_ENV_ALLOWLIST" in health.message
    assert "LEGACY_TOKEN" not in environ_reads

    kept = IdeogramV2Plugin(ideogram_config())
    settings.HALLMARK_IDEOGRAM_ALLOWED_HOSTS = ("api.ideogram.ai",)
    with pytest.raises(PluginError) as moved:
        _run(kept)
    assert moved.value.code == "config_not_allowed" and "HALLMARK_IDEOGRAM_ALLOWED_HOSTS" in str(moved.value)
    assert kept.health().status == "red"
    assert fake_ideogram.requests == []


def test_plain_http_and_ip_literals_need_an_explicit_operator_entry(settings) -> None:
    for url in (
        "http://127.0.0.1:8080",
        "https://127.0.0.1:8443",
        "https://169.254.169.254",
        "http://localhost",
    ):
        with pytest.raises(ConfigInvalid) as refused:
            IdeogramV2Plugin({"base_url": url})
        assert set(refused.value.errors) == {"base_url"}, url
    settings.HALLMARK_IDEOGRAM_ALLOWED_HOSTS = ("127.0.0.1:8443", "http://127.0.0.1:8080")
    assert IdeogramV2Plugin({"base_url": "https://127.0.0.1:8443"}).config["base_url"]
    assert IdeogramV2Plugin({"base_url": "http://127.0.0.1:8080"}).config["base_url"]
    with pytest.raises(ConfigInvalid):  # http is allowed on the port listed with it only
        IdeogramV2Plugin({"base_url": "http://127.0.0.1:8443"})


def test_generate_answer_is_read_within_one_mebibyte(fake_ideogram, ideogram_config) -> None:
    item = {"url": "x", "prompt": "p", "resolution": "1024x1024", "seed": 1, "is_image_safe": True}
    fake_ideogram.answer_next({"created": "now", "data": [item], "padding": "a" * (1024 * 1024)})
    with pytest.raises(PluginError) as refused:
        _run(IdeogramV2Plugin(ideogram_config()))
    assert refused.value.code == "provider_error" and "1048576 bytes" in str(refused.value)
    assert fake_ideogram.image_requests() == []


def test_only_png_jpeg_and_webp_parsers_see_the_providers_bytes(monkeypatch) -> None:
    """Pillow tries every format it knows to identify bytes; the provider's bytes must reach
    the three parsers Hallmark accepts and no other (a BMP is refused unparsed)."""
    import io

    from PIL import BmpImagePlugin, Image

    opened: list[str] = []
    original = BmpImagePlugin.BmpImageFile._open
    monkeypatch.setattr(
        BmpImagePlugin.BmpImageFile, "_open", lambda self: (opened.append("BMP"), original(self))[1]
    )
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="BMP")
    with pytest.raises(PluginError) as refused:
        IdeogramV2Plugin._decode(buffer.getvalue())
    assert refused.value.code == "bad_image"
    assert opened == []


def test_a_declared_canvas_beyond_the_pixel_limit_is_refused_before_decoding(settings) -> None:
    """A small PNG can declare a canvas that takes gigabytes once decoded."""
    import io

    from PIL import Image

    settings.HALLMARK_MAX_IMAGE_PIXELS = 64 * 64
    buffer = io.BytesIO()
    Image.new("RGB", (65, 64), "white").save(buffer, format="PNG")
    with pytest.raises(PluginError) as refused:
        IdeogramV2Plugin._decode(buffer.getvalue())
    assert refused.value.code == "bad_image" and "65x64" in str(refused.value)
    small = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(small, format="PNG")
    assert IdeogramV2Plugin._decode(small.getvalue()).size == (64, 64)
