"""The review workflow and its licence-policy checks: with ``assets.services`` (which creates
assets) and ``assets.retention`` (legal hold, deletion, purge) the only writers of ``Asset``
(``Asset.WRITERS``).

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

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models, transaction

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
    asset = get_asset(Asset.objects.live(), asset_id)
    if asset.status != AssetStatus.APPROVED:
        raise TransitionNotAllowed(
            f"Only approved assets can be exported for use; this one is {asset.status}."
        )
    own_purpose = permitted_purpose(purpose, acting_user=acting_user)
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


def permitted_purpose(purpose: str | None, *, acting_user: User) -> str:
    """Check that ``acting_user`` may export for ``purpose`` (``NotPermitted`` else); return the
    organisation's own purpose.

    A caller-chosen purpose that checks fewer rules (non_commercial skips every commercial
    rule) is a judgement about the use, so it is a reviewer's or an admin's to make.
    """
    own_purpose = policy.purpose_for(organisation.policy_profile())
    if (
        purpose is not None
        and policy.is_less_strict(purpose, own_purpose)
        and not roles.has_role(acting_user, roles.REVIEWER)
    ):
        raise NotPermitted(
            f"Only reviewers and admins may export for the purpose {purpose!r}, which checks fewer "
            f"licence rules than the organisation's own ({own_purpose!r})."
        )
    return own_purpose


def get_asset(assets: models.QuerySet[Asset], asset_id: Any) -> Asset:
    """The asset ``asset_id`` from ``assets``; ``NoSuchAsset`` (a 404) when it is not there."""
    try:
        return assets.get(pk=asset_id)
    except Asset.DoesNotExist:
        raise NoSuchAsset("No such asset.") from None


def locked_live_asset(asset_id: Any) -> Asset:
    """The live asset ``asset_id``, row-locked for this transaction (``NoSuchAsset`` for
    unknown and soft-deleted assets alike)."""
    return get_asset(Asset.objects.live().select_for_update(), asset_id)


def _transition(
    action: str, asset_id: Any, *, acting_user: User, data: dict[str, Any] | None = None
) -> Asset:
    sources, target = TRANSITIONS[action]
    with transaction.atomic():
        asset = locked_live_asset(asset_id)
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
