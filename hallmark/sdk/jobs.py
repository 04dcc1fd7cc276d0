"""What a plugin receives for one job, and what it returns.

``generate(request, on_progress, is_cancelled)`` gets a validated ``GenerationRequest`` and two
callbacks, and returns a ``GenerationResult`` holding one ``GeneratedImage`` per image asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

ProgressCallback = Callable[[int, int], None]
"""``on_progress(step, total)``: the plugin reports how far it is. Cheap to call every step."""

CancelCheck = Callable[[], bool]
"""``is_cancelled()``: True once the job was cancelled; the plugin stops and raises ``Cancelled``."""


@dataclass(frozen=True)
class GenerationRequest:
    """A validated request, as a plugin receives it. ``params`` has every declared default filled.

    A refinement (SDK 1.2, only for plugins declaring ``Capabilities.refine``) also carries
    ``init_image``, the image to redraw (already verified against its recorded hash), and
    ``strength`` (0 < strength <= 1: how much of it is redrawn; 1 redraws it from noise).
    ``init_latents``, when set, are that image's final latents in the plugin's
    declared ``latent_space`` (a float32 numpy array, batch first): a plugin may start from them
    and skip encoding ``init_image``, which is always given as well.
    """

    prompt: str
    negative_prompt: str
    width: int
    height: int
    seed: int
    num_images: int
    params: Mapping[str, Any]
    job_id: str = ""
    aspect_ratio: str | None = None
    init_image: Image.Image | None = None
    strength: float | None = None
    init_latents: Any = None

    @property
    def is_refinement(self) -> bool:
        """Whether this request redraws ``init_image`` (image-to-image) rather than starting afresh."""
        return self.init_image is not None


@dataclass
class GeneratedImage:
    """One image a plugin made.

    ``seed`` is the seed that reproduces this image. ``parameters`` feeds the A1111-style
    ``parameters`` text (steps, sampler, guidance, ...). ``provider`` holds what a hosted model
    reported (its rewritten prompt, resolution); it is kept on the asset beside the user's own.
    ``latents`` (SDK 1.2, plugins declaring a ``latent_space``): the image's final latents before
    decoding, as a float32 numpy array; Hallmark keeps them in its latent cache for refinements.
    """

    image: Image.Image
    seed: int
    parameters: dict[str, Any] = field(default_factory=dict)
    provider: dict[str, Any] = field(default_factory=dict)
    latents: Any = None


@dataclass
class GenerationResult:
    """What ``generate`` returns: the images and, for priced models, what they cost."""

    images: list[GeneratedImage]
    cost: float | None = None
    currency: str = "USD"


