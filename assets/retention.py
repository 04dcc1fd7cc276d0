"""Legal hold, soft deletion and purge: what keeps an asset, and what removes it.

With ``assets.services`` and ``assets.review`` the only writers of ``Asset``. A held asset
cannot be archived or deleted; a deleted one leaves every list at once and is purged (row and,
when no other asset shares its bytes, file) after ``HALLMARK_RETENTION_DAYS``, leaving an
``asset.purged`` tombstone in the audit trail. Refusals are the review module's errors, so the
API and pages map them the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from assets.models import Asset, AssetStatus
from assets.review import (
    MAX_HOLD_REASON_LENGTH,
    NotPermitted,
    TransitionNotAllowed,
    User,
    clean_reason,
    get_asset,
    locked_live_asset,
)
from governance import roles
from governance.audit_trail import record_event
from hallmark.errors import InvalidInput


def set_legal_hold(asset_id: Any, *, acting_user: User, hold: Any, reason: Any = "") -> Asset:
    """Place (``hold=True``, reason required) or release a legal hold; reviewers and admins.

    A hold may be placed on a soft-deleted asset that is not purged yet: it stops the purge.
    """
    if not roles.has_role(acting_user, roles.REVIEWER):
        raise NotPermitted("Only reviewers and admins may place or release a legal hold.")
    if not isinstance(hold, bool):
        raise InvalidInput({"hold": ["Must be true or false."]})
    if hold:
        text = clean_reason(reason, max_length=MAX_HOLD_REASON_LENGTH)
    else:
        text = reason.strip() if isinstance(reason, str) else ""
        if len(text) > MAX_HOLD_REASON_LENGTH or "\x00" in text:
            raise InvalidInput({"reason": [f"Must be at most {MAX_HOLD_REASON_LENGTH} characters."]})
    with transaction.atomic():
        asset = get_asset(Asset.objects.select_for_update(), asset_id)
        if asset.legal_hold == hold:
            state = "already under legal hold" if hold else "not under legal hold"
            raise TransitionNotAllowed(f"The asset is {state}.")
        asset.legal_hold = hold
        asset.legal_hold_reason = text if hold else ""
        asset.save(update_fields=["legal_hold", "legal_hold_reason"])
        record_event(
            "asset.legal_hold_set" if hold else "asset.legal_hold_released",
            acting_user=acting_user,
            target=asset,
            data={"reason": text},
        )
    return asset


def soft_delete(asset_id: Any, *, acting_user: User) -> Asset:
    """Mark an asset deleted: admins may delete any asset, its creator only a draft; never
    one under legal hold. It leaves every list now and is purged after the retention period."""
    with transaction.atomic():
        asset = locked_live_asset(asset_id)
        if not roles.has_role(acting_user, roles.ADMIN):
            # As for submitting: the creator role is needed as well as ownership.
            if asset.created_by_id != acting_user.pk or not roles.has_role(acting_user, roles.CREATOR):
                raise NotPermitted(
                    "Only admins, or the creator of a draft (holding the creator role), may delete an asset."
                )
            if asset.status != AssetStatus.DRAFT:
                raise NotPermitted(
                    f"The asset is {asset.status}: only admins may delete it; its creator only while it is a draft."
                )
        if asset.legal_hold:
            raise TransitionNotAllowed("The asset is under legal hold and cannot be deleted.")
        asset.deleted_at = timezone.now()
        asset.deleted_by = acting_user  # type: ignore[assignment]
        asset.save(update_fields=["deleted_at", "deleted_by"])
        record_event(
            "asset.deleted",
            acting_user=acting_user,
            target=asset,
            data={
                "status": asset.status,
                "sha256": asset.sha256,
                "purge_after_days": settings.HALLMARK_RETENTION_DAYS,
            },
        )
    return asset


@dataclass
class PurgeReport:
    """What a purge did: assets removed, files removed, assets kept and why."""

    purged: list[str] = field(default_factory=list)
    files_deleted: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def _blocking_references(asset: Asset) -> list[str]:
    """Rows elsewhere that refuse to lose this asset (PROTECT / RESTRICT / DO_NOTHING foreign
    keys). Cascading relations (renditions and the like) go with it; many-to-many links
    (collections) are cleared."""
    blockers = []
    for relation in Asset._meta.related_objects:
        if relation.many_to_many or relation.on_delete not in (
            models.PROTECT,
            models.RESTRICT,
            models.DO_NOTHING,
        ):
            continue
        related = relation.related_model._base_manager.filter(**{relation.field.name: asset})
        if related.exists():
            blockers.append(relation.related_model._meta.label_lower)
    return blockers


def purge_deleted(*, now: datetime | None = None, retention_days: int | None = None) -> PurgeReport:
    """Remove assets soft-deleted more than ``HALLMARK_RETENTION_DAYS`` ago: the row, and the
    file when no other asset row uses the same bytes, leaving an ``asset.purged`` tombstone with
    the file's sha256 and the model identity. Held or still referenced assets are kept.

    Each asset goes in its own transaction; its file is deleted only after that commits, so a
    failure never leaves a row without its file (at worst a file without a row).
    """
    days = settings.HALLMARK_RETENTION_DAYS if retention_days is None else retention_days
    cutoff = (now or timezone.now()) - timedelta(days=days)
    report = PurgeReport()
    candidates = Asset.objects.filter(deleted_at__lt=cutoff).values_list("pk", flat=True)
    for asset_id in list(candidates):
        with transaction.atomic():
            asset = Asset.objects.select_for_update().filter(pk=asset_id, deleted_at__lt=cutoff).first()
            if asset is None:
                continue
            if asset.legal_hold:
                report.skipped[str(asset_id)] = "under legal hold"
                continue
            blockers = _blocking_references(asset)
            if blockers:
                report.skipped[str(asset_id)] = f"still referenced by {', '.join(blockers)}"
                continue
            name = str(asset.file.name)
            shared = Asset.objects.filter(file=name).exclude(pk=asset.pk).exists()
            record_event(
                "asset.purged",
                acting_user=None,
                system_actor="retention",
                target=asset,
                data={
                    "sha256": asset.sha256,
                    "pixel_sha256": asset.pixel_sha256,
                    "model": asset.model_identity,
                    "plugin": {"id": asset.plugin_id, "version": asset.plugin_version},
                    "license": asset.license.get("spdx_id", "") if isinstance(asset.license, dict) else "",
                    "job_id": str(asset.job_id),
                    "deleted_at": asset.deleted_at,
                    "deleted_by": asset.deleted_by.get_username() if asset.deleted_by else None,
                    "file_deleted": not shared,
                    "retention_days": days,
                },
            )
            storage = asset.file.storage
            thumbnail = str(asset.thumbnail.name or "")
            asset.delete()
            if not shared:
                transaction.on_commit(_file_remover(storage, name, report))
            if thumbnail:
                transaction.on_commit(_file_remover(storage, thumbnail, report))
            report.purged.append(str(asset_id))
    return report


def _file_remover(storage: Any, name: str, report: PurgeReport) -> Callable[[], None]:
    def remove() -> None:
        # Content addressed: a new asset with the same bytes may have appeared meanwhile.
        in_use = Asset.objects.filter(Q(file=name) | Q(thumbnail=name)).exists()
        if not in_use and storage.exists(name):
            storage.delete(name)
            report.files_deleted.append(name)

    return remove
