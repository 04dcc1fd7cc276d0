"""Which Hallmark asset a file is, and whether a stored file still says what its record says.

``verify_file`` reads any file's content credentials (``governance.provenance.credentials``)
and adds the live assets it corresponds to: by exact bytes, by decoded pixels, or named by a
manifest that validates to a trust anchor and was signed by Hallmark's own certificate. Failing
those, it adds the assets the file is likely a copy of by a soft binding (``assets.soft_binding``:
watermark, then nearest fingerprint), reported apart: a soft match proves nothing.
``check_stored_asset`` re-hashes a stored file against its ``Asset`` row and re-validates its
manifest. Governance reads credentials; only this app knows the assets they point to.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, replace

from django.core.exceptions import ValidationError
from PIL import Image

from assets import soft_binding
from assets.models import Asset
from governance.provenance.credentials import (
    AssetMatch,
    CredentialsReport,
    LikelyCopy,
    is_hallmark_signer,
    read_credentials,
    trust_anchors_configured,
)
from governance.provenance.safe_image import (
    ImageRefused,
    decoded_pixel_sha256,
    open_image_safely,
    pixel_sha256,
)

#: The most assets one exact method names for one file: many rows may share a file (same-seed
#: duplicates, a synthetic library), and each named asset costs the answer and the audit.
MAX_EXACT_MATCHES = 20


def verify_file(data: bytes, mime_type: str, *, image: Image.Image | None = None) -> CredentialsReport:
    """``read_credentials`` of ``data``, with the live Hallmark assets it is in ``asset_matches``
    and, only when there is none, those it is likely a copy of in ``likely_copies``.

    Pixels are compared only for images within ``HALLMARK_MAX_IMAGE_PIXELS``; pass ``image``
    when the caller has already decoded ``data``.
    """
    report = read_credentials(data, mime_type)
    matches = asset_matches(data, report, image=image)
    if matches:
        return replace(report, asset_matches=matches)
    return replace(report, likely_copies=likely_copies(data, image=image))


def asset_matches(
    data: bytes, report: CredentialsReport, *, image: Image.Image | None = None
) -> list[AssetMatch]:
    """The live assets ``data`` is, by exact bytes, pixels or a trusted Hallmark manifest
    (``report`` is its credentials); at most ``MAX_EXACT_MATCHES`` by bytes and by pixels."""
    # A soft-deleted asset is never named: to the caller it is as if Hallmark had no such asset
    # (docs/provenance.md), the same as the rest of the API, which hides deleted assets.
    live = Asset.objects.live()
    by_id: dict[str, dict[str, bool]] = {}
    for asset_id in live.filter(sha256=report.sha256).values_list("id", flat=True)[:MAX_EXACT_MATCHES]:
        by_id.setdefault(str(asset_id), {})["sha256"] = True
    if not by_id:
        pixels = pixel_sha256(image) if image is not None else decoded_pixel_sha256(data)
        if pixels is not None:
            for asset_id in live.filter(pixel_sha256=pixels).values_list("id", flat=True)[:MAX_EXACT_MATCHES]:
                by_id.setdefault(str(asset_id), {})["pixels"] = True
    # Only a trusted manifest signed by Hallmark's own certificate may name the asset (see
    # ``CredentialsReport.trusted_asset_claim``).
    claimed_id = report.trusted_asset_claim
    if claimed_id is not None:
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


def likely_copies(data: bytes, *, image: Image.Image | None = None) -> list[LikelyCopy]:
    """The live assets ``data`` looks like a copy of (re-encoded, resized, edited), by its soft
    bindings. Evidence of nothing: a watermark can be copied and a look-alike can match."""
    if image is None:
        try:
            image = open_image_safely(data)
        except ImageRefused:
            return []
    return [LikelyCopy(found.asset_id, found.method, found.distance) for found in soft_binding.find(image)]


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
        """Whether the stored file could be read at all."""
        return self.actual_sha256 is not None

    @property
    def file_matches_record(self) -> bool:
        """Whether the stored bytes still hash to the sha256 recorded when the asset was made."""
        return self.actual_sha256 == self.recorded_sha256

    @property
    def manifest_names_asset(self) -> bool | None:
        """Whether the Hallmark assertion names this asset (None: no Hallmark assertion)."""
        claimed = self.credentials.hallmark_assertion if self.credentials else None
        return None if claimed is None else claimed.get("asset_id") == self.asset_id

    @property
    def ok(self) -> bool:
        """No problem found."""
        return not self.problems


def check_stored_asset(asset: Asset) -> StoredAssetCheck:
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
    report = verify_file(data, asset.mime_type)
    if report.validation_state is None:
        problems["no_manifest"] = "The file carries no C2PA manifest."
    elif report.validation_state == "Invalid":
        codes = ", ".join(e.get("code", "?") for e in report.validation_errors) or "unknown"
        problems["invalid_manifest"] = f"The C2PA manifest does not validate ({codes})."
    elif report.validation_state != "Trusted" and trust_anchors_configured():
        problems["untrusted_manifest"] = "The manifest is intact but not signed by a configured trust anchor."
    # Whether it is trusted is the check above; this one asks whose certificate it names.
    if report.validation_state in ("Trusted", "Valid") and not is_hallmark_signer(report.manifest or {}):
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


class StoredFileUnusable(Exception):
    """An asset's stored file is missing or no longer hashes to the sha256 recorded for it."""


def read_verified_file(asset: Asset) -> bytes:
    """``asset``'s stored bytes, read through the storage API, after checking that they still
    hash to the sha256 recorded when it was made (what a refinement or a C2PA ingredient is
    built from must be the file the record names). Raises ``StoredFileUnusable``."""
    name = str(asset.file.name)
    try:
        with asset.file.storage.open(name, "rb") as handle:
            data: bytes = handle.read()
    except (OSError, ValueError) as exc:
        raise StoredFileUnusable(
            f"The stored file of asset {asset.pk} cannot be read ({type(exc).__name__})."
        ) from None
    if hashlib.sha256(data).hexdigest() != asset.sha256:
        raise StoredFileUnusable(
            f"The stored file of asset {asset.pk} no longer matches its recorded sha256."
        )
    return data
