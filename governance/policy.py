"""Licence policy: may this organisation use an asset made under this licence for this purpose?

``check`` is a pure function of the licence snapshot an asset carries (``License.as_dict()`` at
generation time), the organisation's profile and the intended purpose. It returns every rule
the use would break; an empty list means the use is allowed. Callers (submitting for review,
approving, exporting) refuse the action when it is not empty and name the rules.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

COMMERCIAL = "commercial"
NON_COMMERCIAL = "non_commercial"
TRAINING = "training"
PURPOSES = (COMMERCIAL, NON_COMMERCIAL, TRAINING)

# Annual revenue bands in US$: [lower, upper) with None for "no upper bound".
REVENUE_BANDS: dict[str, tuple[int, int | None]] = {
    "under_1m": (0, 1_000_000),
    "1m_to_10m": (1_000_000, 10_000_000),
    "over_10m": (10_000_000, None),
}

# Rule names, as they appear in API errors, audit events and docs/governance.md.
RULE_LICENSE_MISSING = "license_missing"
RULE_COMMERCIAL_USE = "commercial_use_not_allowed"
RULE_REVENUE_CEILING = "revenue_ceiling_exceeded"
RULE_TRAINING = "training_not_allowed"
RULE_ORGANISATION_NON_COMMERCIAL = "organisation_non_commercial"
RULE_LICENSE_MALFORMED = "license_malformed"

# The rules each purpose checks. A purpose is "less strict" than another when it checks fewer of
# the rules: exporting "non_commercial" skips every commercial rule. Who may pick such a purpose
# is decided by the caller (assets.review.export_for_use): reviewers and admins only.
_PURPOSE_RULES: dict[str, frozenset[str]] = {
    COMMERCIAL: frozenset({RULE_ORGANISATION_NON_COMMERCIAL, RULE_COMMERCIAL_USE, RULE_REVENUE_CEILING}),
    NON_COMMERCIAL: frozenset(),
    TRAINING: frozenset({RULE_TRAINING}),
}


@dataclass(frozen=True)
class Violation:
    """One broken rule: its stable name and a sentence saying what to do about it."""

    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "message": self.message}

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


@dataclass(frozen=True)
class Profile:
    """The organisation as the policy sees it (see ``governance.models.OrganisationProfile``)."""

    commercial_use: bool = True
    revenue_band: str = "under_1m"
    enterprise_licenses: Collection[str] = field(default_factory=frozenset)


def purpose_for(profile: Profile) -> str:
    """The purpose an approved asset is meant for: the organisation's own kind of use."""
    return COMMERCIAL if profile.commercial_use else NON_COMMERCIAL


def is_less_strict(purpose: str, than: str) -> bool:
    """Whether checking ``purpose`` skips any rule that checking ``than`` would apply."""
    return not _PURPOSE_RULES[purpose] >= _PURPOSE_RULES[than]


def revenue_ceiling(value: Any) -> int | None:
    """A snapshot's ``revenue_ceiling_usd`` as whole US dollars; None when there is none.

    Integers, finite non-negative floats (``1e6``, ``1000000.0``) and decimal strings are
    coerced; anything else raises ``ValueError``: a ceiling that cannot be read must not be
    skipped as if there were none.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"revenue_ceiling_usd {value!r} is not an amount")
    if isinstance(value, int):
        amount = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"revenue_ceiling_usd {value!r} is not an amount")
        amount = math.floor(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"revenue_ceiling_usd {value!r} is not an amount") from None
        if not number.is_finite():
            raise ValueError(f"revenue_ceiling_usd {value!r} is not an amount")
        amount = math.floor(number)
    else:
        raise ValueError(f"revenue_ceiling_usd {value!r} is not an amount")
    if amount < 0:
        raise ValueError(f"revenue_ceiling_usd {value!r} is negative")
    return amount


def _usd(amount: int) -> str:
    return f"US${amount / 1_000_000:g}M" if amount >= 1_000_000 else f"US${amount:,}"


def check(license_snapshot: Mapping[str, Any], profile: Profile, purpose: str) -> list[Violation]:
    """Every rule that using an asset under ``license_snapshot`` for ``purpose`` would break.

    An enterprise licence the organisation holds for the same licence id lifts the licence's
    own limits (commercial use, revenue ceiling, training). The revenue ceiling is broken when
    the organisation's revenue band reaches it: a band that straddles the ceiling counts as
    above it, since the policy cannot prove otherwise.

    Malformed snapshots fail closed: only ``True`` (not a truthy string) allows commercial use
    or training, a missing ``allows_training`` does not allow training, numeric ceilings are
    coerced (``revenue_ceiling``) and an unreadable one is the ``license_malformed`` violation.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"Unknown purpose {purpose!r}; expected one of {', '.join(PURPOSES)}.")
    spdx_id = str(license_snapshot.get("spdx_id") or "")
    if not spdx_id:
        return [
            Violation(
                RULE_LICENSE_MISSING,
                "The asset records no licence, so no use of it can be shown to be allowed.",
            )
        ]
    violations: list[Violation] = []
    enterprise = spdx_id in set(profile.enterprise_licenses)
    if purpose == COMMERCIAL:
        if not profile.commercial_use:
            violations.append(
                Violation(
                    RULE_ORGANISATION_NON_COMMERCIAL,
                    "The organisation profile declares no commercial use; an admin must change it first.",
                )
            )
        if license_snapshot.get("commercial_use") is not True and not enterprise:
            violations.append(
                Violation(
                    RULE_COMMERCIAL_USE,
                    f"{spdx_id} does not allow commercial use, and the organisation holds no enterprise "
                    f"licence for it.",
                )
            )
        try:
            ceiling = revenue_ceiling(license_snapshot.get("revenue_ceiling_usd"))
        except ValueError as exc:
            ceiling = None
            if not enterprise:
                violations.append(
                    Violation(
                        RULE_LICENSE_MALFORMED,
                        f"The asset's licence snapshot for {spdx_id} is malformed ({exc}), so its "
                        "revenue ceiling cannot be checked.",
                    )
                )
        if ceiling is not None and not enterprise:
            lower, upper = REVENUE_BANDS.get(profile.revenue_band, (0, None))
            if upper is None or upper > ceiling:
                band = f"{_usd(lower)} or more" if upper is None else f"{_usd(lower)} to {_usd(upper)}"
                violations.append(
                    Violation(
                        RULE_REVENUE_CEILING,
                        f"{spdx_id} allows commercial use only below {_usd(ceiling)} annual revenue; the "
                        f"organisation's band is {band}. An enterprise licence for {spdx_id} is needed.",
                    )
                )
    # A snapshot that does not say training is allowed does not allow it.
    if purpose == TRAINING and license_snapshot.get("allows_training") is not True and not enterprise:
        violations.append(
            Violation(RULE_TRAINING, f"{spdx_id} does not allow using its outputs to train models.")
        )
    return violations
