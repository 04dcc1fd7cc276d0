"""Review status, legal hold, deletion and purge: with ``assets.services`` (which creates assets)
the only writers of ``Asset`` (``Asset.WRITERS``).

Review states (docs/governance.md)::

    draft ──submit──> in_review ──approve──> approved ──archive──> archived
                        │  ^                                         ^
                     reject └──submit (resubmission)                 │
                        v                                            │
                     rejected ────────────────archive────────────────┘

Who: the asset's creator (or an admin) submits; reviewers and admins approve, reject and
archive; nobody approves or rejects an asset they requested themselves, admins included (four
eyes). Submitting and approving check the licence policy. A held asset cannot be archived or
deleted. Every change is audited in the same transaction, with the acting user.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from assets.models import Asset, AssetStatus
from governance import organisation, policy, roles
from governance.audit_trail import record_event
from hallmark.errors import InvalidInput, ServiceError

User = AbstractBaseUser | AnonymousUser

MAX_REASON_LENGTH = 1000
MAX_HOLD_REASON_LENGTH = 500


class ReviewError(ServiceError):
    """A review action was refused; the message says why, for the user. Each subclass names
    its HTTP status (``http_status``), which the API and the review pages both use."""


class NoSuchAsset(ReviewError, Asset.DoesNotExist):
    """No live asset has this id (404); still an ``Asset.DoesNotExist`` for callers that ask."""

    http_status = 404


class NotPermitted(ReviewError):
    """The acting user may not do this to this asset (403)."""

    http_status = 403


class TransitionNotAllowed(ReviewError):
    """The asset's current state does not allow this action (409)."""

    http_status = 409


class PolicyRefused(ReviewError):
    """The licence policy forbids the intended use (422); ``violations`` name the rules."""

    http_status = 422

    def __init__(self, violations: list[policy.Violation], purpose: str) -> None:
        self.violations = violations
        self.purpose = purpose
        rules = "; ".join(str(v) for v in violations)
        super().__init__(f"The licence policy refuses {purpose.replace('_', '-')} use: {rules}")

    def response_data(self) -> dict[str, Any]:
        """The message, ``errors.policy`` and ``violations`` (each rule as data), and the purpose."""
        return {
            "detail": str(self),
            "errors": {"policy": [str(v) for v in self.violations]},
            "purpose": self.purpose,
            "violations": [v.as_dict() for v in self.violations],
        }


# action -> (states it may start from, state it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "submit": (frozenset({AssetStatus.DRAFT, AssetStatus.REJECTED}), AssetStatus.IN_REVIEW),
    "approve": (frozenset({AssetStatus.IN_REVIEW}), AssetStatus.APPROVED),
    "reject": (frozenset({AssetStatus.IN_REVIEW}), AssetStatus.REJECTED),
    "archive": (frozenset({AssetStatus.APPROVED, AssetStatus.REJECTED}), AssetStatus.ARCHIVED),
}
_EVENTS = {
    "submit": "asset.submitted_for_review",
    "approve": "asset.approved",
    "reject": "asset.rejected",
    "archive": "asset.archived",
}


def allowed_actions(asset: Asset, user: User) -> set[str]:
    """The review actions ``user`` could take on ``asset`` now (for buttons on pages)."""
    actions = set()
    for name, (sources, _) in TRANSITIONS.items():
        if asset.status in sources and _permission_problem(name, asset, user) is None:
            if name == "archive" and asset.legal_hold:
                continue
            actions.add(name)
    return actions


def _permission_problem(action: str, asset: Asset, user: User) -> str | None:
    is_admin = roles.has_role(user, roles.ADMIN)
    if action == "submit":
        # Ownership alone is not enough: a creator demoted to viewer keeps their old assets
        # but must no longer push them into review.
        if is_admin or (asset.created_by_id == user.pk and roles.has_role(user, roles.CREATOR)):
            return None
        return "Only the asset's creator (holding the creator role) or an admin may submit it for review."
    if not roles.has_role(user, roles.REVIEWER):
        return f"You need the reviewer role to {action} assets."
    if action in ("approve", "reject") and asset.created_by_id == user.pk:
        return (
            f"Four eyes: you requested this asset, so you cannot {action} it yourself; another reviewer must."
        )
    return None


def policy_violations(asset: Asset, purpose: str | None = None) -> tuple[str, list[policy.Violation]]:
    """The licence policy's verdict on using ``asset`` for ``purpose`` (by default the
    organisation's own kind of use): ``(purpose, violations)``."""
    profile = organisation.policy_profile()
    chosen = purpose or policy.purpose_for(profile)
    return chosen, policy.check(asset.license or {}, profile, chosen)


def enforce_policy(asset: Asset, purpose: str | None = None) -> str:
    """Raise ``PolicyRefused`` unless the policy allows the use; return the purpose checked."""
    chosen, violations = policy_violations(asset, purpose)
    if violations:
        raise PolicyRefused(violations, chosen)
    return chosen


def export_for_use(asset_id: Any, *, acting_user: User, purpose: str | None = None) -> tuple[Asset, str]:
    """Release an approved asset for use outside Hallmark: checks the licence policy for the
    purpose (``PolicyRefused``) and audits the export as ``asset.exported``. Returns the asset
    and the purpose checked; the caller sends the file with its licence and attribution."""
    asset = _get(Asset.objects.live(), asset_id)
    if asset.status != AssetStatus.APPROVED:
        raise TransitionNotAllowed(
            f"Only approved assets can be exported for use; this one is {asset.status}."
        )
    own_purpose = policy.purpose_for(organisation.policy_profile())
    # A caller-chosen purpose that checks fewer rules (non_commercial skips every commercial
    # rule) is a judgement about the use, so it is a reviewer's or an admin's to make.
    if (
        purpose is not None
        and policy.is_less_strict(purpose, own_purpose)
        and not roles.has_role(acting_user, roles.REVIEWER)
    ):
        raise NotPermitted(
            f"Only reviewers and admins may export for the purpose {purpose!r}, which checks fewer "
            f"licence rules than the organisation's own ({own_purpose!r})."
        )
    chosen = enforce_policy(asset, purpose)
    record_event(
        "asset.exported",
        acting_user=acting_user,
        target=asset,
        data={
            "purpose": chosen,
            "organisation_purpose": own_purpose,
            "purpose_chosen_by_caller": purpose is not None,
            "sha256": asset.sha256,
            "license": (asset.license or {}).get("spdx_id", ""),
        },
    )
    return asset, chosen


def _get(assets: models.QuerySet[Asset], asset_id: Any) -> Asset:
    try:
        return assets.get(pk=asset_id)
    except Asset.DoesNotExist:
        raise NoSuchAsset("No such asset.") from None


def _locked(asset_id: Any) -> Asset:
    # NoSuchAsset for unknown and soft-deleted assets alike.
    return _get(Asset.objects.live().select_for_update(), asset_id)


def _transition(
    action: str, asset_id: Any, *, acting_user: User, data: dict[str, Any] | None = None
) -> Asset:
    sources, target = TRANSITIONS[action]
    with transaction.atomic():
        asset = _locked(asset_id)
        problem = _permission_problem(action, asset, acting_user)
        if problem is not None:
            raise NotPermitted(problem)
        if asset.status not in sources:
            allowed = " or ".join(sorted(sources))
            raise TransitionNotAllowed(
                f"Cannot {action} an asset that is {asset.status}; it must be {allowed}."
            )
        if action == "archive" and asset.legal_hold:
            raise TransitionNotAllowed("The asset is under legal hold and cannot be archived.")
        event_data = {"from": asset.status, "to": target, **(data or {})}
        if action in ("submit", "approve"):
            # Checked again on approval: the organisation profile may have changed since.
            event_data["policy"] = {"purpose": enforce_policy(asset), "violations": []}
        asset.status = target
        asset.save(update_fields=["status"])
        record_event(_EVENTS[action], acting_user=acting_user, target=asset, data=event_data)
    return asset


def submit_for_review(asset_id: Any, *, acting_user: User) -> Asset:
    """draft or rejected -> in_review, by the asset's creator or an admin, if policy allows."""
    return _transition("submit", asset_id, acting_user=acting_user)


def approve(asset_id: Any, *, acting_user: User) -> Asset:
    """in_review -> approved, by a reviewer or admin other than the requester, if policy allows."""
    return _transition("approve", asset_id, acting_user=acting_user)


def clean_reason(reason: Any, *, field_name: str = "reason", max_length: int = MAX_REASON_LENGTH) -> str:
    """A required, non-blank reason of bounded length; ``InvalidInput`` naming the field."""
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput({field_name: ["A reason is required."]})
    text = reason.strip()
    if len(text) > max_length:
        raise InvalidInput({field_name: [f"Must be at most {max_length} characters."]})
    if "\x00" in text:
        raise InvalidInput({field_name: ["Must not contain NUL characters."]})
    return text


def reject(asset_id: Any, *, acting_user: User, reason: Any) -> Asset:
    """in_review -> rejected, with a reason, by a reviewer or admin other than the requester."""
    return _transition("reject", asset_id, acting_user=acting_user, data={"reason": clean_reason(reason)})


def archive(asset_id: Any, *, acting_user: User) -> Asset:
    """approved or rejected -> archived, by a reviewer or admin; never while held."""
    return _transition("archive", asset_id, acting_user=acting_user)


# ---------------------------------------------------------------------------------------------
# Legal hold and deletion
# ---------------------------------------------------------------------------------------------


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
        asset = _get(Asset.objects.select_for_update(), asset_id)
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
        asset = _locked(asset_id)
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
