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
    """A validated request, as a plugin receives it. ``params`` has every declared default filled."""

    prompt: str
    negative_prompt: str
    width: int
    height: int
    seed: int
    num_images: int
    params: Mapping[str, Any]
    job_id: str = ""
    aspect_ratio: str | None = None


@dataclass
class GeneratedImage:
    """One image a plugin made.

    ``seed`` is the seed that reproduces this image. ``parameters`` feeds the A1111-style
    ``parameters`` text (steps, sampler, guidance, ...). ``provider`` holds what a hosted model
    reported (its rewritten prompt, resolution); it is kept on the asset beside the user's own.
    """

    image: Image.Image
    seed: int
    parameters: dict[str, Any] = field(default_factory=dict)
    provider: dict[str, Any] = field(default_factory=dict)


@dataclass
class GenerationResult:
    """What ``generate`` returns: the images and, for priced models, what they cost."""

    images: list[GeneratedImage]
    cost: float | None = None
    currency: str = "USD"


