"""The SD3.5 plugins on a tiny random-weight pipeline saved to disk (tests/plugins/tiny_sd3.py).

The plugins load it with ``from_pretrained(..., local_files_only=True)`` exactly as they load
real weights, so loading, sampling, progress, cancellation and fingerprinting all really run.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("diffusers")

from django.core.management import CommandError, call_command
from PIL import Image

from generation.models import GenerationJob
from governance.models import AuditEvent
from governance.provenance import soft_binding
from hallmark.sdk import Cancelled, ConfigInvalid, PluginError, RequestInvalid
from plugins import services
from plugins.builtin import sd35
from plugins.builtin.weights.fingerprint import fingerprint_folder
from plugins.models import PluginSetting
from plugins.runtime import warm_cache
from plugins.validation import build_request
from tests.conftest import ROOT, wait_for
from tests.plugins.tiny_sd3 import build_tiny_sd3

PLUGINS = ("sd35-medium", "sd35-large-turbo")
CPU = {"device": "cpu", "dtype": "float32"}


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two tiny pipelines with different random weights: ``a`` (seed 0) and ``b`` (seed 1)."""
    root = tmp_path_factory.mktemp("tiny-sd3")
    return {"a": build_tiny_sd3(root / "a", seed=0), "b": build_tiny_sd3(root / "b", seed=1)}


@pytest.fixture
def fresh_cache() -> Iterator[Any]:
    """The process's warm plugin cache, emptied before and after the test."""
    cache = warm_cache()
    cache.clear()
    yield cache
    cache.clear()


def plugin(plugin_id: str, weights: Path, **config: Any) -> sd35.SD35Plugin:
    cls = {"sd35-medium": sd35.SD35MediumPlugin, "sd35-large-turbo": sd35.SD35LargeTurboPlugin}[plugin_id]
    return cls({"weights_path": str(weights), **CPU, **config})


def generate(p: sd35.SD35Plugin, **fields: Any) -> tuple[Any, list[tuple[int, int]]]:
    progress: list[tuple[int, int]] = []
    request = build_request(p, **{"prompt": "a lighthouse at dusk", "width": 512, "height": 512, **fields})
    result = p.generate(request, lambda step, total: progress.append((step, total)), lambda: False)
    return result, progress


def pixels(image: Image.Image) -> bytes:
    return image.convert("RGB").tobytes()


# ---------------------------------------------------------------------------------------------
# Health, configuration, declarations
# ---------------------------------------------------------------------------------------------


def test_plugin_classes_import_and_report_red_without_torch(tmp_path: Path) -> None:
    """The web process imports the plugins without torch; health then says what is missing."""
    script = (
        "import sys\n"
        "sys.modules['torch'] = None\n"
        "sys.modules['diffusers'] = None\n"
        "from plugins.builtin.sd35 import SD35MediumPlugin\n"
        f"print(SD35MediumPlugin({{'weights_path': {str(tmp_path)!r}}}).health().as_dict())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "'status': 'red'" in out
    assert "torch, diffusers not installed" in out


@pytest.mark.parametrize("plugin_id", PLUGINS)
def test_health_red_for_missing_empty_or_foreign_folders(
    plugin_id: str, tmp_path: Path, tiny_weights
) -> None:
    assert plugin(plugin_id, tiny_weights["a"]).health().status == "green"

    missing = plugin(plugin_id, tmp_path / "nowhere").health()
    assert missing.status == "red" and "does not exist" in missing.message

    unset = sd35.SD35MediumPlugin({}).health()
    assert unset.status == "red" and unset.message.startswith("weights not registered")
    assert "manage.py register_weights sd35-medium <folder> --enable" in unset.message

    (tmp_path / "empty").mkdir()
    assert "no model_index.json" in plugin(plugin_id, tmp_path / "empty").health().message

    other = tmp_path / "sdxl"
    other.mkdir()
    (other / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionXLPipeline"}))
    assert "StableDiffusionXLPipeline" in plugin(plugin_id, other).health().message

    no_weights = tmp_path / "no-weights"
    shutil.copytree(tiny_weights["a"], no_weights)
    (no_weights / "transformer" / "diffusion_pytorch_model.safetensors").unlink()
    broken = plugin(plugin_id, no_weights).health()
    assert broken.status == "red" and "transformer/ holds no weight file" in broken.message


def test_health_is_shown_by_the_api_and_red_refuses_jobs(client_for, tmp_path: Path) -> None:
    admin = client_for("admin")
    response = admin.patch(
        "/api/v1/plugins/sd35-medium/",
        {"enabled": True, "config": {"weights_path": str(tmp_path / "gone"), **CPU}},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["health"]["status"] == "red"
    refused = client_for("creator").post(
        "/api/v1/generations/", {"plugin": "sd35-medium", "prompt": "x"}, format="json"
    )
    assert refused.status_code == 400
    # The reason names a path: an admin sees it, a creator only that the plugin is unhealthy.
    assert "unhealthy" in refused.json()["errors"]["plugin"][0]
    told = admin.post("/api/v1/generations/", {"plugin": "sd35-medium", "prompt": "x"}, format="json")
    assert told.status_code == 400 and "does not exist" in told.json()["errors"]["plugin"][0]


def test_cpu_offload_on_cpu_is_refused_naming_the_key(client_for, tiny_weights) -> None:
    response = client_for("admin").patch(
        "/api/v1/plugins/sd35-large-turbo/",
        {"config": {"weights_path": str(tiny_weights["a"]), "device": "cpu", "cpu_offload": True}},
        format="json",
    )
    assert response.status_code == 400
    assert "config.cpu_offload" in response.json()["errors"]
    bad_dtype = client_for("admin").patch(
        "/api/v1/plugins/sd35-large-turbo/", {"config": {"dtype": "int8"}}, format="json"
    )
    assert bad_dtype.status_code == 400 and "config.dtype" in bad_dtype.json()["errors"]


def test_declarations_follow_the_model_cards() -> None:
    medium, turbo = sd35.SD35MediumPlugin, sd35.SD35LargeTurboPlugin
    assert (medium.params_schema["steps"].default, medium.params_schema["guidance_scale"].default) == (
        40,
        4.5,
    )
    assert (turbo.params_schema["steps"].default, turbo.params_schema["guidance_scale"].default) == (4, 0.0)
    assert medium.skip_guidance_layers == (7, 8, 9)
    for cls in (medium, turbo):
        assert cls.license.spdx_id == "LicenseRef-Stability-AI-Community"
        assert cls.license.revenue_ceiling_usd == 1_000_000 and not cls.license.allows_training
        assert cls.license.attribution == "Powered by Stability AI"
        assert cls.capabilities.sizes is not None and cls.capabilities.sizes.multiple_of == 16
    assert "without guidance a negative prompt has no effect" in turbo.capabilities.negative_prompt_note


# ---------------------------------------------------------------------------------------------
# Request validation through the API
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def enabled_tiny(enable_plugin, tiny_weights) -> None:
    for plugin_id in PLUGINS:
        enable_plugin(plugin_id, config={"weights_path": str(tiny_weights["a"]), **CPU})


def test_turbo_refuses_a_negative_prompt_and_says_why(client_for, enabled_tiny) -> None:
    client = client_for("creator")
    response = client.post(
        "/api/v1/generations/",
        {"plugin": "sd35-large-turbo", "prompt": "a cat", "negative_prompt": "blurry"},
        format="json",
    )
    assert response.status_code == 400
    message = response.json()["errors"]["negative_prompt"][0]
    assert "without guidance a negative prompt has no effect" in message
    # With guidance on, a negative prompt acts, so it is accepted.
    accepted = client.post(
        "/api/v1/generations/",
        {
            "plugin": "sd35-large-turbo",
            "prompt": "a cat",
            "negative_prompt": "blurry",
            "params": {"guidance_scale": 2.0},
        },
        format="json",
    )
    assert accepted.status_code == 202, accepted.content


@pytest.mark.parametrize("plugin_id", PLUGINS)
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"params": {"steps": 0}}, "params.steps"),
        ({"params": {"steps": 500}}, "params.steps"),
        ({"params": {"guidance_scale": -1.0}}, "params.guidance_scale"),
        ({"params": {"guidance_scale": 50.0}}, "params.guidance_scale"),
        ({"width": 520, "height": 512}, "width"),
        ({"width": 512, "height": 600}, "height"),
        ({"width": 4096, "height": 512}, "width"),
        ({"num_images": 5}, "num_images"),
    ],
)
def test_out_of_range_requests_are_400_naming_the_field(
    client_for, enabled_tiny, plugin_id: str, fields: dict[str, Any], field: str
) -> None:
    response = client_for("creator").post(
        "/api/v1/generations/", {"plugin": plugin_id, "prompt": "a cat", **fields}, format="json"
    )
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert not GenerationJob.objects.exists()


def test_skip_layer_guidance_needs_guidance(client_for, enabled_tiny) -> None:
    response = client_for("creator").post(
        "/api/v1/generations/",
        {
            "plugin": "sd35-medium",
            "prompt": "a cat",
            "params": {"skip_layer_guidance": True, "guidance_scale": 1.0},
        },
        format="json",
    )
    assert response.status_code == 400
    assert "params.skip_layer_guidance" in response.json()["errors"]


# ---------------------------------------------------------------------------------------------
# The plugin itself: generation, cancellation, drop_t5, skip-layer guidance, memory
# ---------------------------------------------------------------------------------------------


def test_cancellation_stops_the_denoising_loop_within_one_step(tiny_weights) -> None:
    p = plugin("sd35-medium", tiny_weights["a"])
    p.load()
    transformer_calls: list[int] = []
    decoder_calls: list[int] = []
    p._pipe.transformer.register_forward_hook(lambda *_: transformer_calls.append(1))
    p._pipe.vae.decoder.register_forward_hook(lambda *_: decoder_calls.append(1))
    progress: list[tuple[int, int]] = []
    request = build_request(p, prompt="slow", width=512, height=512, seed=1, params={"steps": 10})

    with pytest.raises(Cancelled):
        p.generate(
            request,
            lambda step, total: progress.append((step, total)),
            lambda: any(step >= 2 for step, _ in progress),
        )
    steps_done = max(step for step, _ in progress)
    assert 2 <= steps_done <= 3
    assert len(transformer_calls) <= 3  # guidance is batched: one transformer pass per step
    assert decoder_calls == []  # no VAE decode of a half-made image


def test_progress_counts_every_step_of_every_image(tiny_weights) -> None:
    p = plugin("sd35-large-turbo", tiny_weights["a"])
    result, progress = generate(p, seed=5, num_images=2, params={"steps": 2}, width=256, height=256)
    assert progress[0] == (0, 4) and progress[-1] == (4, 4)
    assert [step for step, _ in progress] == sorted(step for step, _ in progress)
    assert [image.seed for image in result.images] == [5, 6]
    assert result.images[0].image.size == (256, 256)
    # Image 1 alone, from its own seed, gives the same pixels: each image is its own call.
    again, _ = generate(p, seed=6, params={"steps": 2}, width=256, height=256)
    assert pixels(again.images[0].image) == pixels(result.images[1].image)
    assert pixels(result.images[0].image) != pixels(result.images[1].image)
    params = result.images[0].parameters
    assert params == {"steps": 2, "sampler": "FlowMatchEulerDiscreteScheduler", "guidance_scale": 0.0}


def test_drop_t5_loads_without_the_t5_encoder(tiny_weights) -> None:
    with_t5 = plugin("sd35-large-turbo", tiny_weights["a"])
    without = plugin("sd35-large-turbo", tiny_weights["a"], drop_t5=True)
    with_t5.load()
    without.load()
    assert with_t5._pipe.text_encoder_3 is not None and with_t5._pipe.tokenizer_3 is not None
    assert without._pipe.text_encoder_3 is None and without._pipe.tokenizer_3 is None
    assert without.identity().extra["text_encoder_3"] == "dropped"
    assert with_t5.identity().extra["text_encoder_3"] == "loaded"
    assert without.memory_footprint() < with_t5.memory_footprint()
    a, _ = generate(with_t5, seed=3, params={"steps": 2})
    b, _ = generate(without, seed=3, params={"steps": 2})
    assert pixels(a.images[0].image) != pixels(b.images[0].image)


def test_drop_t5_lets_a_folder_without_t5_files_load(tiny_weights, tmp_path: Path) -> None:
    folder = tmp_path / "no-t5"
    shutil.copytree(tiny_weights["a"], folder)
    shutil.rmtree(folder / "text_encoder_3")
    red = plugin("sd35-medium", folder).health()
    assert red.status == "red" and "lacks the text_encoder_3/ folder" in red.message
    assert "drop_t5" in red.message  # the remedy is named
    p = plugin("sd35-medium", folder, drop_t5=True)
    assert p.health().status == "green"
    result, _ = generate(p, seed=1, params={"steps": 1}, width=256, height=256)
    assert result.images[0].image.size == (256, 256)


def test_skip_layer_guidance_changes_the_image(tiny_weights) -> None:
    p = plugin("sd35-medium", tiny_weights["a"])
    plain, _ = generate(p, seed=4, params={"steps": 6}, width=256, height=256)
    slg, _ = generate(p, seed=4, params={"steps": 6, "skip_layer_guidance": True}, width=256, height=256)
    assert pixels(plain.images[0].image) != pixels(slg.images[0].image)
    assert slg.images[0].parameters["skip_guidance_layers"] == [7, 8, 9]
    assert "skip_guidance_layers" not in plain.images[0].parameters


def test_memory_footprint_matches_the_weights_and_unload_frees_it(tiny_weights) -> None:
    p = plugin("sd35-medium", tiny_weights["a"])
    assert p.memory_footprint() == 0
    p.load()
    weight_bytes = p.identity().extra["weight_bytes"]
    assert 0.9 * weight_bytes < p.memory_footprint() < 1.1 * weight_bytes  # float32 on disk and loaded
    half = plugin("sd35-medium", tiny_weights["a"], dtype="bfloat16")
    half.load()
    assert 0.45 * weight_bytes < half.memory_footprint() < 0.55 * weight_bytes
    p.unload()
    assert p.memory_footprint() == 0 and p._pipe is None
    p.load()
    assert p.load_count == 2 and p.memory_footprint() > 0


def test_load_failure_is_a_plugin_error(tiny_weights, tmp_path: Path) -> None:
    folder = tmp_path / "corrupt"
    shutil.copytree(tiny_weights["a"], folder)
    (folder / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(PluginError) as caught:
        plugin("sd35-medium", folder).load()
    assert caught.value.code == "load_failed"


def test_asking_for_a_gpu_on_a_machine_without_one_is_a_clear_error(tiny_weights) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    for config in ({"device": "cuda"}, {"device": "auto", "cpu_offload": True}):
        p = sd35.SD35MediumPlugin({"weights_path": str(tiny_weights["a"]), **config})
        with pytest.raises(PluginError) as caught:
            p.load()
        assert caught.value.code == "no_gpu" and p.memory_footprint() == 0
    auto = sd35.SD35MediumPlugin(
        {"weights_path": str(tiny_weights["a"]), "device": "auto", "dtype": "float32"}
    )
    auto.load()
    assert auto.identity().extra["device"] == "cpu"


def test_validate_refuses_negative_prompt_for_turbo_at_default_guidance(tiny_weights) -> None:
    turbo = plugin("sd35-large-turbo", tiny_weights["a"])
    with pytest.raises(RequestInvalid) as caught:
        build_request(turbo, prompt="x", negative_prompt="blurry")
    assert list(caught.value.errors) == ["negative_prompt"]


# ---------------------------------------------------------------------------------------------
# Identity and fingerprints
# ---------------------------------------------------------------------------------------------


def test_fingerprint_follows_the_documented_formula(tmp_path: Path) -> None:
    (tmp_path / "vae").mkdir()
    (tmp_path / "unet").mkdir()
    files = {"vae/a.safetensors": b"vae weights", "unet/b.bin": b"unet weights", "unet/c.gguf": b"q"}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "vae" / "config.json").write_text("{}")  # not a weight file
    expected = hashlib.sha256(
        b"".join(
            f"{name}\0{hashlib.sha256(data).hexdigest()}\n".encode() for name, data in sorted(files.items())
        )
    ).hexdigest()
    assert fingerprint_folder(tmp_path, cache_dir=None).value == f"sha256:{expected}"
    only_vae = fingerprint_folder(tmp_path, cache_dir=None, subfolders=["vae"])
    assert [f.relative_path for f in only_vae.files] == ["vae/a.safetensors"]


def test_fingerprint_cache_is_keyed_by_path_size_and_mtime(tmp_path: Path) -> None:
    weights = tmp_path / "w"
    weights.mkdir()
    target = weights / "model.safetensors"
    target.write_bytes(b"A" * 64)
    cache = tmp_path / "cache"
    first = fingerprint_folder(weights, cache_dir=cache)
    assert len(list(cache.glob("*.json"))) == 1
    stat = target.stat()
    # Same size and mtime: the cached digest is used and the file is not read again.
    target.write_bytes(b"B" * 64)
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert fingerprint_folder(weights, cache_dir=cache).value == first.value
    # A new mtime (any real rewrite) is hashed again.
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert fingerprint_folder(weights, cache_dir=cache).value != first.value
    assert fingerprint_folder(weights, cache_dir=None).value != first.value


def test_identity_reads_names_versions_and_libraries(tiny_weights, tmp_path: Path, settings) -> None:
    settings.VAR_DIR = tmp_path / "var"
    a = plugin("sd35-medium", tiny_weights["a"]).identity()
    b = plugin("sd35-medium", tiny_weights["b"]).identity()
    assert a.weights_fingerprint.startswith("sha256:") and a.weights_fingerprint != b.weights_fingerprint
    assert a.model_name == "stabilityai/stable-diffusion-3.5-medium"
    assert a.model_version.startswith("configs-") and a.model_version == b.model_version  # same architecture
    assert set(a.libraries) == {"diffusers", "transformers", "torch"}
    assert a.extra["scheduler"]["class"] == "FlowMatchEulerDiscreteScheduler"
    assert a.extra["scheduler"]["config"]["shift"] == 3.0
    assert a.extra["transformer"]["dual_attention_layers"] == [0]
    assert (a.extra["dtype"], a.extra["device"]) == ("float32", "cpu")
    assert list((tmp_path / "var" / "fingerprints").glob("*.json"))  # per-file digests cached

    named = tmp_path / "named"
    shutil.copytree(tiny_weights["a"], named)
    (named / "hallmark_model.json").write_text(
        json.dumps({"name": "acme/sd35-finetune", "version": "2025-03"})
    )
    identity = plugin("sd35-medium", named).identity()
    assert (identity.model_name, identity.model_version) == ("acme/sd35-finetune", "2025-03")
    # Same weight files at another path: the same fingerprint.
    assert identity.weights_fingerprint == a.weights_fingerprint


def test_hugging_face_cache_layout_is_understood(tiny_weights, tmp_path: Path) -> None:
    """A cache repository folder: blobs, a snapshot of symlinks, refs/main naming the commit."""
    repo = tmp_path / "hub" / "models--stabilityai--stable-diffusion-3.5-large-turbo"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True)
    for source in sorted(p for p in tiny_weights["a"].rglob("*") if p.is_file()):
        relative = source.relative_to(tiny_weights["a"])
        blob = repo / "blobs" / hashlib.sha256(source.read_bytes()).hexdigest()
        shutil.copyfile(source, blob)
        (snapshot / relative).parent.mkdir(parents=True, exist_ok=True)
        (snapshot / relative).symlink_to(blob)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)

    assert sd35.resolve_pipeline_folder(repo) == snapshot
    p = plugin("sd35-large-turbo", repo)
    assert p.health().status == "green"
    identity = p.identity()
    assert identity.model_name == "stabilityai/stable-diffusion-3.5-large-turbo"
    assert identity.model_version == f"hf-{commit[:12]}"
    assert (
        identity.weights_fingerprint
        == plugin("sd35-large-turbo", tiny_weights["a"]).identity().weights_fingerprint
    )
    result, _ = generate(p, seed=2, params={"steps": 1}, width=256, height=256)
    assert result.images[0].image.size == (256, 256)


# ---------------------------------------------------------------------------------------------
# register_weights
# ---------------------------------------------------------------------------------------------


def test_register_weights_stores_the_folder_audited_and_prints_the_fingerprint(users, tiny_weights) -> None:
    out = io.StringIO()
    call_command(
        "register_weights", "sd35-medium", str(tiny_weights["b"]), "--enable", "--user", "ada", stdout=out
    )
    expected = plugin("sd35-medium", tiny_weights["b"]).identity().weights_fingerprint
    assert f"fingerprint={expected}" in out.getvalue().splitlines()
    setting = PluginSetting.objects.get(plugin_id="sd35-medium")
    assert setting.enabled and setting.config["weights_path"] == str(tiny_weights["b"])
    event = AuditEvent.objects.get(action="plugin.configured", target_id="sd35-medium")
    assert event.actor == "ada" and event.data["after"]["weights_path"] == str(tiny_weights["b"])
    assert AuditEvent.objects.filter(action="plugin.enabled", target_id="sd35-medium").count() == 1
    assert services.health("sd35-medium").status == "green"


def test_register_weights_shows_fingerprinting_progress_on_a_terminal_only(users, tiny_weights, tmp_path: Path) -> None:
    import fcntl
    import os
    import pty
    import select
    import struct
    import termios

    quiet = io.StringIO()
    call_command("register_weights", "sd35-medium", str(tiny_weights["a"]), "--user", "ada", stdout=io.StringIO(), stderr=quiet)
    assert quiet.getvalue() == ""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    with os.fdopen(slave, "w") as terminal:
        call_command("register_weights", "sd35-medium", str(tiny_weights["b"]), "--user", "ada", stdout=io.StringIO(), stderr=terminal)
        terminal.flush()
        shown = b""
        while select.select([master], [], [], 0.2)[0]:
            shown += os.read(master, 65536)
    os.close(master)
    text = shown.decode()
    assert "fingerprinting: 100%" in text, text


def test_register_weights_keeps_other_settings_and_defaults_to_a_superuser(users, tiny_weights) -> None:
    from django.contrib.auth.models import User

    services.update_plugin("sd35-large-turbo", acting_user=users["admin"], config={"dtype": "float32"})
    with pytest.raises(CommandError, match="No superuser"):
        call_command("register_weights", "sd35-large-turbo", str(tiny_weights["a"]), stdout=io.StringIO())
    User.objects.create_superuser("root", password="pw-root-123")
    call_command("register_weights", "sd35-large-turbo", str(tiny_weights["a"]), stdout=io.StringIO())
    setting = PluginSetting.objects.get(plugin_id="sd35-large-turbo")
    assert setting.config == {"dtype": "float32", "weights_path": str(tiny_weights["a"])}
    assert not setting.enabled
    assert AuditEvent.objects.filter(action="plugin.configured", actor="root").count() == 1


def test_register_weights_sets_drop_t5_for_a_download_without_t5(users, tiny_weights, tmp_path: Path) -> None:
    folder = tmp_path / "downloaded-without-t5"
    shutil.copytree(tiny_weights["a"], folder, ignore=shutil.ignore_patterns("text_encoder_3", "tokenizer_3"))
    with pytest.raises(CommandError, match="set drop_t5"):
        call_command("register_weights", "sd35-medium", str(folder), "--user", "ada", stdout=io.StringIO())
    call_command(
        "register_weights", "sd35-medium", str(folder), "--set", "drop_t5=true", "--set", "device=cpu",
        "--user", "ada", stdout=io.StringIO(),
    )  # fmt: skip
    setting = PluginSetting.objects.get(plugin_id="sd35-medium")
    assert setting.config == {"drop_t5": True, "device": "cpu", "weights_path": str(folder)}
    with pytest.raises(CommandError, match="unknown setting"):
        call_command("register_weights", "sd35-medium", str(folder), "--set", "nope=1", "--user", "ada")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sd35-medium", "/nonexistent/weights", "--user", "ada"], "does not exist"),
        (["no-such-plugin", "/tmp", "--user", "ada"], "No plugin"),
        (["procedural", "/tmp", "--user", "ada"], "does not load local weights"),
        (["sd35-medium", "/tmp", "--user", "carl"], "not an admin"),
    ],
)
def test_register_weights_refuses_bad_input(users, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("register_weights", *args, stdout=io.StringIO())
    assert not PluginSetting.objects.filter(plugin_id="sd35-medium").exists()


# ---------------------------------------------------------------------------------------------
# Through the API and a real worker
# ---------------------------------------------------------------------------------------------


def _finished(client, job_id: str) -> dict[str, Any] | None:
    body = client.get(f"/api/v1/generations/{job_id}/").json()
    return body if body["status"] in ("succeeded", "failed", "cancelled") else None


def _run_job(
    client, plugin_id: str, seed: int, steps: int = 2
) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    response = client.post(
        "/api/v1/generations/",
        {
            "plugin": plugin_id,
            "prompt": "a lighthouse at dusk",
            "width": 512,
            "height": 512,
            "seed": seed,
            "params": {"steps": steps},
        },
        format="json",
    )
    assert response.status_code == 202, response.content
    job = wait_for(lambda: _finished(client, response.json()["id"]), timeout=120)
    assert job["status"] == "succeeded", job
    asset = client.get(f"/api/v1/assets/{job['assets'][0]}/").json()
    download = client.get(f"/api/v1/assets/{asset['id']}/file/")
    assert download.status_code == 200
    return job, asset, b"".join(download.streaming_content)


@pytest.mark.integration
@pytest.mark.parametrize("plugin_id", PLUGINS)
def test_generation_through_api_and_worker(
    celery_worker, client_for, tiny_weights, fresh_cache, plugin_id: str
) -> None:
    admin, creator = client_for("admin"), client_for("creator")
    response = admin.patch(
        f"/api/v1/plugins/{plugin_id}/",
        {"enabled": True, "config": {"weights_path": str(tiny_weights["a"]), **CPU}},
        format="json",
    )
    assert response.status_code == 200 and response.json()["health"]["status"] == "green", response.content

    loads_before = fresh_cache.loads  # a counter over the process's life
    job1, asset1, file1 = _run_job(creator, plugin_id, seed=11)
    job2, asset2, file2 = _run_job(creator, plugin_id, seed=11)
    _, asset3, file3 = _run_job(creator, plugin_id, seed=12)

    # Same seed, same image, but not the same pixels: an AI model's images carry an invisible
    # watermark naming their own asset (HALLMARK_WATERMARK=auto, docs/provenance.md), so two
    # runs differ by their marks only, a few levels here and there.
    assert len({asset1["pixel_sha256"], asset2["pixel_sha256"], asset3["pixel_sha256"]}) == 3
    decoded = [Image.open(io.BytesIO(data)).convert("RGB") for data in (file1, file2, file3)]
    assert decoded[0].size == (512, 512)
    arrays = [np.asarray(image, dtype=np.int16) for image in decoded]
    assert np.abs(arrays[0] - arrays[1]).mean() < 1.5 < np.abs(arrays[0] - arrays[2]).mean()
    for asset, image in ((asset1, decoded[0]), (asset2, decoded[1])):
        read = int.from_bytes(soft_binding.read_watermark(image) or b"", "big")
        recorded = int.from_bytes(uuid.UUID(asset["id"]).bytes[:8], "big")
        assert (read ^ recorded).bit_count() <= 6, asset["id"]
    assert asset1["sha256"] != asset2["sha256"]
    for job in (job1, job2):
        assert job["progress"]["step"] == job["progress"]["total"] == 2

    model = asset1["model"]
    assert model["fingerprint"] == plugin(plugin_id, tiny_weights["a"]).identity().weights_fingerprint
    assert model["extra"]["scheduler"]["class"] == "FlowMatchEulerDiscreteScheduler"
    assert set(model["libraries"]) == {"diffusers", "transformers", "torch"}
    assert asset1["license"]["spdx_id"] == "LicenseRef-Stability-AI-Community"
    parameters = Image.open(io.BytesIO(file1)).text["parameters"]
    assert "Steps: 2" in parameters and "Sampler: FlowMatchEulerDiscreteScheduler" in parameters
    assert "Seed: 11" in parameters

    # Warm cache: three jobs, one load.
    assert fresh_cache.loads - loads_before == 1 and fresh_cache.loaded_ids() == [plugin_id]

    # Other weights: another fingerprint (and other pixels for the same seed), after one reload.
    admin.patch(
        f"/api/v1/plugins/{plugin_id}/",
        {"config": {"weights_path": str(tiny_weights["b"]), **CPU}},
        format="json",
    )
    _, asset4, _ = _run_job(creator, plugin_id, seed=11)
    assert asset4["model"]["fingerprint"] != model["fingerprint"]
    assert asset4["pixel_sha256"] != asset1["pixel_sha256"]
    assert fresh_cache.loads - loads_before == 2 and fresh_cache.loaded_ids() == [plugin_id]
    created = AuditEvent.objects.get(action="asset.created", target_id=asset4["id"])
    assert created.data["model"]["fingerprint"] == asset4["model"]["fingerprint"]
    call_command("verify_audit")


@pytest.mark.integration
def test_cancelling_a_running_job_through_the_api(
    celery_worker, client_for, tiny_weights, fresh_cache
) -> None:
    client_for("admin").patch(
        "/api/v1/plugins/sd35-medium/",
        {"enabled": True, "config": {"weights_path": str(tiny_weights["a"]), **CPU}},
        format="json",
    )
    client = client_for("creator")
    job_id = client.post(
        "/api/v1/generations/",
        {"plugin": "sd35-medium", "prompt": "slow", "width": 512, "height": 512, "params": {"steps": 100}},
        format="json",
    ).json()["id"]
    wait_for(lambda: GenerationJob.objects.get(pk=job_id).progress_step >= 1, timeout=120)
    client.post(f"/api/v1/generations/{job_id}/cancel/")
    job = wait_for(lambda: _finished(client, job_id), timeout=60)
    assert job["status"] == "cancelled" and job["assets"] == []
    assert job["progress"]["step"] < 100


# ---------------------------------------------------------------------------------------------
# The quick start's view: no weights yet, no GPU, a folder saved without T5
# ---------------------------------------------------------------------------------------------


def test_unregistered_weights_are_reported_by_the_plugins_api(client_for) -> None:
    listed = {p["id"]: p for p in client_for("admin").get("/api/v1/plugins/").json()}
    for plugin_id in PLUGINS:
        health = listed[plugin_id]["health"]
        assert health["status"] == "red"
        assert health["message"].startswith("weights not registered")
        assert f"register_weights {plugin_id} <folder>" in health["message"]


def test_the_four_seed_plugins_import_on_a_machine_without_gpu_or_torch() -> None:
    """No CUDA device and no torch: every seed plugin is still listed (not broken) with a health."""
    script = (
        "import sys, django\n"
        "sys.modules['torch'] = None\n"
        "django.setup()\n"
        "from plugins import registry\n"
        "entries = registry.discover()\n"
        "for pid in ('sd35-medium', 'sd35-large-turbo', 'ideogram-v2', 'ideogram-v2a-turbo'):\n"
        "    entry = entries[pid]\n"
        "    assert not entry.broken, (pid, entry.error)\n"
        "    print(pid, entry.get_class()({}).health().status)\n"
        "assert 'torch' not in {m for m, v in sys.modules.items() if v is not None}\n"
    )
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "DJANGO_SETTINGS_MODULE": "hallmark.settings"}
    env.pop("IDEOGRAM_API_KEY", None)
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
    seed = ("sd35-medium", "sd35-large-turbo", "ideogram-v2", "ideogram-v2a-turbo")
    assert out.stdout.split() == [word for pid in seed for word in (pid, "red")]


@pytest.fixture(scope="session")
def tiny_without_t5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny pipeline saved without T5: model_index.json lists text_encoder_3 as [null, null]."""
    return build_tiny_sd3(tmp_path_factory.mktemp("tiny-sd3-no-t5") / "p", seed=0, with_t5=False)


def test_a_folder_saved_without_t5_loads_without_it_and_health_says_so(tiny_without_t5) -> None:
    index = json.loads((tiny_without_t5 / "model_index.json").read_text())
    assert index["text_encoder_3"] == [None, None] and index["tokenizer_3"] == [None, None]
    p = plugin("sd35-medium", tiny_without_t5)
    health = p.health()
    assert health.status == "amber"
    assert health.message.startswith(
        "T5 encoder absent: loaded without it (drop_t5); prompt adherence for long prompts is reduced"
    )
    result, _ = generate(p, seed=1, params={"steps": 1}, width=256, height=256)
    assert result.images[0].image.size == (256, 256)
    assert p._pipe.text_encoder_3 is None and p._pipe.tokenizer_3 is None
    assert p.identity().extra["text_encoder_3"] == "absent"
    # Saying drop_t5 explicitly is the same load, reported as a choice (green).
    dropped = plugin("sd35-medium", tiny_without_t5, drop_t5=True)
    assert dropped.health().status == "green"
    assert dropped.identity().weights_fingerprint == p.identity().weights_fingerprint


def test_dropped_t5_is_left_out_of_the_fingerprint(tiny_weights, tiny_without_t5) -> None:
    """The fingerprint names the files that were read: with drop_t5, not the T5 encoder's."""
    full = plugin("sd35-large-turbo", tiny_weights["a"]).identity()
    dropped = plugin("sd35-large-turbo", tiny_weights["a"], drop_t5=True).identity()
    assert dropped.weights_fingerprint != full.weights_fingerprint
    assert dropped.extra["weight_files"] == full.extra["weight_files"] - 1
    # The same weights saved without T5 (same seed, same draws before T5): the same fingerprint.
    assert plugin("sd35-large-turbo", tiny_without_t5).identity().weights_fingerprint == (
        dropped.weights_fingerprint
    )


# ---------------------------------------------------------------------------------------------
# Security: weights confined to HALLMARK_WEIGHTS_ROOT, safetensors only
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def weights_root(settings, tmp_path: Path, tiny_weights) -> Path:
    """HALLMARK_WEIGHTS_ROOT set to a folder holding a copy of tiny pipeline ``a`` (``inside``)."""
    root = tmp_path / "weights-root"
    shutil.copytree(tiny_weights["a"], root / "inside")
    settings.HALLMARK_WEIGHTS_ROOT = str(root)
    return root


def test_weights_path_outside_the_root_is_refused_naming_weights_path(
    weights_root: Path, tiny_weights, client_for, users
) -> None:
    assert plugin("sd35-medium", weights_root / "inside").health().status == "green"
    with pytest.raises(ConfigInvalid) as caught:
        plugin("sd35-medium", tiny_weights["a"])
    assert list(caught.value.errors) == ["weights_path"]
    assert "HALLMARK_WEIGHTS_ROOT" in caught.value.errors["weights_path"][0]
    # A relative path that climbs out is judged by where it leads.
    with pytest.raises(ConfigInvalid):
        plugin("sd35-medium", weights_root / "inside" / ".." / "..")

    response = client_for("admin").patch(
        "/api/v1/plugins/sd35-medium/",
        {"config": {"weights_path": str(tiny_weights["a"]), **CPU}},
        format="json",
    )
    assert response.status_code == 400
    assert "config.weights_path" in response.json()["errors"]
    with pytest.raises(CommandError, match="weights_path"):
        call_command("register_weights", "sd35-medium", str(tiny_weights["a"]), "--user", "ada")
    assert not PluginSetting.objects.filter(plugin_id="sd35-medium").exists()
    call_command(
        "register_weights", "sd35-medium", str(weights_root / "inside"), "--user", "ada", stdout=io.StringIO()
    )
    assert services.health("sd35-medium").status == "green"


def test_a_symlink_escaping_the_root_is_refused(weights_root: Path, tiny_weights, users) -> None:
    # The folder itself is a link out of the root.
    (weights_root / "link").symlink_to(tiny_weights["a"], target_is_directory=True)
    with pytest.raises(ConfigInvalid) as caught:
        plugin("sd35-medium", weights_root / "link")
    assert "resolves to" in caught.value.errors["weights_path"][0]
    with pytest.raises(CommandError, match="weights_path"):
        call_command("register_weights", "sd35-medium", str(weights_root / "link"), "--user", "ada")

    # A folder inside the root, one of whose weight files links out of it.
    mixed = weights_root / "mixed"
    shutil.copytree(weights_root / "inside", mixed)
    target = mixed / "vae" / "diffusion_pytorch_model.safetensors"
    target.unlink()
    target.symlink_to(tiny_weights["a"] / "vae" / "diffusion_pytorch_model.safetensors")
    p = plugin("sd35-medium", mixed)
    health = p.health()
    assert health.status == "red" and "resolves outside HALLMARK_WEIGHTS_ROOT" in health.message
    assert "vae/diffusion_pytorch_model.safetensors" in health.message
    with pytest.raises(PluginError) as refused:
        p.load()
    assert refused.value.code == "weights_invalid" and p._pipe is None

    # Links that stay inside the root (a Hugging Face snapshot's links to its blobs) are fine.
    inner = weights_root / "inner-link"
    inner.symlink_to(weights_root / "inside", target_is_directory=True)
    assert plugin("sd35-medium", inner).health().status == "green"


def _to_pickle_weights(component: Path) -> None:
    """Replace a component's safetensors file by a torch pickle (.bin) of the same tensors."""
    import torch
    from safetensors.torch import load_file

    source = component / "diffusion_pytorch_model.safetensors"
    torch.save(load_file(str(source)), component / "diffusion_pytorch_model.bin")
    source.unlink()


def test_a_folder_with_only_pickle_weights_is_refused_clearly(tiny_weights, tmp_path: Path, users) -> None:
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_weights["a"], folder)
    _to_pickle_weights(folder / "transformer")
    p = plugin("sd35-medium", folder)
    health = p.health()
    assert health.status == "red"
    assert "transformer/ holds only pickle weights (diffusion_pytorch_model.bin)" in health.message
    assert "safetensors only" in health.message
    with pytest.raises(PluginError) as caught:
        p.load()
    assert caught.value.code == "weights_invalid" and "pickle" in str(caught.value)
    with pytest.raises(CommandError, match="only pickle weights"):
        call_command("register_weights", "sd35-medium", str(folder), "--user", "ada")


def test_loading_asks_for_safetensors_and_ignores_pickles_beside_them(
    tiny_weights, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import diffusers

    folder = tmp_path / "both"
    shutil.copytree(tiny_weights["a"], folder)
    # A pickle beside the safetensors: never read, and not part of the fingerprint.
    (folder / "vae" / "diffusion_pytorch_model.bin").write_bytes(b"not read")
    assert (
        plugin("sd35-medium", folder).identity().weights_fingerprint
        == plugin("sd35-medium", tiny_weights["a"]).identity().weights_fingerprint
    )
    seen: dict[str, Any] = {}
    real = diffusers.StableDiffusion3Pipeline.from_pretrained

    def spy(path: str, **kwargs: Any) -> Any:
        seen.update(kwargs)
        return real(path, **kwargs)

    monkeypatch.setattr(diffusers.StableDiffusion3Pipeline, "from_pretrained", spy)
    p = plugin("sd35-medium", folder)
    p.load()
    assert seen["use_safetensors"] is True and seen["local_files_only"] is True
    assert p.memory_footprint() > 0
