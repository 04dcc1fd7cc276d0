"""``manage.py backfill_fingerprints``: record the PDQ fingerprint of assets stored without one."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from assets import soft_binding


class Command(BaseCommand):
    help = (
        "Compute and record the PDQ fingerprint (soft binding, docs/provenance.md) of every asset "
        "stored before fingerprints were recorded, from its stored file. Safe to run again: "
        "assets that have one are left as they are. A file that is missing or cannot be decoded "
        "is counted and skipped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=200, help="Assets read per query (1-10000).")

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = options["batch_size"]
        if not 1 <= batch_size <= 10_000:
            raise CommandError("--batch-size must be between 1 and 10000.")
        recorded, unreadable = soft_binding.backfill(batch_size=batch_size)
        self.stdout.write(f"{recorded} fingerprints recorded, {unreadable} files unreadable.")
