"""What a plugin made for a job, as the worker hands it from generating to storing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generation.lineage import Source
from hallmark.sdk import GenerationResult


@dataclass(frozen=True)
class Generated:
    """What a plugin made for a job, and what the stored assets must say about it.

    ``identity`` is the model identity (``ModelIdentity.as_dict()``) and ``license`` the
    plugin's licence (``License.as_dict()``) when it generated; ``is_ai_model`` decides the
    digital source type written into each file.
    """

    result: GenerationResult
    identity: dict[str, Any]
    license: dict[str, Any]
    is_ai_model: bool
    watermark: bool = False
    """Embed the invisible watermark (``assets.soft_binding.should_watermark``)."""
    # A promoted job's source (each manifest's parentOf ingredient); the latent cache's space.
    source: Source | None = None
    latent_space: str = ""
