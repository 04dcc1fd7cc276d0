"""Provenance written into every stored image.

In this order: the A1111-style ``parameters`` text chunk, an XMP packet carrying the IPTC
digital source type, then (when a signer is configured) a C2PA manifest. Signing comes last,
since any later change to the bytes breaks the manifest's hard binding.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from django.conf import settings
from PIL import Image, PngImagePlugin

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
# The procedural demo plugin is not an AI model: its images are algorithmic, not trained.
ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicMedia"
PNG_MIME = "image/png"


@dataclass(frozen=True)
class ProvenanceContext:
    """What an image's provenance says: who made it, with which model, from what."""

    asset_id: str
    job_id: str
    plugin_id: str
    plugin_version: str
    is_ai_model: bool
    identity: dict[str, Any]
    license: dict[str, Any]
    prompt: str
    negative_prompt: str
    seed: int
    width: int
    height: int
    created_at: datetime
    requested_by: str
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def digital_source_type(self) -> str:
        return TRAINED_ALGORITHMIC_MEDIA if self.is_ai_model else ALGORITHMIC_MEDIA

    @property
    def prompt_sha256(self) -> str:
        return hashlib.sha256(self.prompt.encode("utf-8")).hexdigest()


def a1111_parameters(context: ProvenanceContext, *, include_prompts: bool) -> str:
    """The ``parameters`` text that AUTOMATIC1111-compatible readers (sd-parsers) understand."""
    params = context.parameters
    fingerprint = str(context.identity.get("fingerprint", ""))
    model_hash = fingerprint.split(":", 1)[-1][:10]
    fields: list[tuple[str, Any]] = [
        ("Steps", params.get("steps")),
        ("Sampler", params.get("sampler")),
        ("CFG scale", params.get("guidance_scale")),
        ("Seed", context.seed),
        ("Size", f"{context.width}x{context.height}"),
        ("Model hash", model_hash),
        ("Model", context.identity.get("name") or context.plugin_id),
        ("Model version", context.identity.get("version")),
        ("Hallmark plugin", f"{context.plugin_id} {context.plugin_version}"),
        ("Hallmark asset", context.asset_id),
    ]
    settings_line = ", ".join(f"{k}: {_a1111_value(v)}" for k, v in fields if v not in (None, ""))
    if include_prompts:
        lines = [context.prompt]
        if context.negative_prompt:
            lines.append(f"Negative prompt: {context.negative_prompt}")
    else:
        lines = ["[prompt withheld]"]
    lines.append(settings_line)
    return "\n".join(lines)


def _a1111_value(value: Any) -> str:
    text = str(value)
    # A1111 quotes values that contain its separators.
    return f'"{text}"' if ("," in text or ":" in text) else text


def xmp_packet(context: ProvenanceContext) -> str:
    """An XMP packet with the IPTC digital source type and the generating software."""
    agent = f"{context.identity.get('name', context.plugin_id)} {context.identity.get('version', '')}".strip()
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"\n'
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        '    xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
        '    xmlns:hallmark="https://hallmark.example/ns/1.0/">\n'
        f"   <Iptc4xmpExt:DigitalSourceType>{escape(context.digital_source_type)}</Iptc4xmpExt:DigitalSourceType>\n"
        f"   <xmp:CreatorTool>{escape(agent)}</xmp:CreatorTool>\n"
        f"   <xmp:CreateDate>{context.created_at.isoformat()}</xmp:CreateDate>\n"
        f"   <hallmark:AssetId>{escape(context.asset_id)}</hallmark:AssetId>\n"
        f"   <hallmark:JobId>{escape(context.job_id)}</hallmark:JobId>\n"
        f"   <hallmark:Plugin>{escape(context.plugin_id)}</hallmark:Plugin>\n"
        f"   <hallmark:WeightsFingerprint>{escape(str(context.identity.get('fingerprint', '')))}</hallmark:WeightsFingerprint>\n"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    )


def encode_png(image: Image.Image, context: ProvenanceContext) -> bytes:
    """PNG bytes with the ``parameters`` chunk and the XMP packet, not yet signed."""
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", a1111_parameters(context, include_prompts=settings.HALLMARK_EMBED_PROMPTS))
    info.add_itxt("XML:com.adobe.xmp", xmp_packet(context), lang="", tkey="")
    buffer = io.BytesIO()
    rgb = image if image.mode in ("RGB", "RGBA") else image.convert("RGB")
    rgb.save(buffer, format="PNG", pnginfo=info, compress_level=settings.HALLMARK_PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def stamp(image: Image.Image, context: ProvenanceContext) -> tuple[bytes, str]:
    """Encode ``image`` with all its provenance; return the final bytes and their MIME type.

    The C2PA manifest is signed last, over the bytes that already carry the text and XMP.
    """
    data = encode_png(image, context)
    return sign_c2pa(data, context), PNG_MIME


def sign_c2pa(data: bytes, context: ProvenanceContext) -> bytes:
    """Sign a C2PA manifest into ``data`` with the configured signer.

    Until a signer is configured (``manage.py provenance_init`` in development) the bytes are
    returned unsigned; governance's content-credentials work replaces this.
    """
    return data


def pixel_sha256(image: Image.Image) -> str:
    """sha256 of the decoded pixels (mode, size and raw bytes): survives metadata changes."""
    digest = hashlib.sha256()
    digest.update(f"{image.mode}:{image.width}x{image.height}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()
