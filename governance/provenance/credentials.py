"""Reading and validating the content credentials of any image.

``read_credentials`` asks the C2PA SDK to validate a file's manifest (against the configured
trust anchors, never over the network) and reads its XMP; ``CredentialsReport`` is what it
found, with ``manifest_summary`` of the parts a reviewer looks at first. ``hallmark_signer_ids``
names the certificates whose manifests are Hallmark's own (the current signer and those before
a rotation), so that another signer under the same root cannot vouch for a Hallmark asset.
Looking up which asset a file is belongs to the assets app (``assets.verification``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import c2pa
from cryptography import x509
from cryptography.x509.oid import NameOID
from django.conf import settings

from governance.provenance.c2pa_signing import (
    HALLMARK_ASSERTION,
    LEGACY_TRAINING_MINING_LABEL,
    TRAINING_MINING_LABEL,
    PerProcess,
    file_key,
)
from governance.provenance.xmp_parser import extract_xmp, xmp_digital_source_type

logger = logging.getLogger(__name__)


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

    @property
    def method(self) -> str:
        """The strongest evidence: ``manifest``, ``sha256`` or ``pixels``."""
        for name in ("manifest", "sha256"):
            if getattr(self, name):
                return name
        return "pixels"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, as the API reports it."""
        return {**asdict(self), "method": self.method}


@dataclass(frozen=True)
class LikelyCopy:
    """A Hallmark asset that a file looks like a copy of, found by a soft binding only.

    Never evidence that Hallmark made the file: a watermark payload can be copied into any
    image and a look-alike can fall within the fingerprint distance (docs/provenance.md).
    """

    asset_id: str
    method: str
    """``watermark`` (the 64-bit payload read is near the asset's) or ``fingerprint`` (the
    PDQ hash of the pixels is near the asset's)."""
    distance: int
    """Bits between what was read and what was recorded: of 64 for a watermark, of 256 for a
    fingerprint."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, as the API reports it."""
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
    asset_matches: list[AssetMatch] = field(default_factory=list)
    """The Hallmark assets this file is, by hard evidence only (exact bytes, pixels, trusted
    Hallmark manifest), filled in by the caller that can look assets up
    (``assets.verification.verify_file``); ``read_credentials`` leaves it empty."""
    likely_copies: list[LikelyCopy] = field(default_factory=list)
    """Assets the file looks like a copy of by a soft binding (watermark, fingerprint), looked
    up only when nothing matched exactly; they never make ``made_by_hallmark`` true."""
    reader_error: str | None = None
    manifest_store: dict[str, Any] | None = None
    """The whole manifest store as the SDK reports it (every manifest, validation results)."""
    signed_by_hallmark: bool = False
    """The manifest's signing certificate is Hallmark's own (see ``hallmark_signer_ids``),
    not merely one chained to the same trust anchors."""

    @property
    def hallmark_assertion(self) -> dict[str, Any] | None:
        """The Hallmark assertion's data, if the manifest carries one (trusted or not)."""
        return (self.summary or {}).get("hallmark")

    @property
    def trusted_asset_claim(self) -> str | None:
        """The asset id the Hallmark assertion names, when the manifest may be believed.

        Only a manifest that validates to a trust anchor AND was signed by Hallmark's own
        certificate may name an asset: any signer under the same root could write the assertion.
        """
        if self.validation_state != "Trusted" or not self.signed_by_hallmark:
            return None
        claimed = (self.hallmark_assertion or {}).get("asset_id")
        return claimed if isinstance(claimed, str) else None

    @property
    def made_by_hallmark(self) -> bool:
        """Recognised as a Hallmark asset by exact bytes, pixels or a trusted Hallmark manifest.

        Soft bindings (``likely_copies``) never count: they find a record, they prove nothing.
        """
        return any(m.sha256 or m.pixels or m.manifest for m in self.asset_matches)

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
            "likely_copy_of": [c.as_dict() for c in self.likely_copies],
        }
        if include_store:
            data["manifest_store"] = self.manifest_store
        return data


def trust_anchors_configured() -> bool:
    """Whether a trust anchors file is in place, so that ``Trusted`` can be told from ``Valid``."""
    return file_key(Path(settings.HALLMARK_C2PA_TRUST_ANCHORS)) is not None


_reader_contexts = PerProcess()


def _reader_context() -> c2pa.Context:
    """Reading settings: configured trust anchors, and never any network (no remote manifests,
    no OCSP): a verification upload must not make the server fetch URLs it names."""
    anchors_path = Path(settings.HALLMARK_C2PA_TRUST_ANCHORS)
    anchors_key = file_key(anchors_path)

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


def read_credentials(data: bytes, mime_type: str) -> CredentialsReport:
    """Read and validate the C2PA manifest and the XMP in ``data``.

    Validation uses the trust anchors in ``HALLMARK_C2PA_TRUST_ANCHORS`` and never the network.
    A manifest the SDK cannot parse is reported as ``Invalid`` with ``reader_error``; a file
    without one has ``validation_state`` None. Which Hallmark asset the file is, is not looked
    up here (governance knows no assets): ``assets.verification.verify_file`` adds that.
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
    # Names and serial numbers are public (every file carries them) and anyone can make a root
    # that issues a certificate with them: only a manifest that chains to a configured trust
    # anchor ("Trusted") can be Hallmark's.
    ours = state == "Trusted" and manifest is not None and is_hallmark_signer(manifest)
    xmp = extract_xmp(data, mime_type)
    return CredentialsReport(
        sha256=hashlib.sha256(data).hexdigest(),
        mime_type=mime_type,
        validation_state=state,
        validation_errors=errors,
        manifest=manifest,
        summary=summary,
        xmp_digital_source_type=xmp_digital_source_type(xmp) if xmp else None,
        xmp_packet=xmp,
        reader_error=reader_error,
        manifest_store=store,
        signed_by_hallmark=ours,
    )


_signer_ids = PerProcess()


def _certificate_id(cert: x509.Certificate) -> tuple[str | None, str | None, str]:
    """A certificate as the C2PA SDK's ``signature_info`` names its signer: the organisation and
    common name of its SUBJECT (the SDK calls the organisation ``issuer``) and its serial number
    in decimal. (A development chain names one organisation as both issuer and subject; a
    certificate from a real CA does not, which is why the subject is what must be compared.)"""
    organisations = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    common_names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    organisation = str(organisations[0].value) if organisations else None
    common_name = str(common_names[0].value) if common_names else None
    return organisation, common_name, str(cert.serial_number)


def _previous_certs_path() -> Path | None:
    configured = settings.HALLMARK_C2PA_PREVIOUS_CERTS
    return Path(configured) if configured else None


def hallmark_signer_ids() -> frozenset[tuple[str | None, str | None, str]]:
    """``(subject organisation, common name, serial)`` of every certificate whose manifests are
    Hallmark's.

    That is the leaf of ``HALLMARK_C2PA_CERT_CHAIN`` and every certificate in the optional PEM
    file ``HALLMARK_C2PA_PREVIOUS_CERTS`` (signers used before a rotation). Trust anchors say
    only that a signer chains to a known root; another signer under the same root (another team,
    another product of the same CA) must not be able to vouch for a Hallmark asset.
    """
    chain_path = Path(settings.HALLMARK_C2PA_CERT_CHAIN)
    previous_path = _previous_certs_path()
    key = (file_key(chain_path), file_key(previous_path) if previous_path else None)

    def build() -> frozenset[tuple[str | None, str | None, str]]:
        ids: set[tuple[str | None, str | None, str]] = set()
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

    ids: frozenset[tuple[str | None, str | None, str]] = _signer_ids.get(key, build)
    return ids


def is_hallmark_signer(manifest: dict[str, Any]) -> bool:
    """Whether ``manifest`` names one of Hallmark's own certificates as its signer.

    Names only: whether that certificate really signed it is the SDK's validation, which the
    caller must also require (``Trusted``), since anyone can issue a certificate with these names.
    """
    info = manifest.get("signature_info") or {}
    serial = info.get("cert_serial_number")
    if not isinstance(serial, str | int):
        return False
    return (info.get("issuer"), info.get("common_name"), str(serial)) in hallmark_signer_ids()
