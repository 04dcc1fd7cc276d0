"""``manage.py make_synthetic_library --count N``: fill the database with N synthetic assets."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from hallmark.errors import InvalidInput
from workspace import synthetic


class Command(BaseCommand):
    """Bulk-load a realistic synthetic library (benchmarks, demos)."""

    help = (
        "Add N synthetic assets (jobs, tags, collections, review states, two years of dates, shared "
        "files) in bulk, owned by inactive synthetic users. Refuses a database that has been used (real "
        "assets or jobs, audit events beyond identity set-up) unless --force."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, required=True, help="How many assets to add.")
        parser.add_argument("--seed", type=int, default=1, help="Random seed (default 1).")
        parser.add_argument("--collections", type=int, default=200, help="Collections to make (default 200).")
        parser.add_argument("--force", action="store_true", help="Add to a database that has been used.")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()

        def progress(made: int) -> None:
            self.stdout.write(f"{made} assets ({time.monotonic() - started:.0f} s)")

        try:
            report = synthetic.build(
                options["count"],
                force=options["force"],
                seed=options["seed"],
                collections=options["collections"],
                progress=progress if options["verbosity"] > 1 else None,
            )
        except InvalidInput as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"Added {report.assets} assets in {report.jobs} jobs, {report.tag_links} tags on assets, "
            f"{report.collection_items} collection entries in {report.collections} collections "
            f"({time.monotonic() - started:.1f} s). Words in one prompt each: "
            f"{', '.join(sorted(report.rare_words)) or 'none'}."
        )
