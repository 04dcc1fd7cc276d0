"""Reading text back from an image (RapidOCR on ONNX Runtime) and scoring it against the text
a request expected.

``rapidocr-onnxruntime`` ships its detection, classification and recognition models inside
its wheel, so nothing is downloaded at run time. The engine takes about a second to load, so
each worker process loads it once (``engine``) and keeps it.
"""

from __future__ import annotations

import functools
import threading
import unicodedata
from typing import Any

import numpy as np
from PIL import Image

from governance.provenance.safe_image import ImageRefused, open_image_safely

# ONNX Runtime sessions may be shared between threads, but RapidOCR keeps per-call state on
# its objects: one call at a time per process (a checks worker runs one task at a time anyway).
_engine_lock = threading.Lock()


class UnreadableImage(Exception):
    """The stored file could not be read or decoded for OCR (the message says why)."""


@functools.cache
def engine() -> Any:
    """This process's OCR engine, loaded on first use from the models inside the package."""
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR()


def read_text(image: Image.Image) -> str:
    """The text OCR finds in ``image``, lines in reading order (top to bottom, then left to right)."""
    rgb = np.asarray(image.convert("RGB"))
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])  # OpenCV's channel order, which RapidOCR expects
    with _engine_lock:
        found, _ = engine()(bgr)
    if not found:
        return ""
    # Each item is [box (4 corner points), text, confidence]; sort by the box's top-left corner,
    # rows first, so that a multi-line sign reads as written.
    height = max(1, image.height)
    row = max(1.0, height / 40)
    items = sorted(found, key=lambda item: (round(float(item[0][0][1]) / row), float(item[0][0][0])))
    return " ".join(str(item[1]) for item in items).strip()


def read_asset_text(asset: Any) -> str:
    """The text in an asset's stored file; raises ``UnreadableImage`` when it cannot be read."""
    name = str(asset.file.name)
    try:
        with asset.file.storage.open(name, "rb") as handle:
            data = handle.read()
        image = open_image_safely(data)
    except (OSError, ValueError, ImageRefused) as exc:
        raise UnreadableImage(
            f"The stored file {name} could not be read for OCR ({type(exc).__name__})."
        ) from None
    return read_text(image)


def normalise(text: str) -> str:
    """Text as typography is compared: Unicode NFKC, case folded, all whitespace removed (OCR
    splits and joins words unpredictably; spacing is not what a typography check is about)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(folded.split())


def edit_distance(expected: str, read: str, *, free_ends: bool = False) -> int:
    """Levenshtein distance (insertions, deletions, substitutions) of ``expected`` to ``read``;
    with ``free_ends``, to the span of ``read`` that matches it best."""
    previous = [0] * (len(read) + 1) if free_ends else list(range(len(read) + 1))
    for i, want in enumerate(expected, start=1):
        current = [i]
        for j, got in enumerate(read, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (want != got)))
        previous = current
    return min(previous) if free_ends else previous[-1]


def character_accuracy(expected: str, read: str) -> float:
    """``1 - levenshtein(expected, span) / len(expected)`` over normalised texts, in 0..1, where
    ``span`` is the part of the read text that matches the expected text best.

    Other text in the picture (a poster's small print, or a generator that sets the whole
    prompt) does not count against it; every expected character missing, wrong or extra inside
    the span does. An image with no text scores 0; an empty expected text scores 1.
    """
    want, got = normalise(expected), normalise(read)
    if not want:
        return 1.0
    return max(0.0, 1.0 - edit_distance(want, got, free_ends=True) / len(want))
