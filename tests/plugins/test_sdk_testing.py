"""``hallmark.sdk.testing.check_plugin`` passes sound plugins and names the first problem of others."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hallmark_dummy_plugin import DummyPlugin, SdkIncompatiblePlugin
from PIL import Image

from hallmark.sdk import (
    Cancelled,
    GeneratedImage,
    GenerationResult,
    ModelIdentity,
    ParamSpec,
)
from hallmark.sdk.testing import check_plugin
from plugins.builtin.ideogram import IdeogramV2ATurboPlugin, IdeogramV2Plugin
from plugins.builtin.procedural import ProceduralPlugin
from plugins.builtin.sd35 import SD35LargeTurboPlugin, SD35MediumPlugin


def test_the_procedural_plugin_keeps_the_whole_contract() -> None:
    check_plugin(ProceduralPlugin)


def test_the_dummy_distributions_plugin_keeps_the_whole_contract() -> None:
    check_plugin(DummyPlugin)
    check_plugin(DummyPlugin, config={"label": "tiles-v2"}, params={"shade": 0.5})


@pytest.mark.parametrize("plugin_class", [IdeogramV2Plugin, IdeogramV2ATurboPlugin])
def test_hosted_plugins_are_checked_without_the_network(plugin_class: Any) -> None:
    check_plugin(plugin_class, generate=False)


@pytest.mark.parametrize("plugin_class", [SD35MediumPlugin, SD35LargeTurboPlugin])
def test_weighted_plugins_are_checked_without_weights(plugin_class: Any) -> None:
    check_plugin(plugin_class, identity=False, generate=False)


class _Batching(DummyPlugin):
    id = "tiles-batching"
    capabilities = dataclasses.replace(DummyPlugin.capabilities, max_batch=4)


class _BatchTooShort(_Batching):
    id = "tiles-batch-short"

    def generate_batch(self, requests: Any, on_progress: Any, is_cancelled: Any) -> list[GenerationResult | None]:
        return super().generate_batch(requests, on_progress, is_cancelled)[:1]


class _BatchKeepsCancelled(_Batching):
    id = "tiles-batch-keeps"

    def generate_batch(self, requests: Any, on_progress: Any, is_cancelled: Any) -> list[GenerationResult | None]:
        return [self.generate(r, p, lambda: False) for r, p in zip(requests, on_progress, strict=True)]


def test_a_batching_plugin_keeps_the_batch_contract() -> None:
    check_plugin(_Batching)  # the SDK's default generate_batch
    with pytest.raises(AssertionError, match="generate_batch: did not return a list with one result per request"):
        check_plugin(_BatchTooShort)
    with pytest.raises(AssertionError, match="generate_batch: a cancelled request must give None"):
        check_plugin(_BatchKeepsCancelled)


def test_a_plugin_for_another_sdk_fails_the_check() -> None:
    with pytest.raises(AssertionError, match=r"plugin dummy-sdk-incompatible: compatibility: needs plugin SDK"):
        check_plugin(SdkIncompatiblePlugin)


class _Tiles(DummyPlugin):
    id = "tiles-under-test"


class _TooFew(_Tiles):
    def generate(self, request: Any, on_progress: Any, is_cancelled: Any) -> GenerationResult:
        result = super().generate(request, on_progress, is_cancelled)
        return GenerationResult(images=result.images[:1])


class _WrongSize(_Tiles):
    def generate(self, request: Any, on_progress: Any, is_cancelled: Any) -> GenerationResult:
        result = super().generate(request, on_progress, is_cancelled)
        for item in result.images:
            item.image = item.image.resize((request.width + 1, request.height))
        return result


class _Deaf(_Tiles):
    def generate(self, request: Any, on_progress: Any, is_cancelled: Any) -> GenerationResult:
        return super().generate(request, on_progress, lambda: False)


class _Silent(_Tiles):
    def generate(self, request: Any, on_progress: Any, is_cancelled: Any) -> GenerationResult:
        return super().generate(request, lambda step, total: None, is_cancelled)


class _Unfinished(_Tiles):
    def generate(self, request: Any, on_progress: Any, is_cancelled: Any) -> GenerationResult:
        if is_cancelled():
            raise Cancelled()
        on_progress(0, 3)
        image = GeneratedImage(Image.new("RGB", (request.width, request.height)), 1)
        return GenerationResult(images=[image] * request.num_images)


class _BadDefault(_Tiles):
    config_schema = {"label": ParamSpec("choice", default="neon", choices=("dusk", "sea"))}


class _NoFingerprint(_Tiles):
    def identity(self) -> ModelIdentity:
        return ModelIdentity("tiles", "1", "")


class _BadId(_Tiles):
    id = "Not An Id"


class _Crashes(_Tiles):
    def generate(self, request: Any, on_progress: Any, is_cancelled: Any) -> GenerationResult:
        raise RuntimeError("boom")


@pytest.mark.parametrize(
    ("plugin_class", "message"),
    [
        (_TooFew, "generate: returned 1 images for 2 requested"),
        (_WrongSize, "generate: image 0 is 17x16, not the requested 16x16"),
        (_Deaf, "cancellation: generate returned although is_cancelled() was true throughout"),
        (_Silent, "progress: generate never called on_progress"),
        (_Unfinished, "progress: ended at step 0 of 3"),
        (_BadDefault, "config_schema: the default of 'label' ('neon') must be one of dusk, sea."),
        (_NoFingerprint, "identity(): weights_fingerprint must be a non-empty string"),
        (_BadId, "declarations: id 'Not An Id' must be"),
        (_Crashes, "generate: raised RuntimeError on a small valid request: boom"),
    ],
)
def test_the_first_problem_is_named(plugin_class: Any, message: str) -> None:
    with pytest.raises(AssertionError) as failed:
        check_plugin(plugin_class)
    assert str(failed.value).startswith(f"plugin {plugin_class.id}: {message}"), str(failed.value)
