"""The spend ledger: the only writer of ``Spend``. A job's row holds its estimate while it is
queued or running (``reserve``) and its actual cost once it ended (``settlement``, ``settle_all``); ``report``
sums a month per user and per plugin for admins."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Count, Q, Sum
from django.utils import timezone

from routing.models import Spend


def month_of(moment: datetime.datetime | None = None) -> datetime.date:
    """The first day of the month (UTC) that ``moment`` (default: now) falls in."""
    return (moment or timezone.now()).astimezone(datetime.UTC).date().replace(day=1)


def reserve(*, user: User, plugin_id: str, job_id: uuid.UUID, amount: Decimal, images: int) -> None:
    """Hold a queued job's estimated cost against the month (inside the submit transaction)."""
    Spend.objects.create(
        user=user, plugin_id=plugin_id, job_id=job_id, amount_usd=amount, images=images, month=month_of()
    )


def settlement(
    *,
    user_id: int,
    plugin_id: str,
    job_id: uuid.UUID,
    amount: Decimal,
    images: int,
    seconds_per_image: float | None,
    submitted_at: datetime.datetime | None,
) -> Spend:
    """A finished job's ledger row as ``settle_all`` writes it (not saved)."""
    return Spend(
        user_id=user_id,
        plugin_id=plugin_id,
        job_id=job_id,
        amount_usd=amount,
        images=images,
        seconds_per_image=seconds_per_image,
        month=month_of(submitted_at),
        settled=True,
        updated_at=timezone.now(),
    )


def settle_all(rows: list[Spend]) -> None:
    """Record several finished jobs' actual costs (``settlement`` rows) in one statement."""
    # One statement whether or not each job reserved a row at submission; ``month`` stays the
    # month the job was submitted in, which the reservation already says.
    Spend.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["job_id"],
        update_fields=["amount_usd", "images", "seconds_per_image", "settled", "updated_at"],
    )


def spent(month: datetime.date, *, user: User | None = None, group_id: int | None = None) -> Decimal:
    """What a user (or the members of a group) spent and hold reserved in ``month``."""
    rows = Spend.objects.filter(month=month)
    rows = rows.filter(user=user) if user is not None else rows.filter(user__groups=group_id)
    total = rows.aggregate(total=Sum("amount_usd"))["total"]
    return total if total is not None else Decimal(0)


def report(month: datetime.date) -> dict[str, Any]:
    """A month's spend per user and per plugin: settled amounts and estimates still held."""
    rows = Spend.objects.filter(month=month)
    sums = {
        "settled_sum": Sum("amount_usd", filter=Q(settled=True), default=Decimal(0)),
        "reserved_sum": Sum("amount_usd", filter=Q(settled=False), default=Decimal(0)),
        "job_count": Count("id"),
        "image_count": Sum("images", default=0),
    }
    by_user = rows.order_by().values("user__username").annotate(**sums).order_by("user__username")
    by_plugin = rows.order_by().values("plugin_id").annotate(**sums).order_by("plugin_id")
    totals = rows.aggregate(**sums)

    def shown(row: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "amount_usd": f"{row['settled_sum']:.6f}",
            "reserved_usd": f"{row['reserved_sum']:.6f}",
            "jobs": row["job_count"],
            "images": row["image_count"],
        }

    return {
        "month": month.strftime("%Y-%m"),
        "total": shown(totals),
        "by_user": [{"user": r["user__username"], **shown(r)} for r in by_user],
        "by_plugin": [{"plugin": r["plugin_id"], **shown(r)} for r in by_plugin],
    }
