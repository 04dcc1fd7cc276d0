"""The metadata embedded in a stored PNG before it is signed.

The A1111-style ``parameters`` text chunk (what AUTOMATIC1111-compatible readers show: prompt,
settings, model) and an XMP packet carrying the IPTC digital source type, both written by
``encode_png``. docs/provenance.md describes each field.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from django.conf import settings
from PIL import Image, PngImagePlugin

if TYPE_CHECKING:
    from governance.provenance.stamping import ProvenanceContext

PNG_MIME = "image/png"


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
        # Withheld prompts leave no prompt line at all, so readers report no prompt rather than
        # a placeholder that looks like one; this field says why.
        ("Hallmark prompt", None if include_prompts else "withheld"),
    ]
    settings_line = ", ".join(f"{k}: {_a1111_value(v)}" for k, v in fields if v not in (None, ""))
    lines: list[str] = []
    if include_prompts:
        lines.append(context.prompt)
        if context.negative_prompt:
            lines.append(f"Negative prompt: {context.negative_prompt}")
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

