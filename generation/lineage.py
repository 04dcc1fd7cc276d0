"""The worker side of a promoted job: what it derives from, and what it leaves for the next one.

A job made by ``generation.promote`` names a source asset (``GenerationJob.source_asset``) and a
derivation. Before generating, the runner loads the source's stored file through the storage
API, checked against its recorded sha256 (``assets.verification.read_verified_file``); a
refinement gets it as ``init_image`` with its ``strength``, and, when the target plugin declares
the latent space the source's cached latents are in, those as ``init_latents``
(``generation.latent_cache``). Every derived image's manifest names the source as its
``parentOf`` ingredient. After a job's assets are committed, the latents its plugin returned
are kept in the latent cache under each new asset's id.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from assets.models import Asset
from assets.verification import StoredFileUnusable, read_verified_file
from generation import latent_cache
from generation.models import Derivation, GenerationJob
from governance.provenance.safe_image import open_image_safely
from governance.provenance.stamping import ParentIngredient
from hallmark.sdk import GeneratedImage, GenerationRequest, Plugin, PluginError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """A promoted job's source asset as read for this run: its verified bytes and how it is used."""

    asset_id: str
    data: bytes
    mime_type: str
    derivation: str
    strength: float | None

    def ingredient(self) -> ParentIngredient:
        """The source as its derived images' manifests name it."""
        return ParentIngredient(
            asset_id=self.asset_id,
            data=self.data,
            mime_type=self.mime_type,
            derivation=self.derivation,
            strength=self.strength,
        )


def load_source(job: GenerationJob) -> Source | None:
    """The job's source asset, read and verified; None for an ordinary job.

    Raises ``PluginError`` (code ``source_unavailable``) when the job derives from an asset
    whose row or file is gone or whose file no longer matches its record: a derived image is
    never made from, or credited to, bytes Hallmark cannot vouch for.
    """
    if not job.derivation:
        return None
    asset = Asset.objects.filter(pk=job.source_asset_id).first() if job.source_asset_id else None
    if asset is None:
        raise PluginError("The asset this job derives from no longer exists.", code="source_unavailable")
    try:
        data = read_verified_file(asset)
    except StoredFileUnusable as exc:
        raise PluginError(str(exc), code="source_unavailable") from None
    return Source(str(asset.pk), data, asset.mime_type, job.derivation, job.strength)


def with_source(request: GenerationRequest, source: Source | None, plugin: Plugin) -> GenerationRequest:
    """``request`` with what a refinement starts from: the source image, its strength, and the
    cached latents when the plugin declares the latent space they are in (None otherwise)."""
    if source is None or source.derivation != Derivation.REFINE:
        return request
    # Our own stored file, verified, but still decoded as carefully as an upload.
    image = open_image_safely(source.data)
    latents = latent_cache.get(source.asset_id, plugin.capabilities.latent_space)
    return dataclasses.replace(
        request, init_image=image.convert("RGB"), strength=source.strength, init_latents=latents
    )


def derive_request(
    job: GenerationJob, request: GenerationRequest, plugin: Plugin
) -> tuple[GenerationRequest, Source | None]:
    """``request`` as the plugin receives it for ``job`` (``with_source``), and the job's source."""
    source = load_source(job)
    return with_source(request, source, plugin), source


def keep_latents(asset_ids: Sequence[str], images: Sequence[GeneratedImage], latent_space: str) -> None:
    """Keep each image's latents under its new asset's id (after the assets are committed).

    A failure to write is logged, never raised: the cache is a speed-up and the job is done.
    """
    if not latent_space:
        return
    for asset_id, generated in zip(asset_ids, images, strict=True):
        latents: Any = generated.latents
        if latents is None:
            continue
        try:
            latent_cache.put(asset_id, latents, latent_space)
        except (OSError, ValueError) as exc:
            logger.warning("latent cache: could not keep the latents of asset %s (%s)", asset_id, exc)
