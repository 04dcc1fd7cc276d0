"""Audit trail costs: appending an event, walking the chain, exporting and verifying offline,
signing a checkpoint.

    .venv/bin/python bench/bench_audit.py [--events 100000] [--database postgres://postgres@127.0.0.1:5432/hallmark_audit_bench]

Uses a throwaway var dir (and, by default, a throwaway SQLite database in it). A PostgreSQL
database given with --database must exist and is migrated; its audit table is emptied first
with TRUNCATE (which the append-only trigger does not cover), so never point it at real data.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="Chain length for walk/export/verify.")
    parser.add_argument("--appends", type=int, default=500, help="Events appended one transaction each.")
    parser.add_argument("--database", help="DATABASE_URL (default: SQLite in a temporary folder).")
    args = parser.parse_args()

    var_dir = tempfile.mkdtemp(prefix="hallmark-bench-audit-")
    os.environ["HALLMARK_VAR_DIR"] = var_dir
    if args.database:
        os.environ["DATABASE_URL"] = args.database
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hallmark.settings")

    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection, transaction

    from governance import checkpoints
    from governance.audit_chain import chain_hash, event_body
    from governance.audit_trail import record_event, verify_audit_chain
    from governance.export import ExportScope, export_lines, verify_export
    from governance.models import AuditChainHead, AuditEvent

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("TRUNCATE governance_auditevent, governance_auditchainhead")
        else:
            cursor.execute("DELETE FROM governance_auditevent")
            cursor.execute("DELETE FROM governance_auditchainhead")
    user, _ = User.objects.get_or_create(username="bench")

    # 1. Appending: one event per transaction, as services write them.
    timings = []
    for n in range(args.appends):
        start = time.perf_counter()
        record_event(
            "bench.event",
            acting_user=user,
            target=("bench.thing", str(n % 50)),
            data={"n": n, "sha256": "ab" * 32, "model": {"name": "bench", "version": "1"}},
        )
        timings.append(time.perf_counter() - start)
    append_ms = statistics.median(timings) * 1000
    append_p90 = statistics.quantiles(timings, n=10)[-1] * 1000

    # Fill the chain up to --events quickly (bulk, same hashing) for the walk and the export.
    head = AuditChainHead.objects.get(id=1)
    seq, prev = head.seq, head.hash
    at = AuditEvent.objects.get(seq=seq).at
    batch = []
    with transaction.atomic():
        while seq < args.events:
            seq += 1
            data = {"n": seq, "sha256": "cd" * 32, "model": {"name": "bench", "version": "1"}}
            body = event_body(
                seq=seq,
                at=at,
                actor="bench",
                actor_id=user.pk,
                action="bench.bulk",
                target_type="bench.thing",
                target_id=str(seq % 50),
                data=data,
            )
            digest = chain_hash(prev, body)
            batch.append(
                AuditEvent(
                    seq=seq,
                    at=at,
                    actor="bench",
                    actor_id=user.pk,
                    action="bench.bulk",
                    target_type="bench.thing",
                    target_id=str(seq % 50),
                    data=data,
                    prev_hash=prev,
                    hash=digest,
                )
            )
            prev = digest
            if len(batch) == 5000:
                AuditEvent.objects.bulk_create(batch)
                batch = []
        AuditEvent.objects.bulk_create(batch)
        AuditChainHead.objects.filter(id=1).update(seq=seq, hash=prev)
    total = AuditEvent.objects.count()

    # 2. Walking the whole chain (manage.py verify_audit).
    start = time.perf_counter()
    report = verify_audit_chain()
    walk_s = time.perf_counter() - start
    assert report.ok, report.problem

    # 3. Signing a checkpoint (includes a full walk first).
    checkpoints.init_key()
    start = time.perf_counter()
    checkpoints.create_checkpoint()
    checkpoint_s = time.perf_counter() - start

    # 4. Exporting everything, and one target's events; 5. verifying the export offline.
    start = time.perf_counter()
    lines = list(export_lines(ExportScope()))
    export_s = time.perf_counter() - start
    start = time.perf_counter()
    verified = verify_export(lines)
    verify_s = time.perf_counter() - start
    assert verified["ok"], verified["problems"][:3]
    start = time.perf_counter()
    target_lines = list(export_lines(ExportScope(targets=(("bench.thing", "7"),))))
    target_s = time.perf_counter() - start

    backend = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    print(f"\nAudit trail on {backend}, {total:,} events ({os.cpu_count()} CPUs)\n")
    print("| operation | result |")
    print("| --- | --- |")
    print(
        f"| append one event (own transaction), median / p90 of {args.appends} | {append_ms:.2f} ms / {append_p90:.2f} ms |"
    )
    print(f"| walk the whole chain (`verify_audit`) | {walk_s:.2f} s ({total / walk_s:,.0f} events/s) |")
    print(f"| sign a checkpoint (walk + sign + write) | {checkpoint_s:.2f} s |")
    print(f"| export the whole chain (JSON Lines) | {export_s:.2f} s ({total / export_s:,.0f} events/s) |")
    print(f"| verify that export offline | {verify_s:.2f} s ({total / verify_s:,.0f} events/s) |")
    print(f"| export one target's {len(target_lines) - 1:,} events | {target_s:.2f} s |")


if __name__ == "__main__":
    main()
