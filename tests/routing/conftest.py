"""Fixtures for routing tests: a small priced plugin that fails on demand, and policies."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest
from django.contrib.auth.models import User
from PIL import Image

from hallmark.sdk import (
    CancelCheck,
    Capabilities,
    CostModel,
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    License,
    ModelIdentity,
    Plugin,
    PluginError,
    ProgressCallback,
    SizeRange,
)
from plugins import registry
from routing import policies
from routing.models import RoutingPolicy


class FlakyPlugin(Plugin):
    """Grey tiles at $0.02 an image, as a hosted model would charge; ``failing`` makes every
    job fail as a provider outage would."""

    id = "flaky"
    name = "Flaky tiles (test)"
    version = "1.0.0"
    hallmark_compat = ">=0.1,<1"
    is_ai_model = False
    license = License(spdx_id="CC0-1.0", name="CC0 1.0")
    capabilities = Capabilities(
        sizes=SizeRange(16, 256, multiple_of=16, default=64),
        max_images=2,
        fidelity="final",
        cost=CostModel(per_image=0.02, currency="USD", basis="per_image"),
    )
    failing: ClassVar[bool] = False

    def identity(self) -> ModelIdentity:
        """A fixed identity."""
        return ModelIdentity("flaky-tiles", "1.0.0", "sha256:" + hashlib.sha256(b"flaky").hexdigest())

    def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback, is_cancelled: CancelCheck
    ) -> GenerationResult:
        """One grey tile per image, or a provider failure while ``failing``."""
        if type(self).failing:
            raise PluginError("The test provider is down.", retryable=True, code="provider_unavailable")
        images = [
            GeneratedImage(
                Image.new("RGB", (request.width, request.height), (128, 128, 128)), request.seed + i
            )
            for i in range(request.num_images)
        ]
        on_progress(1, 1)
        return GenerationResult(images=images, cost=0.02 * request.num_images, currency="USD")


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch, enable_plugin: Callable[..., None]) -> Iterator[type[FlakyPlugin]]:
    """The flaky plugin, installed (in this process's registry) and enabled, not failing."""
    entries = registry.discover()
    monkeypatch.setattr(
        registry,
        "_entries",
        {**entries, "flaky": registry.PluginEntry("flaky", FlakyPlugin, "", "tests", "1.0.0")},
    )
    FlakyPlugin.failing = False
    enable_plugin("flaky")
    yield FlakyPlugin
    FlakyPlugin.failing = False


@pytest.fixture
def make_policy(users: dict[str, User]) -> Callable[..., RoutingPolicy]:
    """``make_policy(name, draft=[...], final=[...], **fields)``: a policy made as an admin would."""

    def make(
        name: str, *, draft: list[str] | None = None, final: list[str] | None = None, **fields: Any
    ) -> RoutingPolicy:
        tiers = {tier: ids for tier, ids in (("draft", draft), ("final", final)) if ids}
        return policies.create_policy({"name": name, "tiers": tiers, **fields}, acting_user=users["admin"])

    return make
