"""A small, complete Hallmark plugin: solid colour tiles whose colour comes from the seed.

It is installed into the test environment as its own distribution and discovered through
its ``hallmark.plugins`` entry point, exactly as a third-party plugin would be.
"""

from __future__ import annotations

import hashlib
import random

from PIL import Image

from hallmark.sdk import (
    CancelCheck,
    Cancelled,
    Capabilities,
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    Health,
    License,
    ModelIdentity,
    ParamSpec,
    Plugin,
    ProgressCallback,
    RequestInvalid,
    SizeRange,
)

__version__ = "1.2.0"


class DummyPlugin(Plugin):
    """Solid colour tiles; ``params.shade`` darkens them. Refuses the word 'forbidden'."""

    id = "dummy"
    name = "Dummy tiles"
    version = __version__
    hallmark_compat = ">=0.1,<1"
    sdk_compat = ">=1.1,<2"  # imports hallmark.sdk, which SDK 1.1 introduced
    description = "Test plugin: solid colour tiles chosen by the seed."
    is_ai_model = False
    license = License(
        spdx_id="CC0-1.0", name="CC0 1.0", url="https://creativecommons.org/publicdomain/zero/1.0/"
    )
    capabilities = Capabilities(
        sizes=SizeRange(16, 256, multiple_of=16, default=64),
        max_images=2,
        negative_prompt=False,
        negative_prompt_note="Dummy tiles have nothing to leave out.",
    )
    params_schema = {"shade": ParamSpec("float", default=1.0, minimum=0.0, maximum=1.0)}
    config_schema = {"label": ParamSpec("str", default="dummy", max_length=40)}

    def identity(self) -> ModelIdentity:
        """A fixed version; the fingerprint covers the configured label."""
        digest = hashlib.sha256(f"dummy:{self.config['label']}".encode()).hexdigest()
        return ModelIdentity("dummy-tiles", __version__, f"sha256:{digest}", {"pillow": Image.__version__})

    def validate(self, request: GenerationRequest) -> None:
        """Refuse prompts containing 'forbidden' (to test plugin-specific validation)."""
        if "forbidden" in request.prompt.lower():
            raise RequestInvalid({"prompt": ["The dummy plugin refuses the word 'forbidden'."]})

    def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback, is_cancelled: CancelCheck
    ) -> GenerationResult:
        """One tile per image; one progress step per image."""
        images = []
        for index in range(request.num_images):
            if is_cancelled():
                raise Cancelled()
            rng = random.Random(request.seed + index)
            shade = float(request.params["shade"])
            colour = tuple(int(rng.randrange(256) * shade) for _ in range(3))
            images.append(
                GeneratedImage(
                    Image.new("RGB", (request.width, request.height), colour),
                    request.seed + index,
                    parameters={"steps": 1, "sampler": "tile"},
                )
            )
            on_progress(index + 1, request.num_images)
        return GenerationResult(images=images)

    def health(self) -> Health:
        """Always green."""
        return Health("green", "tiles are always ready")


class IncompatiblePlugin(DummyPlugin):
    """Declares a Hallmark version range this Hallmark does not satisfy."""

    id = "dummy-incompatible"
    hallmark_compat = ">=99"


class SdkIncompatiblePlugin(DummyPlugin):
    """Declares a plugin SDK version range this Hallmark does not provide."""

    id = "dummy-sdk-incompatible"
    sdk_compat = ">=2,<3"
