"""Synthetic assets for benchmarks and demos (``manage.py make_synthetic_library``): a few
real image files, shared among many rows, and the rows loaded in bulk. One of
``Asset.WRITERS``.

Every synthetic row says so in ``provider_data`` (``{"synthetic": true}``), for whoever reads
it; the command tells real assets from synthetic ones by their jobs' queue, which no provider
can set (``generation.synthetic``).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, ImageDraw

from assets.models import Asset
from assets.services import render_thumbnail
from governance.provenance import safe_image
from hallmark.bulk import load_rows

SYNTHETIC_MARK = {"synthetic": True}


@dataclass(frozen=True)
class SharedFile:
    """One stored image that many synthetic rows point at (content addressed, like real ones)."""

    name: str
    thumbnail: str
    sha256: str
    pixel_sha256: str
    byte_size: int
    width: int
    height: int


def make_shared_files(sizes: Iterable[tuple[int, int]]) -> list[SharedFile]:
    """Write one gradient PNG (and its WebP thumbnail) per size and variant; return them."""
    files = []
    for variant, (width, height) in enumerate(sizes):
        image = Image.new("RGB", (width, height))
        draw = ImageDraw.Draw(image)
        for y in range(0, height, 8):
            shade = (variant * 37 + y * 255 // height) % 256
            draw.rectangle((0, y, width, y + 8), fill=(shade, (shade * 3 + variant * 50) % 256, 255 - shade))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        data = buffer.getvalue()
        sha256 = hashlib.sha256(data).hexdigest()
        name = f"assets/{sha256[:2]}/{sha256[2:4]}/{sha256}.png"
        thumbnail = f"thumbs/{sha256[:2]}/{sha256}.webp"
        if not default_storage.exists(name):
            default_storage.save(name, ContentFile(data))
        if not default_storage.exists(thumbnail):
            default_storage.save(thumbnail, ContentFile(render_thumbnail(image)))
        files.append(
            SharedFile(name, thumbnail, sha256, safe_image.pixel_sha256(image), len(data), width, height)
        )
    return files


def load_assets(rows: Iterable[dict[str, Any]]) -> int:
    """Insert synthetic asset rows (``{attname: value}``) in bulk; return how many."""
    return load_rows(Asset, ({**row, "provider_data": SYNTHETIC_MARK} for row in rows))
