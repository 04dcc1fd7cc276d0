"""SD3.5 refinement (diffusers' SD3 img2img over the loaded pipeline's components) and the latent
cache, on the tiny random-weight pipeline (tests/plugins/tiny_sd3.py): nothing is downloaded."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("diffusers")

from assets.models import Asset
from generation import latent_cache, promote, runner, services
from generation.models import GenerationJob
from plugins.builtin import sd35
from plugins.builtin.sd35.refine import steps_run
from plugins.runtime import warm_cache
from plugins.validation import build_request
from tests.plugins.tiny_sd3 import build_tiny_sd3

CPU = {"device": "cpu", "dtype": "float32"}
SIZE = {"width": 256, "height": 256}


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-sd3-refine")
    return {
        "a": build_tiny_sd3(root / "a", seed=0, with_t5=False),
        "b": build_tiny_sd3(root / "b", seed=1, with_t5=False),
    }


@pytest.fixture
def cache_dir(settings: Any, tmp_path: Path) -> Path:
    settings.HALLMARK_LATENT_CACHE_DIR = tmp_path / "latents"
    settings.HALLMARK_LATENT_CACHE_MAX_MB = 64
    return Path(settings.HALLMARK_LATENT_CACHE_DIR)


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    warm_cache().clear()
    yield
    warm_cache().clear()


def _turbo(path: Path) -> sd35.SD35Plugin:
    return sd35.SD35LargeTurboPlugin({"weights_path": str(path), **CPU})


def _count_encodes(pipe: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Wrap the VAE's encoder (shared by the img2img pipeline built over the same components)."""
    calls: list[int] = []
    encode = pipe.vae.encode

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return encode(*args, **kwargs)

    monkeypatch.setattr(pipe.vae, "encode", counting)
    return calls


def test_generated_images_come_with_their_final_latents(weights) -> None:
    import torch

    plugin = _turbo(weights["a"])
    request = build_request(plugin, prompt="a lighthouse", seed=3, params={"steps": 2}, **SIZE)
    result = plugin.generate(request, lambda *_: None, lambda: False)
    latents = result.images[0].latents
    assert latents.shape == (1, 16, 32, 32) and latents.dtype == np.float32
    # They are the image's own: decoding them as the pipeline does gives its pixels.
    pipe = plugin._pipe
    with torch.no_grad():
        scaled = torch.from_numpy(latents) / pipe.vae.config.scaling_factor + pipe.vae.config.shift_factor
        decoded = pipe.image_processor.postprocess(
            pipe.vae.decode(scaled, return_dict=False)[0], output_type="pil"
        )[0]
    assert np.array_equal(np.asarray(decoded), np.asarray(result.images[0].image))


def test_refine_starts_from_latents_without_encoding_and_falls_back_to_the_image(
    weights, monkeypatch
) -> None:
    plugin = _turbo(weights["a"])
    base = build_request(plugin, prompt="a lighthouse", seed=3, params={"steps": 4}, **SIZE)
    draft = plugin.generate(base, lambda *_: None, lambda: False).images[0]
    encodes = _count_encodes(plugin._pipe, monkeypatch)
    refined: dict[str, Any] = {}
    for name, latents in (
        ("latents", draft.latents),
        ("image", None),
        ("wrong shape", np.zeros((1, 16, 8, 8), np.float32)),
    ):
        progress: list[tuple[int, int]] = []
        request = dataclasses.replace(base, init_image=draft.image, strength=0.5, init_latents=latents)
        result = plugin.generate(
            request, lambda step, total, progress=progress: progress.append((step, total)), lambda: False
        )
        refined[name] = result.images[0]
        assert progress[-1] == (steps_run(4, 0.5), steps_run(4, 0.5)) == (2, 2)
    assert len(encodes) == 2  # the image and the misfit latents were encoded; the cached latents were not
    assert refined["latents"].parameters["from_latents"] is True
    assert refined["image"].parameters["from_latents"] is False
    assert refined["latents"].image.size == (256, 256) and refined["latents"].latents.shape == (1, 16, 32, 32)
    # A refinement changes the draft, and strength decides how far. (With the draft's own seed
    # and model, strength 1 noises the latents to the very noise the draft started from, and
    # makes the draft again: another seed shows the difference.)
    pixels = np.asarray(draft.image, dtype=np.int16)

    def distance(strength: float) -> float:
        request = dataclasses.replace(
            base, seed=4, init_image=draft.image, strength=strength, init_latents=draft.latents
        )
        image = plugin.generate(request, lambda *_: None, lambda: False).images[0].image
        return float(np.abs(np.asarray(image, dtype=np.int16) - pixels).mean())

    assert 0 < distance(0.25) < distance(1.0)


def test_promoting_an_sd35_draft_refines_it_from_the_cached_latents(
    users, enable_plugin, weights, cache_dir, fresh_cache, django_capture_on_commit_callbacks
) -> None:
    def run(job_id: Any) -> None:
        # The latents are kept once the assets are committed (on_commit).
        with django_capture_on_commit_callbacks(execute=True):
            runner.run(str(job_id))

    enable_plugin("sd35-large-turbo", config={"weights_path": str(weights["a"]), **CPU})
    enable_plugin("sd35-medium", config={"weights_path": str(weights["b"]), **CPU})
    job, _ = services.submit(
        acting_user=users["creator"],
        plugin_id="sd35-large-turbo",
        fields={"prompt": "a harbour sign", "seed": 9, "params": {"steps": 2}, **SIZE},
    )
    run(job.pk)
    draft = Asset.objects.get(job=job)
    cached = latent_cache.get(str(draft.pk), "sd3-vae-16ch")
    assert cached is not None and cached.shape == (1, 16, 32, 32)

    def refine() -> Asset:
        made, _ = promote.promote(
            draft.pk,
            acting_user=users["creator"],
            body={"plugin": "sd35-medium", "mode": "refine", "strength": 0.5},
        )
        run(made.pk)
        made.refresh_from_db()
        assert made.status == "succeeded", made.error
        assert (made.width, made.height, made.seed, made.prompt) == (256, 256, 9, "a harbour sign")
        return Asset.objects.get(job=made)

    final = refine()
    assert final.parent_id == draft.pk and final.params["from_latents"] is True
    assert final.params["steps"] == 2  # asked for by the draft's request: carried over
    assert latent_cache.get(str(final.pk), "sd3-vae-16ch") is not None  # a final can be refined again

    entry = next(cache_dir.glob(f"*/{draft.pk}.safetensors"))
    entry.write_bytes(b"\x00corrupt")
    assert refine().params["from_latents"] is False  # a corrupt entry falls back to the image...
    assert not entry.exists()  # ...and is removed
    assert refine().params["from_latents"] is False  # as does a missing one
    assert GenerationJob.objects.filter(derivation="refine", status="succeeded").count() == 3


def test_the_cache_is_bounded_and_evicts_the_least_recently_used(cache_dir, settings) -> None:
    settings.HALLMARK_LATENT_CACHE_MAX_MB = 1
    latents = np.ones((1, 16, 60, 60), np.float32)  # 225 KiB each: four fit in 1 MiB, five do not
    ids = [f"00000000-0000-0000-0000-{n:012d}" for n in range(6)]
    for n, asset_id in enumerate(ids[:4]):
        assert latent_cache.put(asset_id, latents * n, "sd3-vae-16ch")
        entry = cache_dir / asset_id[:2] / f"{asset_id}.safetensors"
        import os

        os.utime(entry, (1_000 + n, 1_000 + n))  # distinct ages, oldest first
    assert latent_cache.get(ids[0], "sd3-vae-16ch") is not None  # used now: the newest
    latent_cache.put(ids[4], latents, "sd3-vae-16ch")
    assert latent_cache.get(ids[1], "sd3-vae-16ch") is None  # the least recently used went
    assert latent_cache.get(ids[0], "sd3-vae-16ch") is not None
    assert float(latent_cache.get(ids[3], "sd3-vae-16ch").max()) == 3.0
    total = sum(p.stat().st_size for p in cache_dir.glob("*/*.safetensors"))
    assert total <= 1024 * 1024
    # Another latent space is a miss; a bound of 0 turns the cache off.
    assert latent_cache.get(ids[0], "other-space") is None
    settings.HALLMARK_LATENT_CACHE_MAX_MB = 0
    assert latent_cache.put(ids[5], latents, "sd3-vae-16ch") is False
    assert latent_cache.get(ids[0], "sd3-vae-16ch") is None
