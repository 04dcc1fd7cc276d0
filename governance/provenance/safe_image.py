"""Opening untrusted image bytes safely, and hashing what they decode to.

``open_image_safely`` decodes only PNG, JPEG and WebP and refuses decompression bombs before a
pixel is decoded (``ImageRefused``). ``pixel_sha256`` hashes decoded pixels: it survives
metadata changes, so a file whose metadata was stripped or rewritten is still recognised.
"""

from __future__ import annotations

import hashlib
import io
import warnings

from django.conf import settings
from PIL import Image, UnidentifiedImageError


class ImageRefused(ValueError):
    """Bytes that are not an image Hallmark will decode (not an image, another format, or too
    many pixels)."""


# The only formats decoded from untrusted bytes: what Hallmark stores (PNG) and what C2PA and
# the verify endpoint are for. Pillow would otherwise try each of its ~40 parsers in turn
# (PSD, TIFF, EPS, ...), each an attack surface of its own.
UNTRUSTED_IMAGE_FORMATS = ("PNG", "JPEG", "WEBP")


def open_image_safely(data: bytes, *, max_pixels: int | None = None) -> Image.Image:
    """Open and fully decode ``data`` as a PNG, JPEG or WebP image, refusing decompression bombs.

    Pillow is asked for those three parsers only (``UNTRUSTED_IMAGE_FORMATS``): any other format
    is refused before a parser for it runs. The declared size is checked against
    ``HALLMARK_MAX_IMAGE_PIXELS`` before any pixel is decoded, so a small file that declares a
    huge canvas costs nothing; ``max_pixels`` lowers that limit (a batch's remaining allowance).
    Raises ``ImageRefused``.
    """
    limit = int(settings.HALLMARK_MAX_IMAGE_PIXELS)
    if max_pixels is not None:
        limit = min(limit, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            try:
                image = Image.open(io.BytesIO(data), formats=UNTRUSTED_IMAGE_FORMATS)
            except UnidentifiedImageError:
                raise ImageRefused("Not a PNG, JPEG or WebP image (the only formats accepted).") from None
            if image.width * image.height > limit:
                raise ImageRefused(
                    f"The image declares {image.width}x{image.height} pixels, more than the "
                    f"{limit} allowed (possible decompression bomb)."
                )
            image.load()
    except ImageRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRefused(
            "The image declares more pixels than allowed (possible decompression bomb)."
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageRefused(f"Not a readable image ({type(exc).__name__}).") from None
    return image


def decoded_pixel_sha256(data: bytes) -> str | None:
    """``pixel_sha256`` of the image in ``data``, or None when it cannot or may not be decoded."""
    try:
        return pixel_sha256(open_image_safely(data))
    except ImageRefused:
        return None


def pixel_sha256(image: Image.Image) -> str:
    """sha256 of the decoded pixels (mode, size and raw bytes): survives metadata changes."""
    digest = hashlib.sha256()
    digest.update(f"{image.mode}:{image.width}x{image.height}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()

