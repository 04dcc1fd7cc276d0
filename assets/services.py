"""Creates assets and their files; with ``assets.review`` (review status, legal hold, deletion)
the only writers of ``Asset`` (``Asset.WRITERS``).

Storing a job's images happens in three moves that ``generation.storing`` orchestrates:
``prepare`` (encode, stamp, hash: CPU only, no writes), ``write_files`` (content-addressed,
atomic), then ``create_assets_of_jobs`` inside the transaction that also finishes the job
(or several jobs: ``generation.storing`` commits the jobs waiting for a worker together).
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from assets.models import Asset
from governance.audit_trail import PendingEvent, record_events
from governance.provenance import prompt_digest, safe_image, soft_binding, stamping

# Types only: assets sits below generation and beside plugins (the import-linter contracts in
# pyproject.toml), so neither is imported at run time.
if TYPE_CHECKING:
    from generation.models import GenerationJob
    from hallmark.sdk import GeneratedImage

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


@dataclass(frozen=True)
class PreparedAsset:
    """One image ready to store: its final bytes and everything its row will hold."""

    asset_id: uuid.UUID
    index_in_job: int
    data: bytes
    mime_type: str
    sha256: str
    pixel_sha256: str
    fingerprint: str
    watermark: str
    width: int
    height: int
    seed: int
    parameters: dict[str, Any]
    provider_data: dict[str, Any]

    thumbnail: bytes = b""

    @property
    def storage_name(self) -> str:
        ext = _EXTENSIONS.get(self.mime_type, "bin")
        return f"assets/{self.sha256[:2]}/{self.sha256[2:4]}/{self.sha256}.{ext}"

    @property
    def thumbnail_name(self) -> str:
        # Named after the original, which is unique per asset (its manifest names the asset):
        # two assets with the same pixels must not share a rendition that one of them may delete.
        return f"thumbs/{self.sha256[:2]}/{self.sha256}.webp"

    @property
    def file_names(self) -> list[str]:
        """Every file this asset writes: the original and its thumbnail."""
        return [self.storage_name, self.thumbnail_name]


THUMBNAIL_SIZE = 256


def watermark_payload(asset_id: uuid.UUID) -> bytes:
    """The 64 bits a watermark carries for an asset: the first 8 bytes of its (random) id."""
    return asset_id.bytes[: soft_binding.WATERMARK_BYTES]


def render_thumbnail(image: Image.Image) -> bytes:
    """A WebP rendition at most ``THUMBNAIL_SIZE`` px on its longer side, for grids (~20 ms)."""
    rendition = image.convert("RGB")
    rendition.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    rendition.save(buffer, format="WEBP", quality=80, method=4)
    return buffer.getvalue()


def prepare(
    job: GenerationJob,
    images: list[GeneratedImage],
    *,
    identity: dict[str, Any],
    license: dict[str, Any],
    is_ai_model: bool,
    watermark: bool = False,
    parent: stamping.ParentIngredient | None = None,
) -> list[PreparedAsset]:
    """Encode and stamp each image with its provenance, and hash the final bytes.

    ``parent`` (a promoted job's source asset) goes into each manifest as its parentOf ingredient.

    With ``watermark`` the pixels first get the invisible watermark naming the asset; the
    fingerprint and ``pixel_sha256`` are of the pixels stored, and the manifest declares both
    soft bindings (signed last, over the marked pixels).
    """
    prepared = []
    created_at = timezone.now()
    for index, generated in enumerate(images):
        asset_id = uuid.uuid4()
        image = generated.image
        payload = ""
        if watermark:
            marked = soft_binding.embed_watermark(image, watermark_payload(asset_id))
            if marked is not image:
                image, payload = marked, watermark_payload(asset_id).hex()
        fingerprint, _quality = soft_binding.fingerprint(image)
        context = stamping.ProvenanceContext(
            asset_id=str(asset_id),
            job_id=str(job.id),
            plugin_id=job.plugin_id,
            plugin_version=job.plugin_version,
            is_ai_model=is_ai_model,
            identity=identity,
            license=license,
            prompt=job.prompt,
            negative_prompt=job.negative_prompt,
            seed=generated.seed,
            width=image.width,
            height=image.height,
            created_at=created_at,
            requested_by=job.requested_by.get_username(),
            parameters=generated.parameters,
            fingerprint=fingerprint,
            watermark=payload,
            parent=parent,
        )
        data, mime_type = stamping.stamp(image, context)
        prepared.append(
            PreparedAsset(
                asset_id=asset_id,
                index_in_job=index,
                data=data,
                mime_type=mime_type,
                sha256=hashlib.sha256(data).hexdigest(),
                pixel_sha256=safe_image.pixel_sha256(image),
                fingerprint=fingerprint,
                watermark=payload,
                width=image.width,
                height=image.height,
                seed=generated.seed,
                parameters=generated.parameters,
                provider_data=generated.provider,
                thumbnail=render_thumbnail(image),
            )
        )
    return prepared


def write_files(prepared: list[PreparedAsset]) -> None:
    """Write each file under its content address; an existing name already holds these bytes.

    The files are written side by side, each durably (fsync of the file, then of its folder):
    the disk waits overlap (the filesystem's journal commits them together), so two files
    cost about one fsync's wait instead of two.
    """
    files = [
        (name, data)
        for item in prepared
        for name, data in ((item.storage_name, item.data), (item.thumbnail_name, item.thumbnail))
    ]
    if len(files) == 1:
        _write_one(*files[0])
        return
    futures = [_writers().submit(_write_one, name, data) for name, data in files]
    # Every write has ended before the first failure is raised: none is left running.
    wait(futures)
    for future in futures:
        future.result()


@functools.cache
def _writers() -> ThreadPoolExecutor:
    # Kept for the process: a storage thread writes a group's files every few milliseconds.
    return ThreadPoolExecutor(max_workers=8, thread_name_prefix="hallmark-write")


# A forked child inherits the pool without its threads, and its writes would wait for ever:
# it makes its own.
os.register_at_fork(after_in_child=_writers.cache_clear)


def _write_one(name: str, data: bytes) -> None:
    if not default_storage.exists(name):
        default_storage.save(name, ContentFile(data))


def discard_files(names: list[str]) -> list[str]:
    """Delete files no asset refers to (left by a crashed attempt); return those deleted."""
    referenced = set(Asset.objects.filter(file__in=names).values_list("file", flat=True))
    referenced |= set(Asset.objects.filter(thumbnail__in=names).values_list("thumbnail", flat=True))
    deleted = []
    for name in names:
        if name not in referenced and default_storage.exists(name):
            default_storage.delete(name)
            deleted.append(name)
    return deleted


@dataclass(frozen=True)
class JobAssets:
    """One job's prepared images as ``create_assets_of_jobs`` commits them, with the events
    recorded after its assets' (``then``: the job's own)."""

    job: GenerationJob
    prepared: list[PreparedAsset]
    identity: dict[str, Any]
    license: dict[str, Any]
    then: Sequence[PendingEvent] = ()


def create_assets_of_jobs(entries: Sequence[JobAssets]) -> list[Asset]:
    """Create the asset rows of one or more jobs (one insert) and their ``asset.created``
    audit events, each job's followed by its ``then`` (the job's own), all appended with one
    lock of the chain head.

    Must run inside the transaction that marks the jobs succeeded, with their rows locked;
    the events come last in it, so that the chain head is held for the shortest time.
    """
    assets: list[Asset] = []
    events: list[PendingEvent] = []
    for entry in entries:
        rows = [_asset_row(entry, item) for item in entry.prepared]
        assets.extend(rows)
        events.extend(
            _created_event(entry, asset, item) for asset, item in zip(rows, entry.prepared, strict=True)
        )
        events.extend(entry.then)
    Asset.objects.bulk_create(assets)
    record_events(events)
    return assets


def _asset_row(entry: JobAssets, item: PreparedAsset) -> Asset:
    job = entry.job
    return Asset(
        id=item.asset_id,
        job=job,
        index_in_job=item.index_in_job,
        file=item.storage_name,
        thumbnail=item.thumbnail_name,
        sha256=item.sha256,
        pixel_sha256=item.pixel_sha256,
        fingerprint=item.fingerprint,
        watermark=item.watermark,
        byte_size=len(item.data),
        mime_type=item.mime_type,
        width=item.width,
        height=item.height,
        prompt=job.prompt,
        negative_prompt=job.negative_prompt,
        seed=item.seed,
        params={**job.params, **{k: v for k, v in item.parameters.items() if k not in job.params}},
        provider_data=item.provider_data,
        plugin_id=job.plugin_id,
        plugin_version=job.plugin_version,
        model_identity=entry.identity,
        license=entry.license,
        created_by_id=job.requested_by_id,
        parent_id=job.source_asset_id,
    )


def _created_event(entry: JobAssets, asset: Asset, item: PreparedAsset) -> PendingEvent:
    job = entry.job
    return PendingEvent(
        "asset.created",
        target=asset,
        system_actor="worker",
        data={
            "job_id": str(job.id),
            "requested_by": job.requested_by.get_username(),
            "sha256": item.sha256,
            "pixel_sha256": item.pixel_sha256,
            "fingerprint": item.fingerprint,
            "watermark": item.watermark,
            "plugin": {"id": job.plugin_id, "version": job.plugin_version},
            "model": entry.identity,
            "license": entry.license,
            "seed": item.seed,
            **({"parent": str(job.source_asset_id)} if job.source_asset_id else {}),
            # Audit exports and evidence packs leave the building: the same rule as the
            # manifest (an HMAC, not a plain sha256, when prompts are withheld).
            **prompt_digest.prompt_digest(job.prompt),
        },
    )
