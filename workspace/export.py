"""Export a set of assets as one zip, streamed: never built whole in memory or on disk.

The zip holds, for each asset the licence policy allows for the purpose, its original file
byte for byte (content credentials intact: the same sha256 as the asset's record) and a JSON
sidecar (metadata, licence, attribution, model identity, review status); and ``index.csv``,
one row per asset asked for, saying whether it went in or which rules kept it out.
Members are stored, not compressed: the images are compressed already, and storing keeps the
export as fast as reading the files.

``prepare_export`` checks and audits (one ``assets.bundle_exported`` event listing every asset,
in or out) before a byte is sent; ``stream_zip`` then needs no database.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.files.storage import Storage
from django.db import transaction

from assets import review
from assets.models import Asset
from governance import organisation, policy
from governance.audit_trail import record_event
from hallmark.errors import InvalidInput

User = AbstractBaseUser | AnonymousUser

_CHUNK = 1 << 20
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
_INDEX_COLUMNS = ("asset", "included", "file", "sidecar", "sha256", "status", "plugin", "model", "license", "excluded_by", "prompt")


@dataclass(frozen=True)
class _Entry:
    asset_id: str
    storage: Storage
    name: str
    member: str
    sidecar: dict[str, Any]
    index_row: dict[str, str]
    included: bool


@dataclass
class ExportPlan:
    """What one export sends: every entry, in order, and the zip's file name."""

    filename: str
    purpose: str
    entries: list[_Entry] = field(default_factory=list)

    @property
    def included(self) -> int:
        return sum(1 for e in self.entries if e.included)


def clean_purpose(raw: Any) -> str | None:
    """The requested purpose (None: the organisation's own); ``InvalidInput`` naming ``purpose``."""
    if raw in (None, ""):
        return None
    if raw not in policy.PURPOSES:
        raise InvalidInput({"purpose": [f"Must be one of {', '.join(policy.PURPOSES)}."]})
    return str(raw)


def _sidecar(asset: Asset, purpose: str, violations: list[policy.Violation]) -> dict[str, Any]:
    licence = asset.license if isinstance(asset.license, dict) else {}
    return {
        "id": str(asset.pk),
        "sha256": asset.sha256,
        "pixel_sha256": asset.pixel_sha256,
        "mime_type": asset.mime_type,
        "byte_size": asset.byte_size,
        "width": asset.width,
        "height": asset.height,
        "prompt": asset.prompt,
        "negative_prompt": asset.negative_prompt,
        "seed": asset.seed,
        "params": asset.params,
        "plugin": {"id": asset.plugin_id, "version": asset.plugin_version},
        "model": asset.model_identity,
        "license": licence,
        "attribution": licence.get("attribution", ""),
        "review_status": asset.status,
        "created_by": asset.created_by.get_username(),
        "created_at": asset.created_at.isoformat(),
        "policy": {"purpose": purpose, "violations": [v.as_dict() for v in violations]},
    }


def _cell(value: str) -> str:
    # A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def prepare_export(
    assets: list[Asset], *, acting_user: User, purpose: str | None, target: Any, label: str
) -> ExportPlan:
    """Check each asset against the licence policy, audit the export, and plan the zip.

    ``assets`` are live assets (``created_by`` selected). ``target`` is what the audit event
    is about (a collection, or ``("workspace.export", id)``). Raises ``NotPermitted`` for a
    purpose less strict than the organisation's own asked by someone who is not a reviewer.
    """
    limit = settings.HALLMARK_EXPORT_MAX_ASSETS
    if len(assets) > limit:
        raise InvalidInput({"assets": [f"At most {limit} assets in one export (HALLMARK_EXPORT_MAX_ASSETS)."]})
    review.permitted_purpose(purpose, acting_user=acting_user)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    plan = ExportPlan(filename=f"hallmark-{label}-{stamp}.zip", purpose="")
    for asset in assets:
        chosen, violations = review.policy_violations(asset, purpose)
        plan.purpose = chosen
        ext = _EXTENSIONS.get(asset.mime_type, "bin")
        included = not violations
        member = f"assets/{asset.pk}.{ext}" if included else ""
        sidecar_name = f"assets/{asset.pk}.json" if included else ""
        model = asset.model_identity if isinstance(asset.model_identity, dict) else {}
        licence = asset.license if isinstance(asset.license, dict) else {}
        row = {
            "asset": str(asset.pk),
            "included": "yes" if included else "no",
            "file": member,
            "sidecar": sidecar_name,
            "sha256": asset.sha256,
            "status": asset.status,
            "plugin": asset.plugin_id,
            "model": f"{model.get('name', '')} {model.get('version', '')}".strip(),
            "license": str(licence.get("spdx_id", "")),
            "excluded_by": "; ".join(v.rule for v in violations),
            "prompt": asset.prompt,
        }
        plan.entries.append(
            _Entry(str(asset.pk), asset.file.storage, str(asset.file.name), member, _sidecar(asset, chosen, violations), row, included)
        )
    plan.purpose = plan.purpose or purpose or policy.purpose_for(organisation.policy_profile())
    with transaction.atomic():
        record_event(
            "assets.bundle_exported",
            acting_user=acting_user,
            target=target,
            data={
                "purpose": plan.purpose,
                "purpose_chosen_by_caller": purpose is not None,
                "included": [{"id": e.asset_id, "sha256": e.index_row["sha256"]} for e in plan.entries if e.included],
                "excluded": [
                    {"id": e.asset_id, "rules": e.index_row["excluded_by"].split("; ")}
                    for e in plan.entries
                    if not e.included
                ],
            },
        )
    return plan


class _Pipe(io.RawIOBase):
    """A write-only, unseekable stream whose bytes are taken out as they come (``drain``)."""

    def __init__(self) -> None:
        super().__init__()
        self._chunks: list[bytes] = []
        self._written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._chunks.append(chunk)
        self._written += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        # zipfile asks where it is to write local headers' offsets; it never seeks back on an
        # unseekable stream (it writes data descriptors instead).
        return self._written

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def stream_zip(plan: ExportPlan) -> Iterator[bytes]:
    """The zip's bytes, a piece at a time (at most about ``_CHUNK`` held at once)."""
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for entry in plan.entries:
            if not entry.included:
                continue
            info = zipfile.ZipInfo(entry.member, date_time=_now_tuple())
            with entry.storage.open(entry.name, "rb") as source, archive.open(info, "w", force_zip64=True) as member:
                while chunk := source.read(_CHUNK):
                    member.write(chunk)
                    yield pipe.drain()
            sidecar = json.dumps(entry.sidecar, indent=2, sort_keys=True, default=str).encode()
            archive.writestr(zipfile.ZipInfo(entry.member.rsplit(".", 1)[0] + ".json", date_time=_now_tuple()), sidecar)
            yield pipe.drain()
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=_INDEX_COLUMNS)
        writer.writeheader()
        for entry in plan.entries:
            writer.writerow({k: _cell(v) for k, v in entry.index_row.items()})
        archive.writestr(zipfile.ZipInfo("index.csv", date_time=_now_tuple()), text.getvalue().encode())
    yield pipe.drain()


def _now_tuple() -> tuple[int, int, int, int, int, int]:
    now = datetime.now(UTC)
    return (now.year, now.month, now.day, now.hour, now.minute, now.second)

