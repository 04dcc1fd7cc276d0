"""A bounded parser for the XMP packet in an image, and the IPTC digital source type in it.

``extract_xmp`` walks the container (PNG chunks, JPEG segments, WebP chunks) without decoding a
pixel; a container it does not parse is scanned only within a bounded window, in linear time.
``xmp_digital_source_type`` reads the declared source type with a bounded number of bounded
matches. Uploads are hostile input: malformed metadata means no XMP, never an exception, and
no input makes either function slow or hungry.
"""

from __future__ import annotations

import re
import struct
import zlib
from xml.sax.saxutils import unescape

_MAX_XMP_BYTES = 1024 * 1024
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_XMP_PNG_KEYWORD = b"XML:com.adobe.xmp"
_XMP_JPEG_PREFIX = b"http://ns.adobe.com/xap/1.0/\x00"
_XMP_OPEN = b"<x:xmpmeta"
_XMP_CLOSE = b"</x:xmpmeta>"
# In a container Hallmark does not parse, the packet is looked for only this far into the file:
# XMP sits near the start of the files that carry it, and a bounded, linear scan keeps an
# upload built to be slow (a regex over "<x:xmpmeta " repeated took 42 s for 220 KB) cheap.
_XMP_SCAN_WINDOW = 4 * 1024 * 1024
_DIGITAL_SOURCE_TYPE = re.compile(
    r"DigitalSourceType(?:\s*=\s*\"([^\"]*)\"|\b[^>]*?rdf:resource\s*=\s*\"([^\"]*)\"|\s*>\s*([^<]*?)\s*<)"
)
# The pattern above is tried only at a bounded number of occurrences of the name, each within a
# bounded window: tried across a whole packet full of the name it is quadratic.
_DIGITAL_SOURCE_TYPE_NAME = "DigitalSourceType"
_DIGITAL_SOURCE_TYPE_TRIES = 64
_DIGITAL_SOURCE_TYPE_WINDOW = 4096


def extract_xmp(data: bytes, mime_type: str = "") -> str | None:
    """The XMP packet embedded in a PNG (iTXt), JPEG (APP1) or WebP (``XMP `` chunk), or None.

    Reads the container structure only; no pixel is decoded. Malformed metadata (a truncated
    chunk, a broken zlib stream) means no XMP, never an exception: uploads are hostile input.
    """
    try:
        if data.startswith(_PNG_SIGNATURE):
            return _png_xmp(data)
        if data.startswith(b"\xff\xd8"):
            return _jpeg_xmp(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp_xmp(data)
    except (IndexError, ValueError, struct.error, zlib.error):
        return None
    return _scan_for_xmp_packet(data)


def _scan_for_xmp_packet(data: bytes) -> str | None:
    """The first ``<x:xmpmeta ...>...</x:xmpmeta>`` within the scan window, found in linear time."""
    window = data[:_XMP_SCAN_WINDOW]
    start = window.find(_XMP_OPEN)
    while start != -1:
        follower = window[start + len(_XMP_OPEN) : start + len(_XMP_OPEN) + 1]
        if follower == b">" or (follower and follower.isspace()):
            break
        start = window.find(_XMP_OPEN, start + 1)
    if start == -1:
        return None
    end = window.find(_XMP_CLOSE, start)
    if end == -1:
        return None
    return window[start : end + len(_XMP_CLOSE)].decode("utf-8", "replace")


def _png_xmp(data: bytes) -> str | None:
    pos = len(_PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"iTXt" and body.startswith(_XMP_PNG_KEYWORD + b"\x00"):
            # iTXt: keyword NUL, compression flag, method, language NUL, translated keyword NUL, text.
            rest = body[len(_XMP_PNG_KEYWORD) + 1 :]
            if len(rest) < 2 or rest[0] not in (0, 1) or (rest[0] and rest[1] != 0):
                return None
            compressed = rest[0]
            parts = rest[2:].split(b"\x00", 2)
            if len(parts) != 3:
                return None
            text = parts[2]
            if compressed:
                # Bounded: an XMP packet is small, a zip bomb in it must not fill memory.
                inflater = zlib.decompressobj()
                text = inflater.decompress(text, _MAX_XMP_BYTES)
            return text.decode("utf-8", "replace")
        if kind == b"IEND":
            break
        pos += 12 + length
    return None


def _jpeg_xmp(data: bytes) -> str | None:
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no more metadata segments
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        segment = data[pos + 4 : pos + 2 + length]
        if marker == 0xE1 and segment.startswith(_XMP_JPEG_PREFIX):
            return segment[len(_XMP_JPEG_PREFIX) :].decode("utf-8", "replace")
        pos += 2 + length
    return None


def _webp_xmp(data: bytes) -> str | None:
    pos = 12
    while pos + 8 <= len(data):
        kind, length = struct.unpack("<4sI", data[pos : pos + 8])
        if kind == b"XMP ":
            return data[pos + 8 : pos + 8 + length].decode("utf-8", "replace")
        pos += 8 + length + (length & 1)
    return None


def xmp_digital_source_type(xmp: str) -> str | None:
    """The IPTC ``DigitalSourceType`` an XMP packet declares (element, attribute or resource form)."""
    pos = 0
    for _ in range(_DIGITAL_SOURCE_TYPE_TRIES):
        at = xmp.find(_DIGITAL_SOURCE_TYPE_NAME, pos)
        if at == -1:
            return None
        found = _DIGITAL_SOURCE_TYPE.match(xmp, at, at + _DIGITAL_SOURCE_TYPE_WINDOW)
        if found:
            value = next((g for g in found.groups() if g), None)
            return unescape(value) if value else None
        pos = at + len(_DIGITAL_SOURCE_TYPE_NAME)
    return None

