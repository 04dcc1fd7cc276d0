"""The only writer of ``OrganisationProfile``: the facts licence policy is checked against."""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction

from governance.audit_trail import ActingUser, record_event
from governance.models import OrganisationProfile, RevenueBand
from governance.policy import Profile
from hallmark.errors import InvalidInput

_LICENSE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+\-]{0,99}$")
MAX_ENTERPRISE_LICENSES = 100


def get_profile() -> OrganisationProfile:
    """The organisation profile; its defaults until an admin saves one."""
    return OrganisationProfile.objects.filter(id=1).first() or OrganisationProfile(id=1)


def policy_profile() -> Profile:
    """The profile as ``governance.policy.check`` takes it."""
    row = get_profile()
    return Profile(
        commercial_use=row.commercial_use,
        revenue_band=row.revenue_band,
        enterprise_licenses=frozenset(row.enterprise_licenses or ()),
    )


def profile_data(row: OrganisationProfile) -> dict[str, Any]:
    """The profile's policy fields as plain data (API responses and audit events)."""
    return {
        "commercial_use": row.commercial_use,
        "revenue_band": row.revenue_band,
        "enterprise_licenses": list(row.enterprise_licenses or []),
    }


def clean_profile(values: Any) -> dict[str, Any]:
    """Validate a complete profile; ``InvalidInput`` names each field at fault."""
    if not isinstance(values, dict):
        raise InvalidInput({"non_field_errors": ["The request body must be a JSON object."]})
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(values) - {"commercial_use", "revenue_band", "enterprise_licenses"})
    for name in unknown:
        errors[name] = ["Unknown field."]
    commercial_use = values.get("commercial_use")
    if not isinstance(commercial_use, bool):
        errors["commercial_use"] = ["This field is required and must be true or false."]
    band = values.get("revenue_band")
    if band not in RevenueBand.values:
        errors["revenue_band"] = [f"Must be one of {', '.join(RevenueBand.values)}."]
    licenses = values.get("enterprise_licenses", [])
    cleaned: list[str] = []
    if not isinstance(licenses, list):
        errors["enterprise_licenses"] = ["Must be a list of licence ids."]
    elif len(licenses) > MAX_ENTERPRISE_LICENSES:
        errors["enterprise_licenses"] = [f"At most {MAX_ENTERPRISE_LICENSES} licence ids."]
    else:
        for item in licenses:
            if not isinstance(item, str) or not _LICENSE_ID.match(item):
                errors["enterprise_licenses"] = [
                    "Each entry must be an SPDX id or LicenseRef-..., e.g. LicenseRef-Stability-AI-Community."
                ]
                break
        else:
            cleaned = sorted(set(licenses))
    if errors:
        raise InvalidInput(errors)
    return {"commercial_use": commercial_use, "revenue_band": band, "enterprise_licenses": cleaned}


def update_profile(values: Any, *, acting_user: ActingUser) -> OrganisationProfile:
    """Replace the profile with ``values`` (validated) and audit the change as ``policy.updated``.

    Saving the same values again writes nothing and records nothing.
    """
    cleaned = clean_profile(values)
    with transaction.atomic():
        row, _ = OrganisationProfile.objects.select_for_update().get_or_create(id=1)
        before = profile_data(row)
        if before == cleaned:
            return row
        row.commercial_use = cleaned["commercial_use"]
        row.revenue_band = cleaned["revenue_band"]
        row.enterprise_licenses = cleaned["enterprise_licenses"]
        row.updated_by = acting_user if acting_user is not None and acting_user.is_authenticated else None  # type: ignore[assignment]
        row.save()
        record_event(
            "policy.updated",
            acting_user=acting_user,
            target=row,
            data={
                "before": before,
                "after": cleaned,
                "changed": sorted(k for k in cleaned if cleaned[k] != before[k]),
            },
        )
    return row
