"""``manage.py audit_export``: the audit trail as verifiable JSON Lines (see docs/governance.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.export import ExportScope, export_lines, parse_bound
from hallmark import progress


class Command(BaseCommand):
    help = (
        "Export audit events as JSON Lines with a header that allows offline verification: a time "
        "range (--after inclusive, --before exclusive), one target's events, or everything."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--after", help="ISO 8601 date or date-time (inclusive; naive = UTC).")
        parser.add_argument("--before", help="ISO 8601 date or date-time (exclusive; naive = UTC).")
        parser.add_argument("--target-type", help="e.g. assets.asset (needs --target-id).")
        parser.add_argument("--target-id", help="The target's id (needs --target-type).")
        parser.add_argument("-o", "--output", type=Path, help="Write here instead of standard output.")
        parser.add_argument(
            "--no-checkpoint",
            action="store_true",
            help="Leave the latest signed checkpoint out of the header.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            after = parse_bound(options["after"]) if options["after"] else None
            before = parse_bound(options["before"]) if options["before"] else None
        except ValueError as exc:
            raise CommandError(f"--after/--before: {exc}") from None
        target_type, target_id = options["target_type"], options["target_id"]
        if bool(target_type) != bool(target_id):
            raise CommandError("--target-type and --target-id go together.")
        scope = ExportScope(
            after=after, before=before, targets=((target_type, target_id),) if target_type else ()
        )
        # On a terminal, a count of the lines written goes to standard error (hallmark.progress);
        # the export itself is untouched, on standard output or in the file.
        lines = progress.iterate(
            export_lines(scope, include_checkpoint=not options["no_checkpoint"]),
            total=None,
            desc="audit export",
            unit="line",
            stream=self.stderr,
        )
        if options["output"] is None:
            for line in lines:
                self.stdout.write(line, ending="")
            return
        written = 0
        with options["output"].open("w", encoding="utf-8") as handle:
            for line in lines:
                handle.write(line)
                written += 1
        # The first line is the header.
        self.stderr.write(f"Wrote {written - 1} events to {options['output']}.")
