"""``manage.py backfill_fingerprints``: record the PDQ fingerprint of assets stored without one."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from assets import soft_binding


class Command(BaseCommand):
    help = (
        "Compute and record the PDQ fingerprint (soft binding, docs/provenance.md) of every asset "
        "stored before fingerprints were recorded, from its stored file. Safe to run again: "
        "assets that have one are left as they are. A file that is missing, cannot be decoded or "
        "no longer hashes to the asset's recorded sha256 is counted and skipped (the mismatched "
        "assets are listed). The run is audited as asset.fingerprints_backfilled."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=200, help="Assets read per query (1-10000).")

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = options["batch_size"]
        if not 1 <= batch_size <= 10_000:
            raise CommandError("--batch-size must be between 1 and 10000.")
        counts = soft_binding.backfill(batch_size=batch_size)
        for asset_id in counts.mismatched:
            self.stdout.write(f"{asset_id}: the stored file's sha256 differs from the record; skipped.")
        self.stdout.write(
            f"{counts.recorded} fingerprints recorded, {counts.unreadable} files unreadable, "
            f"{len(counts.mismatched)} files not matching their recorded sha256."
        )
