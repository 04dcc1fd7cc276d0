"""Provenance written into every stored image, and read back from any image.

In this order: the A1111-style ``parameters`` text chunk, an XMP packet carrying the IPTC
digital source type, then a C2PA manifest signed with the configured certificate. Signing
comes last, since any later change to the bytes breaks the manifest's hard binding.
``read_credentials`` validates a file's manifest and finds the Hallmark asset it is.
docs/provenance.md describes what each file carries and how to verify it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import struct
import threading
import warnings
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, unescape

import c2pa
from cryptography import x509
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.core.exceptions import ValidationError
from PIL import Image, PngImagePlugin, UnidentifiedImageError

import hallmark
from governance import prompt_digest

logger = logging.getLogger(__name__)

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
# The procedural demo plugin is not an AI model: its images are algorithmic, not trained.
ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicMedia"
PNG_MIME = "image/png"
# Hallmark's own assertion in each manifest: what made the image, without the prompt itself.
HALLMARK_ASSERTION = "org.hallmark.generation"
# The CAWG training-and-data-mining assertion (C2PA 2.x moved it from c2pa.training-mining,
# which the SDK still reads; Hallmark writes the current label and reads both).
TRAINING_MINING_LABEL = "cawg.training-mining"
LEGACY_TRAINING_MINING_LABEL = "c2pa.training-mining"
TRAINING_MINING_KEYS = ("cawg.ai_training", "cawg.ai_generative_training", "cawg.data_mining")
_MAX_XMP_BYTES = 1024 * 1024


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


def stamp(image: Image.Image, context: ProvenanceContext) -> tuple[bytes, str]:
    """Encode ``image`` with all its provenance; return the final bytes and their MIME type.

    The C2PA manifest is signed last, over the bytes that already carry the text and XMP.
    Raises ``ProvenanceUnavailable`` when signing is required and no signer is configured.
    """
    data = encode_png(image, context)
    return sign_c2pa(data, context), PNG_MIME


# ---------------------------------------------------------------------------------------------
# C2PA signing
# ---------------------------------------------------------------------------------------------


class ProvenanceError(Exception):
    """Provenance could not be written; the job fails with this message (never a secret).

    ``code`` becomes the job's ``error_code``.
    """

    code = "provenance_error"


class ProvenanceUnavailable(ProvenanceError):
    """No usable C2PA signer is configured while ``HALLMARK_C2PA_REQUIRED`` is on."""

    code = "provenance_unavailable"


class SigningFailed(ProvenanceError):
    """The configured signer is present but the C2PA SDK refused to sign."""

    code = "provenance_signing_failed"


_SETUP_HINT = (
    "Run `manage.py provenance_init` to create a development certificate, or point "
    "HALLMARK_C2PA_CERT_CHAIN and HALLMARK_C2PA_PRIVATE_KEY at a real certificate chain and key."
)


def _file_key(path: Path) -> tuple[str, int, int] | None:
    """Path, size and mtime: a cached signer is rebuilt when its files are replaced."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return str(path), stat.st_size, stat.st_mtime_ns


class _PerProcess:
    """One native object per process, rebuilt when the files it came from change.

    The C2PA SDK refuses handles inherited across fork (Celery's prefork pool forks after the
    parent may have signed), so the cache is keyed on the process id as well as the files.
    Native handles are shared between threads: the SDK wrapper takes shared borrows for
    signing and reading, and concurrent use was checked (see docs/provenance.md).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._value: Any = None

    def get(self, key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
        full_key = (os.getpid(), *key)
        with self._lock:
            if self._key != full_key:
                self._value = build()
                self._key = full_key
            return self._value


_signers = _PerProcess()
_builder_contexts = _PerProcess()
_reader_contexts = _PerProcess()


def _signer() -> c2pa.Signer | None:
    """The process's ES256 signer from the configured chain and key, or None when unconfigured."""
    chain_path = Path(settings.HALLMARK_C2PA_CERT_CHAIN)
    key_path = Path(settings.HALLMARK_C2PA_PRIVATE_KEY)
    chain_key, private_key = _file_key(chain_path), _file_key(key_path)
    if chain_key is None or private_key is None:
        return None

    def build() -> c2pa.Signer:
        try:
            info = c2pa.C2paSignerInfo(
                c2pa.C2paSigningAlg.ES256, chain_path.read_bytes(), key_path.read_bytes(), None
            )
            return c2pa.Signer.from_info(info)
        except (OSError, ValueError, c2pa.C2paError) as exc:
            # The SDK's message names what is wrong with the certificate; it never holds the key.
            raise ProvenanceUnavailable(
                f"The C2PA certificate chain {chain_path} or its key cannot be used to sign "
                f"({type(exc).__name__}: {exc}). {_SETUP_HINT}"
            ) from None

    signer: c2pa.Signer = _signers.get((chain_key, private_key), build)
    return signer


def _builder_context() -> c2pa.Context:
    # No thumbnail in the manifest: the file is the image, and a second JPEG encode per image
    # would cost more than the signature. Remote manifests are never fetched.
    return _builder_contexts.get(
        (),
        lambda: c2pa.Context.from_dict(
            {
                "builder": {"thumbnail": {"enabled": False}},
                "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
            }
        ),
    )


def training_mining_entries(allows_training: bool) -> dict[str, dict[str, str]]:
    """CAWG training-and-data-mining entries derived from the licence's ``allows_training``.

    Inference (using the image as an input) is not something model licences restrict, so
    only training and mining are declared.
    """
    use = "allowed" if allows_training else "notAllowed"
    return {key: {"use": use} for key in TRAINING_MINING_KEYS}


def manifest_definition(context: ProvenanceContext) -> dict[str, Any]:
    """The C2PA manifest Hallmark signs into each image (see docs/provenance.md)."""
    identity = context.identity
    model_name = str(identity.get("name") or context.plugin_id)
    model_version = str(identity.get("version") or context.plugin_version)
    created = {
        "action": "c2pa.created",
        "digitalSourceType": context.digital_source_type,
        "softwareAgent": {"name": model_name, "version": model_version},
        "when": context.created_at.isoformat(),
    }
    generation = {
        "asset_id": context.asset_id,
        "job_id": context.job_id,
        "model": {
            "id": context.plugin_id,
            "name": model_name,
            "version": model_version,
            "weights_fingerprint": str(identity.get("fingerprint", "")),
        },
        "plugin": {"id": context.plugin_id, "version": context.plugin_version},
        "is_ai_model": context.is_ai_model,
        "seed": context.seed,
        "width": context.width,
        "height": context.height,
        # Never the prompt itself: a manifest travels with the file. With prompts withheld
        # (HALLMARK_EMBED_PROMPTS=False) not its plain sha256 either, which would confirm a
        # guessed prompt, but an HMAC under the organisation key (governance.prompt_digest).
        **prompt_digest.prompt_digest(context.prompt),
        "license": {
            "spdx_id": context.license.get("spdx_id", ""),
            "commercial_use": bool(context.license.get("commercial_use", False)),
            "allows_training": bool(context.license.get("allows_training", False)),
        },
        "created_at": context.created_at.isoformat(),
    }
    return {
        "claim_generator_info": [{"name": "Hallmark", "version": hallmark.__version__}],
        "title": f"{context.asset_id}.png",
        "format": PNG_MIME,
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [created]}},
            {"label": HALLMARK_ASSERTION, "data": generation},
            {
                "label": TRAINING_MINING_LABEL,
                "data": {
                    "entries": training_mining_entries(bool(context.license.get("allows_training", False)))
                },
            },
        ],
    }


def signer_configured() -> bool:
    """Whether a certificate chain and key are in place (not whether they are valid)."""
    return (
        _file_key(Path(settings.HALLMARK_C2PA_CERT_CHAIN)) is not None
        and _file_key(Path(settings.HALLMARK_C2PA_PRIVATE_KEY)) is not None
    )


def sign_c2pa(data: bytes, context: ProvenanceContext) -> bytes:
    """Sign a C2PA manifest for ``context`` into the PNG ``data``; return the signed bytes.

    ES256 with the configured chain, no timestamp authority (no network). Without a signer
    this raises ``ProvenanceUnavailable`` when ``HALLMARK_C2PA_REQUIRED`` is on, and returns
    ``data`` unsigned (with a warning) when it is off.
    """
    signer = _signer()
    if signer is None:
        if settings.HALLMARK_C2PA_REQUIRED:
            raise ProvenanceUnavailable(f"No C2PA signing certificate is configured. {_SETUP_HINT}")
        logger.warning("C2PA signing is off (no certificate configured): storing an unsigned image")
        return data
    try:
        builder = c2pa.Builder(manifest_definition(context), context=_builder_context())
        output = io.BytesIO()
        builder.sign(signer, PNG_MIME, io.BytesIO(data), output)
    except c2pa.C2paError as exc:
        raise SigningFailed(f"C2PA signing failed ({type(exc).__name__}: {exc}).") from None
    return output.getvalue()


# ---------------------------------------------------------------------------------------------
# Reading content credentials
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssetMatch:
    """A Hallmark asset that a file corresponds to, and by which evidence."""

    asset_id: str
    sha256: bool
    """The bytes are exactly the stored file's."""
    pixels: bool
    """The decoded pixels are the stored image's (metadata may have been stripped or changed)."""
    manifest: bool
    """A Hallmark assertion names this asset in a manifest signed by a trusted chain."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CredentialsReport:
    """What a file's content credentials say, as read by the C2PA SDK and from its XMP.

    ``validation_state`` is ``Trusted`` (valid and chained to a configured trust anchor),
    ``Valid`` (intact, signer not trusted here), ``Invalid`` or ``None`` (no manifest).
    """

    sha256: str
    mime_type: str
    validation_state: str | None
    validation_errors: list[dict[str, str]]
    manifest: dict[str, Any] | None
    summary: dict[str, Any] | None
    xmp_digital_source_type: str | None
    xmp_packet: str | None
    asset_matches: list[AssetMatch]
    reader_error: str | None = None
    manifest_store: dict[str, Any] | None = None
    """The whole manifest store as the SDK reports it (every manifest, validation results)."""
    signed_by_hallmark: bool = False
    """The manifest's signing certificate is Hallmark's own (see ``hallmark_signer_ids``),
    not merely one chained to the same trust anchors."""

    @property
    def has_manifest(self) -> bool:
        return self.validation_state is not None

    @property
    def hallmark_assertion(self) -> dict[str, Any] | None:
        """The Hallmark assertion's data, if the manifest carries one (trusted or not)."""
        return (self.summary or {}).get("hallmark")

    @property
    def signed_by_trusted_chain(self) -> bool:
        return self.validation_state == "Trusted"

    @property
    def made_by_hallmark(self) -> bool:
        """Recognised as a Hallmark asset by exact bytes, pixels or a trusted Hallmark manifest."""
        return bool(self.asset_matches)

    def as_dict(self, *, include_store: bool = False) -> dict[str, Any]:
        """JSON-ready, for the API and the evidence pack (``include_store`` adds the whole store)."""
        data = {
            "sha256": self.sha256,
            "mime_type": self.mime_type,
            "validation_state": self.validation_state,
            "validation_errors": self.validation_errors,
            "reader_error": self.reader_error,
            "summary": self.summary,
            "manifest": self.manifest,
            "xmp_digital_source_type": self.xmp_digital_source_type,
            "made_by_hallmark": self.made_by_hallmark,
            "signed_by_hallmark": self.signed_by_hallmark,
            "asset_matches": [m.as_dict() for m in self.asset_matches],
        }
        if include_store:
            data["manifest_store"] = self.manifest_store
        return data


def _reader_context() -> c2pa.Context:
    """Reading settings: configured trust anchors, and never any network (no remote manifests,
    no OCSP): a verification upload must not make the server fetch URLs it names."""
    anchors_path = Path(settings.HALLMARK_C2PA_TRUST_ANCHORS)
    anchors_key = _file_key(anchors_path)

    def build() -> c2pa.Context:
        config: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
        if anchors_key is not None:
            config["trust"] = {"trust_anchors": anchors_path.read_text()}
        return c2pa.Context.from_dict(config)

    context: c2pa.Context = _reader_contexts.get((anchors_key,), build)
    return context


def _failures(store: dict[str, Any]) -> list[dict[str, str]]:
    results = store.get("validation_results") or {}
    active = results.get("activeManifest") or {}
    failures = list(active.get("failure") or [])
    for delta in results.get("ingredientDeltas") or []:
        failures.extend((delta.get("validationDeltas") or {}).get("failure") or [])
    if not results:
        failures = list(store.get("validation_status") or [])
    return [
        {k: str(item[k]) for k in ("code", "explanation", "url") if k in item}
        for item in failures
        if isinstance(item, dict)
    ]


def manifest_summary(manifest: dict[str, Any]) -> dict[str, Any]:
    """The parts of an active manifest a reviewer looks at first."""
    created: dict[str, Any] | None = None
    hallmark_data: dict[str, Any] | None = None
    training: dict[str, Any] | None = None
    for assertion in manifest.get("assertions") or []:
        label = str(assertion.get("label", ""))
        data = assertion.get("data")
        if not isinstance(data, dict):
            continue
        # Labels may carry a version suffix (c2pa.actions.v2) or an instance index (__1).
        base = label.split("__", 1)[0]
        if base in ("c2pa.actions", "c2pa.actions.v2") and created is None:
            created = next(
                (
                    a
                    for a in data.get("actions") or []
                    if isinstance(a, dict) and a.get("action") == "c2pa.created"
                ),
                None,
            )
        elif base == HALLMARK_ASSERTION:
            hallmark_data = data
        elif base in (TRAINING_MINING_LABEL, LEGACY_TRAINING_MINING_LABEL):
            training = data.get("entries") if isinstance(data.get("entries"), dict) else data
    generator_info = manifest.get("claim_generator_info") or []
    if generator_info and isinstance(generator_info[0], dict):
        first = generator_info[0]
        claim_generator = f"{first.get('name', '')} {first.get('version', '')}".strip()
    else:
        claim_generator = str(manifest.get("claim_generator") or "")
    signature = manifest.get("signature_info") or {}
    return {
        "claim_generator": claim_generator,
        "title": manifest.get("title"),
        "created_action": created,
        "digital_source_type": (created or {}).get("digitalSourceType"),
        "software_agent": (created or {}).get("softwareAgent"),
        "hallmark": hallmark_data,
        "training_mining": training,
        "signature": {k: signature[k] for k in ("alg", "issuer", "common_name", "time") if k in signature},
    }


def read_credentials(data: bytes, mime_type: str, *, image: Image.Image | None = None) -> CredentialsReport:
    """Read and validate the C2PA manifest and the XMP in ``data``; find the Hallmark asset it is.

    Validation uses the trust anchors in ``HALLMARK_C2PA_TRUST_ANCHORS`` and never the network.
    A manifest the SDK cannot parse is reported as ``Invalid`` with ``reader_error``; a file
    without one has ``validation_state`` None. Pixels are compared only for images within
    ``HALLMARK_MAX_IMAGE_PIXELS``; pass ``image`` when the caller has already decoded ``data``.
    """
    state: str | None = None
    errors: list[dict[str, str]] = []
    manifest: dict[str, Any] | None = None
    store: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    reader_error: str | None = None
    try:
        reader = c2pa.Reader.try_create(mime_type, io.BytesIO(data), None, _reader_context())
    except (c2pa.C2paError.NotSupported, c2pa.C2paError.RemoteManifest) as exc:
        # A format C2PA has no embedding for (BMP), or a manifest kept elsewhere that reading
        # must not fetch: no manifest to validate here, which is not the same as a broken one.
        reader, reader_error = None, f"{type(exc).__name__}: {exc}"
    except c2pa.C2paError as exc:
        reader, state = None, "Invalid"
        reader_error = f"{type(exc).__name__}: {exc}"
        errors = [{"code": "manifest.unreadable", "explanation": reader_error}]
    if reader is not None:
        with reader:
            store = json.loads(reader.json())
            state = store.get("validation_state") or "Invalid"
            errors = _failures(store)
            manifest = reader.get_active_manifest()
        summary = manifest_summary(manifest) if manifest else None
    ours = state in ("Trusted", "Valid") and manifest is not None and is_hallmark_signer(manifest)
    xmp = extract_xmp(data, mime_type)
    digest = hashlib.sha256(data).hexdigest()
    return CredentialsReport(
        sha256=digest,
        mime_type=mime_type,
        validation_state=state,
        validation_errors=errors,
        manifest=manifest,
        summary=summary,
        xmp_digital_source_type=xmp_digital_source_type(xmp) if xmp else None,
        xmp_packet=xmp,
        asset_matches=_asset_matches(data, digest, state == "Trusted" and ours, summary, image),
        reader_error=reader_error,
        manifest_store=store,
        signed_by_hallmark=ours,
    )


_signer_ids = _PerProcess()


def _certificate_id(cert: x509.Certificate) -> tuple[str | None, str]:
    """A certificate as the C2PA SDK's ``signature_info`` names its signer: the issuer's
    organisation and the serial number in decimal."""
    organisations = cert.issuer.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    issuer = str(organisations[0].value) if organisations else None
    return issuer, str(cert.serial_number)


def _previous_certs_path() -> Path | None:
    configured = getattr(settings, "HALLMARK_C2PA_PREVIOUS_CERTS", None) or os.environ.get(
        "HALLMARK_C2PA_PREVIOUS_CERTS"
    )
    return Path(configured) if configured else None


def hallmark_signer_ids() -> frozenset[tuple[str | None, str]]:
    """``(issuer organisation, serial)`` of every certificate whose manifests are Hallmark's.

    That is the leaf of ``HALLMARK_C2PA_CERT_CHAIN`` and every certificate in the optional PEM
    file ``HALLMARK_C2PA_PREVIOUS_CERTS`` (signers used before a rotation). Trust anchors say
    only that a signer chains to a known root; another signer under the same root (another team,
    another product of the same CA) must not be able to vouch for a Hallmark asset.
    """
    chain_path = Path(settings.HALLMARK_C2PA_CERT_CHAIN)
    previous_path = _previous_certs_path()
    key = (_file_key(chain_path), _file_key(previous_path) if previous_path else None)

    def build() -> frozenset[tuple[str | None, str]]:
        ids: set[tuple[str | None, str]] = set()
        if key[0] is not None:
            with contextlib.suppress(OSError, ValueError):
                chain = x509.load_pem_x509_certificates(chain_path.read_bytes())
                ids.add(_certificate_id(chain[0]))  # the signer comes first; the rest are its CAs
        if previous_path is not None and key[1] is not None:
            try:
                ids.update(
                    _certificate_id(c) for c in x509.load_pem_x509_certificates(previous_path.read_bytes())
                )
            except (OSError, ValueError):
                logger.warning(
                    "HALLMARK_C2PA_PREVIOUS_CERTS %s holds no readable PEM certificate", previous_path
                )
        return frozenset(ids)

    ids: frozenset[tuple[str | None, str]] = _signer_ids.get(key, build)
    return ids


def is_hallmark_signer(manifest: dict[str, Any]) -> bool:
    """Whether ``manifest`` was signed with one of Hallmark's own certificates."""
    info = manifest.get("signature_info") or {}
    serial = info.get("cert_serial_number")
    if not isinstance(serial, str | int):
        return False
    return (info.get("issuer"), str(serial)) in hallmark_signer_ids()


def _asset_matches(
    data: bytes,
    digest: str,
    trusted_hallmark_manifest: bool,
    summary: dict[str, Any] | None,
    image: Image.Image | None,
) -> list[AssetMatch]:
    from assets.models import Asset  # governance is below assets; import at call time

    # A soft-deleted asset is never named: to the caller it is as if Hallmark had no such asset
    # (docs/provenance.md), the same as the rest of the API, which hides deleted assets.
    live = Asset.objects.live()
    by_id: dict[str, dict[str, bool]] = {}
    for asset_id in live.filter(sha256=digest).values_list("id", flat=True):
        by_id.setdefault(str(asset_id), {})["sha256"] = True
    if not by_id:
        pixels = pixel_sha256(image) if image is not None else decoded_pixel_sha256(data)
        if pixels is not None:
            for asset_id in live.filter(pixel_sha256=pixels).values_list("id", flat=True):
                by_id.setdefault(str(asset_id), {})["pixels"] = True
    claimed = (summary or {}).get("hallmark") or {}
    claimed_id = claimed.get("asset_id")
    # Only a manifest that validates to a trust anchor AND was signed by Hallmark's own
    # certificate may name the asset: any signer under the same root could write the assertion.
    if trusted_hallmark_manifest and isinstance(claimed_id, str):
        with contextlib.suppress(ValueError, ValidationError):
            if live.filter(pk=claimed_id).exists():
                by_id.setdefault(claimed_id, {})["manifest"] = True
    return [
        AssetMatch(
            asset_id=asset_id,
            sha256=flags.get("sha256", False),
            pixels=flags.get("pixels", False) or flags.get("sha256", False),
            manifest=flags.get("manifest", False),
        )
        for asset_id, flags in by_id.items()
    ]


class ImageRefused(ValueError):
    """Bytes that are not an image Hallmark will decode (not an image, another format, or too
    many pixels)."""


# The only formats decoded from untrusted bytes: what Hallmark stores (PNG) and what C2PA and
# the verify endpoint are for. Pillow would otherwise try each of its ~40 parsers in turn
# (PSD, TIFF, EPS, ...), each an attack surface of its own.
UNTRUSTED_IMAGE_FORMATS = ("PNG", "JPEG", "WEBP")


def open_image_safely(data: bytes) -> Image.Image:
    """Open and fully decode ``data`` as a PNG, JPEG or WebP image, refusing decompression bombs.

    Pillow is asked for those three parsers only (``UNTRUSTED_IMAGE_FORMATS``): any other format
    is refused before a parser for it runs. The declared size is checked against
    ``HALLMARK_MAX_IMAGE_PIXELS`` before any pixel is decoded, so a small file that declares a
    huge canvas costs nothing. Raises ``ImageRefused``.
    """
    limit = int(settings.HALLMARK_MAX_IMAGE_PIXELS)
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


# ---------------------------------------------------------------------------------------------
# XMP
# ---------------------------------------------------------------------------------------------

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


def pixel_sha256(image: Image.Image) -> str:
    """sha256 of the decoded pixels (mode, size and raw bytes): survives metadata changes."""
    digest = hashlib.sha256()
    digest.update(f"{image.mode}:{image.width}x{image.height}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# Stored assets: does each file still say what its record says?
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredAssetCheck:
    """A stored file re-hashed against its ``Asset`` row and its manifest re-validated.

    ``problems`` maps a problem code (``missing_file``, ``hash_mismatch``, ``no_manifest``,
    ``invalid_manifest``, ``untrusted_manifest``, ``foreign_signer``, ``manifest_asset_mismatch``)
    to a message.
    """

    asset_id: str
    recorded_sha256: str
    actual_sha256: str | None
    credentials: CredentialsReport | None
    problems: dict[str, str]

    @property
    def file_present(self) -> bool:
        return self.actual_sha256 is not None

    @property
    def file_matches_record(self) -> bool:
        return self.actual_sha256 == self.recorded_sha256

    @property
    def manifest_names_asset(self) -> bool | None:
        """Whether the Hallmark assertion names this asset (None: no Hallmark assertion)."""
        claimed = self.credentials.hallmark_assertion if self.credentials else None
        return None if claimed is None else claimed.get("asset_id") == self.asset_id

    @property
    def ok(self) -> bool:
        return not self.problems


def check_stored_asset(asset: Any) -> StoredAssetCheck:
    """Re-read ``asset``'s file from storage, re-hash it and re-validate its credentials."""
    asset_id = str(asset.pk)
    name = str(asset.file.name)
    problems: dict[str, str] = {}
    try:
        with asset.file.storage.open(name, "rb") as handle:
            data = handle.read()
    except (OSError, ValueError) as exc:
        problems["missing_file"] = f"The stored file {name} cannot be read ({type(exc).__name__})."
        return StoredAssetCheck(asset_id, asset.sha256, None, None, problems)
    actual = hashlib.sha256(data).hexdigest()
    if actual != asset.sha256:
        problems["hash_mismatch"] = f"The file's sha256 is {actual}, the record says {asset.sha256}."
    report = read_credentials(data, asset.mime_type)
    if report.validation_state is None:
        problems["no_manifest"] = "The file carries no C2PA manifest."
    elif report.validation_state == "Invalid":
        codes = ", ".join(e.get("code", "?") for e in report.validation_errors) or "unknown"
        problems["invalid_manifest"] = f"The C2PA manifest does not validate ({codes})."
    elif report.validation_state != "Trusted" and _file_key(Path(settings.HALLMARK_C2PA_TRUST_ANCHORS)):
        problems["untrusted_manifest"] = "The manifest is intact but not signed by a configured trust anchor."
    if report.validation_state in ("Trusted", "Valid") and not report.signed_by_hallmark:
        signer = (report.manifest or {}).get("signature_info") or {}
        problems["foreign_signer"] = (
            f"The manifest was signed by certificate serial {signer.get('cert_serial_number')} of "
            f"{signer.get('issuer')}, which is not Hallmark's signer (HALLMARK_C2PA_CERT_CHAIN) "
            "nor one of HALLMARK_C2PA_PREVIOUS_CERTS."
        )
    claimed = (report.hallmark_assertion or {}).get("asset_id")
    if report.validation_state is not None and claimed != asset_id:
        problems["manifest_asset_mismatch"] = (
            f"The manifest's Hallmark assertion names asset {claimed}, not {asset_id}."
            if claimed
            else "The manifest carries no Hallmark assertion."
        )
    return StoredAssetCheck(asset_id, asset.sha256, actual, report, problems)
