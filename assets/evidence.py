"""Evidence packs: one zip with everything needed to check an asset's story offline.

The pack holds the stored file, its C2PA manifest (as JSON, with the validation Hallmark saw),
its XMP packet, the licence and model identity recorded at generation time, the licence policy's
verdict, the attribution text, and every audit event on the asset and on its generation job in
the verifiable export format, with the latest signed checkpoint. ``SHA256SUMS`` lists every
file; ``verify_evidence.py`` (a copy of ``governance.offline_verify``) checks it all with only
``rfc8785`` installed; ``README.txt`` says how, including the C2PA check against the root
certificate the recipient trusts. Packs are never refused for policy reasons: evidence is most
needed when something went wrong.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import zipfile
from pathlib import Path
from typing import IO, Any

from assets import review
from assets.models import Asset
from governance import checkpoints, offline_verify, organisation
from governance.audit_trail import ActingUser, record_event
from governance.export import ExportScope, export_lines
from governance.provenance.credentials import read_credentials
from governance.provenance.xmp_parser import extract_xmp
from hallmark.errors import ServiceError

logger = logging.getLogger(__name__)


class EvidenceUnavailable(ServiceError):
    """The pack cannot be made (the stored file is missing or unreadable); the message says why (409)."""

    http_status = 409


PACK_FORMAT = "hallmark-evidence-pack/1"
_SPOOL_BYTES = 32 * 1024 * 1024

README = """\
Hallmark evidence pack for asset {asset_id}
{underline}

Made {made_at} by {made_by}. Format: {pack_format}.

What is inside
  {file_name}    the stored file, byte for byte (sha256 {sha256})
  asset.json             the asset record: hashes, size, prompt, seed, plugin, status, job
  c2pa_manifest.json     the file's C2PA manifest as JSON, and the validation Hallmark saw
  xmp.xml                the XMP packet embedded in the file (IPTC digital source type)
  license.json           the model licence recorded when the image was generated
  model_identity.json    the model: name, version, weights fingerprint, library versions
  policy.json            the organisation profile and the licence policy's verdict at packing time
  ATTRIBUTION.txt        the attribution text the licence asks for (travels with every use)
  audit.jsonl            every audit event on the asset and on its generation job
  verify_evidence.py     a standalone verifier (Python 3.11+, needs only `pip install rfc8785`;
                         `cryptography` too, to check the checkpoint signature)
  SHA256SUMS             sha256 of every other file in this pack

How to verify it offline
  1. Files: `sha256sum -c SHA256SUMS` (or let verify_evidence.py do it).
  2. Everything but C2PA in one go:
         python verify_evidence.py . --public-key <the audit checkpoint public key you trust>
     It checks SHA256SUMS (and fails without it), that the file's sha256 equals asset.json and
     the sha256 audited in the asset.created event, recomputes every audit event's hash, and
     checks the signed checkpoint in audit.jsonl against the key you give. It FAILS without
     --public-key: the key embedded in audit.jsonl came with the pack and proves nothing.
     `--no-checkpoint` checks the hashes only.
  3. What that proves, and what it does not. The checkpoint was signed when this pack was made,
     at the chain's head, which is normally the pack's own asset.evidence_exported event: its
     signature (with the key you trust) vouches for that event's hash. Each event's hash covers
     its prev_hash, so the signed event is tied to the whole chain before it, but the events of
     one asset are not contiguous in the chain and the events between them are not in this pack:
     that the asset's earlier events are in that same chain can be confirmed only against a full
     contiguous export (`manage.py audit_export`, verified from its anchor up to a signed
     checkpoint) or by Hallmark's `manage.py verify_audit`. Not signed at all: asset.json,
     license.json, model_identity.json, policy.json, ATTRIBUTION.txt, README.txt and the
     c2pa_manifest.json summary are Hallmark's statements, covered only by SHA256SUMS (which
     anyone can recompute); what is signed is the image (C2PA, below) and the checkpoint.
     Each line of audit.jsonl after the header is one event. Its hash is
         sha256( prev_hash (64 hex ASCII characters) || RFC 8785 canonical JSON of the event body )
     where the body holds exactly: seq, at, actor, actor_id, action, target_type, target_id,
     data, and each event carries its own prev_hash.
  4. C2PA: validate the file against the root certificate you trust, e.g. with c2pa-python:
         import c2pa, json
         ctx = c2pa.Context.from_dict({{"trust": {{"trust_anchors": open("root.pem").read()}},
                                       "verify": {{"remote_manifest_fetch": False}}}})
         reader = c2pa.Reader.try_create("{mime_type}", open("{file_name}", "rb"), None, ctx)
         print(json.loads(reader.json())["validation_state"])   # expect: Trusted
     or with the c2patool command line. "Valid" means intact but signed by a chain you do
     not trust; "Invalid" means the file changed after signing.

Attribution: {attribution}
"""


def _json(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n").encode(
        "utf-8"
    )


def asset_record(asset: Asset, file_name: str) -> dict[str, Any]:
    """The asset as recorded in Hallmark, for ``asset.json``."""
    return {
        "id": str(asset.pk),
        "file": file_name,
        "sha256": asset.sha256,
        "pixel_sha256": asset.pixel_sha256,
        "byte_size": asset.byte_size,
        "mime_type": asset.mime_type,
        "width": asset.width,
        "height": asset.height,
        "prompt": asset.prompt,
        "negative_prompt": asset.negative_prompt,
        "seed": str(asset.seed),
        "params": asset.params,
        "provider_data": asset.provider_data,
        "plugin": {"id": asset.plugin_id, "version": asset.plugin_version},
        "status": asset.status,
        "legal_hold": asset.legal_hold,
        "job": str(asset.job_id),
        "created_by": asset.created_by.get_username(),
        "created_at": asset.created_at.isoformat(),
    }


def build_evidence_pack(asset: Asset, *, acting_user: ActingUser) -> tuple[IO[bytes], str]:
    """Write the pack to a temporary file and return it (rewound) with its download name.

    The export is audited (``asset.evidence_exported``) before the audit events are read, so the
    pack records its own making. Reading the file and its credentials happens first, outside
    any transaction: the audit chain's lock is held only for the one event.
    """
    extension = Path(str(asset.file.name)).suffix or ".bin"
    file_name = f"asset/{asset.pk}{extension}"
    try:
        with asset.file.storage.open(str(asset.file.name), "rb") as handle:
            data = handle.read()
    except (OSError, ValueError) as exc:
        raise EvidenceUnavailable(
            f"The stored file of asset {asset.pk} cannot be read ({type(exc).__name__}); "
            "run `manage.py verify_assets` to see what happened to it."
        ) from None
    credentials = read_credentials(data, asset.mime_type)
    xmp = extract_xmp(data, asset.mime_type)
    profile = organisation.get_profile()
    purpose, violations = review.policy_violations(asset)
    attribution = str((asset.license or {}).get("attribution") or "")

    record_event(
        "asset.evidence_exported",
        acting_user=acting_user,
        target=asset,
        data={"sha256": hashlib.sha256(data).hexdigest(), "format": PACK_FORMAT},
    )
    # A checkpoint signed now covers every event of the asset, this one included: the pack's
    # recipient can check that the head it ends at was signed with the key they trust. An older
    # checkpoint would predate the newest events, which would then be vouched for by nothing.
    try:
        checkpoints.create_checkpoint(incremental=True)
    except checkpoints.CheckpointError as exc:
        # The pack is still made (evidence is most needed when something is wrong); its
        # verifier then fails on the checkpoint unless told to skip it, and the log says why.
        logger.warning("Evidence pack for asset %s: no fresh audit checkpoint: %s", asset.pk, exc)
    scope = ExportScope(
        targets=(("assets.asset", str(asset.pk)), ("generation.generationjob", str(asset.job_id)))
    )
    audit = "".join(export_lines(scope)).encode("utf-8")

    files: dict[str, bytes] = {
        file_name: data,
        "asset.json": _json(asset_record(asset, file_name)),
        "c2pa_manifest.json": _json(
            {
                "validation_state": credentials.validation_state,
                "validation_errors": credentials.validation_errors,
                "summary": credentials.summary,
                "manifest": credentials.manifest,
            }
        ),
        "license.json": _json(asset.license or {}),
        "model_identity.json": _json(asset.model_identity or {}),
        "policy.json": _json(
            {
                "profile": organisation.profile_data(profile),
                "purpose": purpose,
                "allowed": not violations,
                "violations": [v.as_dict() for v in violations],
            }
        ),
        "ATTRIBUTION.txt": (attribution + "\n").encode("utf-8"),
        "audit.jsonl": audit,
        "verify_evidence.py": Path(offline_verify.__file__).read_bytes(),
    }
    if xmp is not None:
        files["xmp.xml"] = xmp.encode("utf-8")
    made_by = getattr(acting_user, "username", "") or "system"
    files["README.txt"] = README.format(
        asset_id=asset.pk,
        underline="=" * (40 + len(str(asset.pk))),
        made_at=json.loads(audit.split(b"\n", 1)[0])["exported_at"],
        made_by=made_by,
        pack_format=PACK_FORMAT,
        file_name=file_name,
        sha256=asset.sha256,
        mime_type=asset.mime_type,
        attribution=attribution or "(none required)",
    ).encode("utf-8")
    sums = "".join(f"{hashlib.sha256(body).hexdigest()}  {name}\n" for name, body in sorted(files.items()))
    files["SHA256SUMS"] = sums.encode("ascii")

    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 - returned open
    with zipfile.ZipFile(spool, "w") as archive:
        for name, body in files.items():
            # Images are compressed already; text compresses well.
            method = zipfile.ZIP_STORED if name == file_name else zipfile.ZIP_DEFLATED
            archive.writestr(name, body, compress_type=method)
    spool.seek(0)
    return spool, f"hallmark-evidence-{asset.pk}.zip"
