"""The latent cache: each image's final latents, kept so that refining it can skip the VAE encode.

A plugin that declares a ``latent_space`` (the SD3.5 plugins: ``sd3-vae-16ch``) returns each
image's final latents before decoding; the worker keeps them here as one safetensors file per
asset (``<dir>/<id[:2]>/<id>.safetensors``, the latent space in the file's metadata), written
with ``hallmark.files.atomic_write``. The store is bounded (``HALLMARK_LATENT_CACHE_MAX_MB``):
after each write the least recently used entries (oldest modification time; a hit touches its
entry) are removed until it fits. A refinement whose target plugin declares the same latent
space starts from the cached latents; a missing, foreign or corrupt entry is a miss, and the
plugin encodes the image instead, so the cache can be emptied at any time.

The cache is per host, on local disk (``HALLMARK_LATENT_CACHE_DIR``, default
``<HALLMARK_VAR_DIR>/latents``): latents are a speed-up, never evidence, and a worker on
another host simply misses (docs/deployment.md).
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from django.conf import settings

from hallmark.files import atomic_write

logger = logging.getLogger(__name__)

_SUFFIX = ".safetensors"
_TENSOR = "latents"


def cache_dir() -> Path:
    """Where the entries live: ``HALLMARK_LATENT_CACHE_DIR`` or ``<VAR_DIR>/latents``."""
    configured = settings.HALLMARK_LATENT_CACHE_DIR
    return Path(configured) if configured else Path(settings.VAR_DIR) / "latents"


def max_bytes() -> int:
    """The store's bound in bytes (0: the cache is off)."""
    return int(settings.HALLMARK_LATENT_CACHE_MAX_MB) * 1024 * 1024


def _path(asset_id: str) -> Path:
    name = str(asset_id)
    if not name.replace("-", "").isalnum():  # asset ids are UUIDs: never a path of its own
        raise ValueError(f"not an asset id: {name!r}")
    return cache_dir() / name[:2] / f"{name}{_SUFFIX}"


def put(asset_id: str, latents: Any, latent_space: str) -> bool:
    """Keep ``latents`` (a numpy array) for ``asset_id``; return whether they were written.

    Nothing is written when the cache is off, the space is unnamed, or safetensors is not
    installed. Evicts the least recently used entries past the bound afterwards.
    """
    bound = max_bytes()
    if bound <= 0 or not latent_space or latents is None:
        return False
    try:
        import numpy as np
        from safetensors.numpy import save
    except ImportError:
        return False
    array = np.ascontiguousarray(np.asarray(latents, dtype=np.float32))
    data = save({_TENSOR: array}, metadata={"latent_space": latent_space, "asset_id": str(asset_id)})
    if len(data) > bound:
        return False
    atomic_write(_path(asset_id), data, mode=0o600)
    evict(bound)
    return True


def get(asset_id: str, latent_space: str) -> Any:
    """The latents kept for ``asset_id`` when they are in ``latent_space``; None otherwise.

    A hit marks the entry as recently used. An unreadable entry is removed and counts as a miss.
    """
    if not latent_space or max_bytes() <= 0:
        return None
    path = _path(asset_id)
    if not path.exists():
        return None
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as handle:
            metadata = handle.metadata() or {}
            if metadata.get("latent_space") != latent_space or metadata.get("asset_id") != str(asset_id):
                return None
            latents = handle.get_tensor(_TENSOR)
    except ImportError:
        return None
    except Exception as exc:  # a truncated or foreign file: safetensors raises its own errors
        logger.warning("latent cache: entry for asset %s is unreadable (%s); removed", asset_id, exc)
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    with contextlib.suppress(OSError):
        os.utime(path)
    return latents


def evict(bound: int) -> list[str]:
    """Remove the least recently used entries until the store holds at most ``bound`` bytes;
    return the asset ids removed. Entries another process removed meanwhile are skipped."""
    entries: list[tuple[float, int, Path]] = []
    for path in cache_dir().glob(f"*/*{_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            stat = path.stat()
            entries.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in entries)
    removed: list[str] = []
    for _, size, path in sorted(entries, key=lambda entry: entry[0]):
        if total <= bound:
            break
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path.name.removesuffix(_SUFFIX))
        total -= size
    return removed
