"""``manage.py verify_audit``: walk the audit chain; exit non-zero naming the first bad event."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from governance.services import verify_audit_chain


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain. Exits 1 and names the first event that does not match."

    def handle(self, *args: Any, **options: Any) -> None:
        report = verify_audit_chain()
        if not report.ok:
            raise CommandError(
                f"Audit chain broken at {report.problem} ({report.events_checked} events verified before it)."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Audit chain intact: {report.events_checked} events, head seq {report.last_seq}, hash {report.last_hash}."
            )
        )
