"""``manage.py verify_assets``: every stored file still matches its record and its manifest.

Re-hashes each asset's file against ``Asset.sha256`` and re-validates its C2PA manifest
(trusted chain, Hallmark assertion naming this asset). Prints one line per problem and exits
non-zero when there is any, so it can run from cron or CI.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from assets.models import Asset
from assets.verification import check_stored_asset
from hallmark import progress


class Command(BaseCommand):
    """Re-hash every stored asset file and re-validate its content credentials."""

    help = "Re-hash every stored asset file and re-validate its C2PA manifest; exit 1 on any mismatch."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("asset_ids", nargs="*", help="Only these assets (default: all).")
        parser.add_argument("--quiet", action="store_true", help="Print problems only.")

    def handle(self, *args: Any, **options: Any) -> None:
        assets = Asset.objects.order_by("created_at", "id")
        if options["asset_ids"]:
            assets = assets.filter(pk__in=options["asset_ids"])
        checked = failed = 0
        # iterator(): one row at a time, and a file is read only while it is being checked.
        # A bar on a terminal only (hallmark.progress); problems are written above it.
        rows = progress.iterate(
            assets.iterator(chunk_size=200), total=assets.count(), desc="assets", stream=self.stderr
        )
        for asset in rows:
            checked += 1
            check = check_stored_asset(asset)
            if check.ok:
                continue
            failed += 1
            for code, message in check.problems.items():
                self.stdout.write(f"{asset.pk} {code}: {message}")
        summary = f"{checked} assets checked, {failed} with problems."
        if failed:
            raise CommandError(summary)
        if not options["quiet"]:
            self.stdout.write(self.style.SUCCESS(summary))
