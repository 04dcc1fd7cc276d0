"""The scheduled maintenance's own logic: which assets the nightly verification samples."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field

from assets.models import Asset
from assets.verification import check_stored_asset

logger = logging.getLogger(__name__)


@dataclass
class SampleReport:
    """How many assets were checked, and each failing asset's problems (code: message)."""

    checked: int = 0
    problems: dict[str, dict[str, str]] = field(default_factory=dict)


def sample_assets(size: int) -> list[Asset]:
    """About ``size`` assets picked at random, cheaply: the run of ids after a random uuid.

    Asset ids are random (uuid4), so the ``size`` ids following a random point are a random
    sample with respect to age, plugin and user, found through the primary key's index instead
    of sorting the whole table by random(). The run wraps around to the start of the ids.
    """
    if size <= 0:
        return []
    start = uuid.uuid4()
    after = list(Asset.objects.filter(pk__gte=start).order_by("pk")[:size])
    if len(after) < size:
        after += list(Asset.objects.filter(pk__lt=start).order_by("pk")[: size - len(after)])
    return after


def verify_sample(size: int) -> SampleReport:
    """Re-hash the files of a random sample of assets and re-validate their manifests."""
    report = SampleReport()
    for asset in sample_assets(size):
        report.checked += 1
        check = check_stored_asset(asset)
        if not check.ok:
            report.problems[str(asset.pk)] = dict(check.problems)
            for code, message in check.problems.items():
                logger.error("verify_assets sample: asset %s %s: %s", asset.pk, code, message)
    return report
