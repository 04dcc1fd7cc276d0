"""Soft bindings: what ties an image to its record once its metadata and bytes are gone.

Two kinds (docs/provenance.md, "Soft binding"):

- ``fingerprint``: PDQ, the 256-bit perceptual hash used across the industry to match copies
  of an image. It is computed from the decoded pixels, survives re-encoding and resizing, and
  is compared by Hamming distance (0 to 256).
- ``embed_watermark`` / ``read_watermark``: an invisible DWT-DCT watermark
  (``invisible-watermark``, no model weights) carrying a 64-bit payload that names the asset.

``assertions`` declares both in the C2PA manifest as ``c2pa.soft-binding`` assertions, so any
C2PA reader sees how to look the asset up. This module knows no asset: ``assets.soft_binding``
stores and searches what it computes.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
from PIL import Image

#: Names of the two algorithms in the manifest's soft-binding assertions. C2PA lets an
#: implementer name its own algorithms (reverse domain); these say exactly what was computed.
FINGERPRINT_ALGORITHM = "org.hallmark.pdq"
WATERMARK_ALGORITHM = "org.hallmark.imwatermark.dwtdct.64"
SOFT_BINDING_LABEL = "c2pa.soft-binding"

WATERMARK_BYTES = 8
# The DWT-DCT coder needs room for its 4x4 blocks in the half-resolution band of each channel:
# below this size there is too little to carry 64 bits reliably.
WATERMARK_MIN_SIDE = 256


# PDQ reduces every image to 64x64 before hashing: an upload of up to HALLMARK_MAX_IMAGE_PIXELS
# (40 M by default) is first brought down to this side, so that hashing costs little memory
# and the same for every caller (stored images get the same treatment, so hashes agree).
_FINGERPRINT_MAX_SIDE = 1024
# Reading a watermark costs CPU in proportion to the pixels (about 0.2 s per megapixel here; a
# flat 4096² PNG of 58 KB took 11 s), and any signed-in user may upload. The mark lives in the
# pixels at the size Hallmark stored them, and DWT-DCT does not survive resizing, so larger
# images are not read at all rather than reduced: 1536² is the largest an AI plugin shipped here
# makes. A lossless copy of a larger stored image is still found by its fingerprint (distance 0).
WATERMARK_MAX_PIXELS = 1536 * 1536


def may_read_watermark(image: Image.Image) -> bool:
    """Whether ``image`` is of a size a watermark is read from (``WATERMARK_MIN_SIDE`` to
    ``WATERMARK_MAX_PIXELS``): the decoding work per image is bounded."""
    return min(image.width, image.height) >= WATERMARK_MIN_SIDE and image.width * image.height <= WATERMARK_MAX_PIXELS


def _rgb_array(image: Image.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def _for_fingerprint(image: Image.Image) -> np.ndarray:
    if max(image.size) > _FINGERPRINT_MAX_SIDE:
        image = image.convert("RGB")
        image.thumbnail((_FINGERPRINT_MAX_SIDE, _FINGERPRINT_MAX_SIDE), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return _rgb_array(image)


def fingerprint(image: Image.Image) -> tuple[str, int]:
    """PDQ hash of ``image``'s decoded pixels as 64 hex digits, and PDQ's quality (0-100).

    PDQ advises that a quality under 50 means an image with little structure (flat colours),
    whose hash is less reliable; bench/bench_soft_binding.py counts such images.
    """
    import pdqhash  # a C++ extension: loaded when first needed, not by every Django import

    bits, quality = pdqhash.compute(_for_fingerprint(image))
    packed = np.packbits(np.asarray(bits, dtype=np.uint8))
    return packed.tobytes().hex(), int(quality)


def fingerprint_variants(image: Image.Image) -> list[str]:
    """PDQ hashes of ``image`` and of its seven flips and quarter turns, as hex.

    A lookup searches all eight, so a mirrored or rotated copy is found by the fingerprint of
    the original (PDQ computes them from one DCT, at little more than the cost of one).
    """
    import pdqhash

    hashes, _quality = pdqhash.compute_dihedral(_for_fingerprint(image))
    return [np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex() for bits in hashes]


# The coder of ``invisible-watermark``'s ``dwtDct`` method: quantisation of the largest
# coefficient of each 4x4 block of the Haar DWT's approximation band of the U (chroma) plane,
# with its default step. Its own ``encode`` writes the float result back into the uint8 YUV
# array (values wrap around) and swaps two detail bands on the way back, which flips bits on
# lossless copies and blurs chroma; the wrapper below keeps its coder and does the colour and
# wavelet steps in floating point.
_WATERMARK_SCALE = 36
_WATERMARK_CHANNEL = 1  # U in OpenCV's YUV


def _coder(payload: bytes = b"") -> Any:
    from imwatermark.maxDct import EmbedMaxDct  # imports OpenCV: only where watermarks are used

    bits = list(np.unpackbits(np.frombuffer(payload, dtype=np.uint8))) if payload else []
    scales = [0, 0, 0]
    scales[_WATERMARK_CHANNEL] = _WATERMARK_SCALE
    return EmbedMaxDct(bits, wmLen=WATERMARK_BYTES * 8, scales=scales, block=4)


def _yuv_plane(rgb: np.ndarray) -> tuple[np.ndarray, int, int]:
    import cv2

    yuv = cv2.cvtColor(rgb.astype(np.float32), cv2.COLOR_RGB2YUV)
    rows, cols = rgb.shape[0] // 4 * 4, rgb.shape[1] // 4 * 4
    return yuv, rows, cols


def embed_watermark(image: Image.Image, payload: bytes) -> Image.Image:
    """``image`` with ``payload`` (8 bytes) embedded as an invisible DWT-DCT watermark.

    The image is returned unchanged (the same object) when it is too small to carry it.
    """
    if len(payload) != WATERMARK_BYTES:
        raise ValueError(f"A watermark payload is {WATERMARK_BYTES} bytes, not {len(payload)}.")
    if min(image.width, image.height) < WATERMARK_MIN_SIDE:
        return image
    import cv2
    import pywt

    yuv, rows, cols = _yuv_plane(_rgb_array(image))
    approx, details = pywt.dwt2(yuv[:rows, :cols, _WATERMARK_CHANNEL], "haar")
    _coder(payload).encode_frame(approx, _WATERMARK_SCALE)
    yuv[:rows, :cols, _WATERMARK_CHANNEL] = pywt.idwt2((approx, details), "haar")
    rgb = np.clip(np.rint(cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB)), 0, 255).astype(np.uint8)
    result = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    if image.mode == "RGBA":
        result.putalpha(image.getchannel("A"))
    return result


def read_watermark(image: Image.Image) -> bytes | None:
    """The 8-byte payload the DWT-DCT decoder reads from ``image``, or None when it is too small
    or larger than ``WATERMARK_MAX_PIXELS``.

    The decoder always answers something: on an image without a watermark the bits are noise,
    so a payload means something only when it equals one Hallmark recorded.
    """
    if not may_read_watermark(image):
        return None
    import pywt

    yuv, rows, cols = _yuv_plane(_rgb_array(image))
    approx, _details = pywt.dwt2(yuv[:rows, :cols, _WATERMARK_CHANNEL], "haar")
    scores: list[list[int]] = [[] for _ in range(WATERMARK_BYTES * 8)]
    scores = _coder().decode_frame(approx, _WATERMARK_SCALE, scores)
    bits = np.array([np.mean(bit) > 0.5 for bit in scores], dtype=np.uint8)
    return np.packbits(bits).tobytes()


def assertions(fingerprint_hex: str, watermark_hex: str) -> list[dict[str, Any]]:
    """The C2PA soft-binding assertions for an image: its fingerprint, and its watermark if any.

    Each follows the C2PA 2.x soft-binding map: ``alg`` names the algorithm, each block's
    ``value`` is the binding (base64) and an empty ``scope`` means the whole image.
    """
    found = []
    for algorithm, value in ((FINGERPRINT_ALGORITHM, fingerprint_hex), (WATERMARK_ALGORITHM, watermark_hex)):
        if value:
            found.append(
                {
                    "label": SOFT_BINDING_LABEL,
                    "data": {
                        "alg": algorithm,
                        "blocks": [
                            {"scope": {}, "value": base64.b64encode(bytes.fromhex(value)).decode("ascii")}
                        ],
                    },
                }
            )
    return found
