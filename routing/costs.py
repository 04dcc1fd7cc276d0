"""What an image costs on a plugin, before (an estimate) and after (the actual cost) a job.

- ``per_image`` (hosted models): the price the admin configured (``cost_per_image`` in the
  plugin's configuration) or else the plugin's declared ``CostModel.per_image``; the actual
  cost is what the plugin reported for the job.
- ``compute`` (local models): ``HALLMARK_GPU_SECOND_PRICE_USD`` times the seconds an image
  takes. The estimate is the median seconds per image of the plugin's latest
  ``HALLMARK_ROUTING_ESTIMATE_JOBS`` finished jobs (``Spend.seconds_per_image``), or
  ``HALLMARK_ROUTING_SECONDS_PER_IMAGE`` until it has any; the actual cost uses the job's own
  seconds from start to finish.
- ``free``: nothing.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.conf import settings

from hallmark.sdk import Plugin
from routing.models import Spend

logger = logging.getLogger(__name__)

#: Costs are kept to the micro-dollar (the ledger's precision).
MICRO = Decimal("0.000001")


def basis_of(plugin_class: type[Plugin]) -> str:
    """The plugin's cost basis: ``free``, ``per_image`` or ``compute``."""
    return str(plugin_class.capabilities.cost.basis)


def seconds_per_image(plugin_id: str) -> float:
    """The median seconds per image of the plugin's latest finished jobs, or the configured default."""
    recent = [
        seconds
        for seconds in Spend.objects.filter(
            plugin_id=plugin_id, settled=True, seconds_per_image__isnull=False
        )
        .order_by("-updated_at")
        .values_list("seconds_per_image", flat=True)[: settings.HALLMARK_ROUTING_ESTIMATE_JOBS]
        if seconds is not None
    ]
    if not recent:
        return float(settings.HALLMARK_ROUTING_SECONDS_PER_IMAGE)
    return float(statistics.median(recent))


def cost_per_image(plugin_class: type[Plugin], config: Mapping[str, Any] | None = None) -> Decimal:
    """The estimated cost of one image, in US dollars."""
    basis = basis_of(plugin_class)
    if basis == "compute":
        price: Decimal = settings.HALLMARK_GPU_SECOND_PRICE_USD
        return (price * Decimal(str(seconds_per_image(plugin_class.id)))).quantize(MICRO)
    if basis == "per_image":
        configured = (config or {}).get("cost_per_image")
        per_image = (
            configured if isinstance(configured, int | float) else plugin_class.capabilities.cost.per_image
        )
        return Decimal(str(per_image)).quantize(MICRO)
    return Decimal(0)


def actual_cost(
    plugin_class: type[Plugin] | None,
    *,
    reported: Decimal | None,
    seconds: float | None,
    images: int,
    ran: bool,
    succeeded: bool,
) -> Decimal:
    """The cost of a finished job: GPU seconds for a local plugin (whatever the outcome: the
    GPU was busy), what a hosted plugin reported (or, when it reported nothing, its price per
    image for a success and nothing for a failure). ``ran`` is false for a job that ended before
    a worker started it (cancelled while queued): it cost nothing."""
    if not ran:
        return Decimal(0)
    basis = basis_of(plugin_class) if plugin_class is not None else "per_image"
    if basis == "compute":
        price: Decimal = settings.HALLMARK_GPU_SECOND_PRICE_USD
        return (price * Decimal(str(max(seconds or 0.0, 0.0)))).quantize(MICRO)
    # A report below zero (or not a number) would hand budget back: it is not trusted, and the
    # job costs what it would have cost with nothing reported.
    if reported is not None and reported.is_finite() and reported >= 0:
        return reported.quantize(MICRO)
    if reported is not None:
        logger.warning("ignored a reported cost of %s: not a number of dollars of at least 0", reported)
    if basis == "per_image" and succeeded and plugin_class is not None:
        return (cost_per_image(plugin_class) * images).quantize(MICRO)
    return Decimal(0)
