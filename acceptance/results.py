"""Queries over check results for other apps: which assets passed or failed their checks."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q

from acceptance.models import CheckResult

#: The library's ``?checks=`` values.
CHECK_VERDICTS = ("passed", "failed")


def verdict_filter(verdict: str) -> Q:
    """Assets whose checks ``passed`` (checked, and no check failed) or ``failed`` (a check
    failed), as one EXISTS subquery each over the (asset, passed) index."""
    failed = Exists(CheckResult.objects.filter(asset=OuterRef("pk"), passed=False))
    if verdict == "failed":
        return Q(failed)
    return Q(Exists(CheckResult.objects.filter(asset=OuterRef("pk"), passed=True))) & ~Q(failed)
