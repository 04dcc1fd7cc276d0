"""``manage.py verify_audit``: walk the audit chain; exit non-zero naming the first bad event.

It also verifies signed checkpoints and that the chain still holds each checkpoint's event with
the same hash (catches a deleted or rewritten tail): those given with ``--checkpoint FILE``, or
by default the latest one in ``HALLMARK_AUDIT_CHECKPOINT_DIR`` when there is any (the chain
links every earlier event to it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance import checkpoints
from governance.audit_trail import verify_audit_chain
from hallmark import progress


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain. Exits 1 and names the first event that does not match."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--checkpoint",
            type=Path,
            action="append",
            default=[],
            help=(
                "A checkpoint file from `audit_checkpoint` to verify against (repeatable; default: "
                "the latest in HALLMARK_AUDIT_CHECKPOINT_DIR, if any)."
            ),
        )
        parser.add_argument(
            "--public-key",
            type=Path,
            help="The checkpoint signer's public key (default: beside HALLMARK_AUDIT_SIGNING_KEY).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = verify_audit_chain(
            # A bar on a terminal only (hallmark.progress): scripts and cron get the verdict alone.
            track=lambda events, total: progress.iterate(
                events, total=total, desc="audit events", unit="ev", stream=self.stderr
            )
        )
        if not report.ok:
            raise CommandError(
                f"Audit chain broken at {report.problem} ({report.events_checked} events verified before it)."
            )
        # The walk alone passes when the tail was cut and the head row rewound with it: only a
        # checkpoint signed outside the database still remembers the lost events.
        verified = []
        paths: list[Path] = list(options["checkpoint"])
        if not paths:
            latest = checkpoints.latest_checkpoint_file()
            paths = [latest] if latest is not None else []
        if paths:
            try:
                public_key = checkpoints.load_public_key(options["public_key"])
                for path in paths:
                    checkpoint = checkpoints.read_file(path)
                    problem = checkpoints.verify(checkpoint, public_key)
                    if problem is not None:
                        raise CommandError(f"Audit chain broken at {problem} (checkpoint {path}).")
                    verified.append(checkpoint)
            except checkpoints.CheckpointError as exc:
                raise CommandError(str(exc)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Audit chain intact: {report.events_checked} events, head seq {report.last_seq}, hash {report.last_hash}."
            )
        )
        for checkpoint in verified:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Checkpoint seq {checkpoint.seq} of {checkpoint.signed_at}: signature valid, chain holds it."
                )
            )
