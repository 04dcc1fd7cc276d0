"""Appending to the audit chain: the canonical bytes cut around the seq, and PostgreSQL's
one-statement append (hashed in the database, checked against ``chain_hash``)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction

from governance import audit_trail
from governance.audit_chain import body_around_seq, chain_hash, event_body, jsonable
from governance.audit_trail import PendingEvent, record_event, record_events, verify_audit_chain
from governance.models import AuditChainHead, AuditEvent
from governance.offline_verify import canonical_body, verify_export_lines

#: Data canonical JSON is touchy about, and a nested "seq" that could be mistaken for the event's.
AWKWARD = [
    {},
    {"seq": 9007199254740991, "inner": {"seq": 9007199254740991}},
    {"text": 'a "seq":9007199254740991, b', "ü": "ünïcode ✓ \u2028", "emoji": "🦜"},
    {"ratio": 1 / 7, "big": 2**60, "floats": [1e16, 0.1, -0.0, 5e-324], "none": None, "t": True},
]

postgresql_only = pytest.mark.skipif("connection.vendor != 'postgresql'")


@pytest.mark.parametrize("data", AWKWARD)
@pytest.mark.parametrize("seq", [0, 1, 9, 10, 12345, 2**53 - 1])
def test_bytes_around_the_seq_rebuild_the_canonical_body(data, seq) -> None:
    fields = {
        "at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "actor": 'sÿstem:"seq":1',
        "actor_id": None,
        "action": "test.cut",
        "target_type": "seq",
        "target_id": '"seq":9007199254740991',
        "data": jsonable(data),
    }
    before, after = body_around_seq(event_body(seq=0, **fields))
    assert before + str(seq).encode() + after == canonical_body(event_body(seq=seq, **fields))


def _stored_hash_matches(event: AuditEvent) -> bool:
    stored = AuditEvent.objects.get(seq=event.seq)
    body = event_body(
        seq=stored.seq,
        at=stored.at,
        actor=stored.actor,
        actor_id=stored.actor_id,
        action=stored.action,
        target_type=stored.target_type,
        target_id=stored.target_id,
        data=stored.data,
    )
    return stored.hash == event.hash and chain_hash(stored.prev_hash, body) == stored.hash


def test_a_batch_of_awkward_events_chains_and_verifies(db, users) -> None:
    first = record_event("test.first", acting_user=users["admin"], target=("thing", "0"), data={})
    events = record_events(
        [
            PendingEvent("test.batch", ("thing", str(n)), data, users["reviewer"])
            for n, data in enumerate(AWKWARD)
        ]
    )
    assert [e.seq for e in events] == list(range(first.seq + 1, first.seq + 1 + len(AWKWARD)))
    assert events[0].prev_hash == first.hash
    assert all(_stored_hash_matches(event) for event in [first, *events])
    assert [e.pk for e in events] == list(
        AuditEvent.objects.filter(seq__in=[e.seq for e in events])
        .order_by("seq")
        .values_list("pk", flat=True)
    )
    assert AuditChainHead.objects.values_list("seq", "hash").get() == (events[-1].seq, events[-1].hash)
    assert verify_audit_chain().ok


@postgresql_only
def test_the_database_hash_is_checked_before_commit(db) -> None:
    """Bytes cut wrongly give the database a hash chain_hash disagrees with: nothing is kept."""
    good = record_event("test.good", acting_user=None, target=("thing", "1"), data={"n": 1})

    def shifted(body):
        before, after = body_around_seq(body)
        return before + b"1", after

    original = audit_trail.body_around_seq
    audit_trail.body_around_seq = shifted
    try:
        with pytest.raises(RuntimeError, match="does not match chain_hash"), transaction.atomic():
            record_event("test.bad", acting_user=None, target=("thing", "2"), data={"n": 2})
    finally:
        audit_trail.body_around_seq = original
    assert AuditChainHead.objects.values_list("seq", "hash").get() == (good.seq, good.hash)
    assert not AuditEvent.objects.filter(action="test.bad").exists()
    assert record_event("test.after", acting_user=None, target=("thing", "3"), data={}).prev_hash == good.hash
    assert verify_audit_chain().ok


@postgresql_only
def test_events_hashed_in_python_and_in_the_database_form_one_chain(db) -> None:
    """A chain written before (hashed in Python, three statements) goes on verifying and
    growing: both ways write the same hash."""
    record_event("test.db", acting_user=None, target=("thing", "1"), data={"n": 1})
    prepared = [
        {
            "at": datetime.now(UTC),
            "actor": "system:test",
            "actor_id": None,
            "action": "test.python",
            "target_type": "thing",
            "target_id": "2",
            "data": jsonable(AWKWARD[3]),
        }
    ]
    with transaction.atomic():
        python_event = audit_trail._append(prepared)[0]
    db_event = record_event("test.db", acting_user=None, target=("thing", "3"), data=AWKWARD[2])
    assert db_event.prev_hash == python_event.hash
    assert _stored_hash_matches(python_event) and _stored_hash_matches(db_event)
    assert verify_audit_chain().ok


@postgresql_only
def test_sixteen_concurrent_writers_leave_a_gap_free_chain(transactional_db) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(16)

    def write(n: int) -> None:
        try:
            start.wait()
            for i in range(15):
                with transaction.atomic():
                    if i % 5 == 4:  # some appends carry several events
                        record_events(
                            [
                                PendingEvent("test.many", ("thread", str(n)), {"i": i, "k": k})
                                for k in range(3)
                            ]
                        )
                    else:
                        record_event(
                            "test.concurrent", acting_user=None, target=("thread", str(n)), data={"i": i}
                        )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    total = 16 * (12 + 3 * 3)
    assert list(AuditEvent.objects.values_list("seq", flat=True)) == list(range(1, total + 1))
    assert AuditChainHead.objects.get().seq == total
    assert verify_audit_chain().ok
    # The standalone verifier agrees with the chain the database hashed.
    from governance.export import ExportScope, export_lines

    report = verify_export_lines(list(export_lines(ExportScope(), include_checkpoint=False)))
    assert report["ok"], report
