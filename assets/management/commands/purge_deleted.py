"""``manage.py purge_deleted``: remove assets soft-deleted longer than the retention period."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from assets import retention


class Command(BaseCommand):
    help = (
        "Purge assets soft-deleted more than HALLMARK_RETENTION_DAYS ago: the row, and the file "
        "when no other asset uses the same bytes. Each leaves an asset.purged audit tombstone with "
        "the file's sha256 and the model identity. Assets under legal hold are kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            help=f"Override the retention period (default HALLMARK_RETENTION_DAYS={settings.HALLMARK_RETENTION_DAYS}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"]
        if days is not None and days < 0:
            days = 0
        report = retention.purge_deleted(retention_days=days)
        for asset_id in report.purged:
            self.stdout.write(f"purged {asset_id}")
        for asset_id, reason in report.skipped.items():
            self.stdout.write(f"kept {asset_id}: {reason}")
        self.stdout.write(
            f"{len(report.purged)} purged, {len(report.files_deleted)} files deleted, {len(report.skipped)} kept."
        )
