"""What a stored image is stamped with, and the order of the stamps.

``ProvenanceContext`` is what an image's provenance says (who made it, with which model, from
what); ``stamp`` writes it into the file: the embedded metadata first
(``embedded_metadata.encode_png``: the A1111 ``parameters`` text and the XMP packet), then the
C2PA manifest (``c2pa_signing.sign_c2pa``). Signing comes last, since any later change to the
bytes breaks the manifest's hard binding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from PIL import Image

from governance.provenance.c2pa_signing import sign_c2pa
from governance.provenance.embedded_metadata import PNG_MIME, encode_png

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
# The procedural demo plugin is not an AI model: its images are algorithmic, not trained.
ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicMedia"


@dataclass(frozen=True)
class ParentIngredient:
    """The asset an image was derived from (promoted), as its manifest names it: a C2PA
    ``parentOf`` ingredient made from the parent's stored bytes (its own manifest included).

    ``derivation`` is ``rerender`` or ``refine``; ``strength`` how much a refinement redrew.
    """

    asset_id: str
    data: bytes
    mime_type: str
    derivation: str
    strength: float | None = None


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
    #: Soft bindings declared in the manifest (``governance.provenance.soft_binding``): the PDQ
    #: fingerprint of the pixels stamped, and the watermark payload embedded in them, as hex
    #: ("" when there is none).
    fingerprint: str = ""
    watermark: str = ""
    #: The asset this image was derived from, when it was (``ParentIngredient``).
    parent: ParentIngredient | None = None

    @property
    def digital_source_type(self) -> str:
        """The IPTC digital source type: trained algorithmic media for an AI model, else algorithmic."""
        return TRAINED_ALGORITHMIC_MEDIA if self.is_ai_model else ALGORITHMIC_MEDIA


def stamp(image: Image.Image, context: ProvenanceContext) -> tuple[bytes, str]:
    """Encode ``image`` with all its provenance; return the final bytes and their MIME type.

    The C2PA manifest is signed last, over the bytes that already carry the text and XMP.
    Raises ``ProvenanceUnavailable`` when signing is required and no signer is configured.
    """
    data = encode_png(image, context)
    return sign_c2pa(data, context), PNG_MIME
