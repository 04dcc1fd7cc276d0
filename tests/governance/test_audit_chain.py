"""The audit chain: hashing, concurrency, append-only, and verify_audit naming tampered events."""

from __future__ import annotations

import itertools
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from governance.audit_chain import GENESIS_HASH, chain_hash, event_body, jsonable
from governance.audit_trail import record_event, verify_audit_chain
from governance.models import AppendOnlyError, AuditChainHead, AuditEvent


def _events(count: int, user=None) -> list[AuditEvent]:
    return [
        record_event("test.event", acting_user=user, target=("thing", str(i)), data={"i": i, "big": 2**62})
        for i in range(count)
    ]


def test_chain_links_each_event_to_the_previous(db) -> None:
    events = _events(3)
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == GENESIS_HASH
    for previous, event in itertools.pairwise(events):
        assert event.prev_hash == previous.hash
    stored = AuditEvent.objects.get(seq=2)
    body = event_body(
        seq=2,
        at=stored.at,
        actor=stored.actor,
        actor_id=stored.actor_id,
        action=stored.action,
        target_type=stored.target_type,
        target_id=stored.target_id,
        data=stored.data,
    )
    assert chain_hash(stored.prev_hash, body) == stored.hash
    assert AuditChainHead.objects.get().seq == 3
    assert verify_audit_chain().ok


def test_orm_refuses_updates_and_deletes(db) -> None:
    event = _events(1)[0]
    event.action = "forged"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="forged")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()


def test_database_trigger_refuses_raw_update(db) -> None:
    _events(1)
    with pytest.raises(Exception) as caught, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE governance_auditevent SET action = 'forged'")
    assert "append-only" in str(caught.value)


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_database_trigger_refuses_raw_delete_on_postgresql(db) -> None:
    _events(1)
    with pytest.raises(Exception) as caught, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM governance_auditevent")
    assert "append-only" in str(caught.value)


def _disable_trigger(cursor) -> None:
    """What a database superuser could do behind Hallmark's back."""
    if connection.vendor == "postgresql":
        cursor.execute(
            "ALTER TABLE governance_auditevent DISABLE TRIGGER governance_auditevent_no_update_delete"
        )
    else:
        cursor.execute("DROP TRIGGER governance_auditevent_no_update")


def _enable_trigger(cursor) -> None:
    if connection.vendor == "postgresql":
        cursor.execute(
            "ALTER TABLE governance_auditevent ENABLE TRIGGER governance_auditevent_no_update_delete"
        )
    else:
        cursor.execute(
            "CREATE TRIGGER governance_auditevent_no_update BEFORE UPDATE ON governance_auditevent "
            "BEGIN SELECT RAISE(ABORT, 'audit events are append-only (UPDATE refused)'); END;"
        )


def test_verify_audit_names_an_edited_event(db) -> None:
    _events(5)
    call_command("verify_audit")
    with connection.cursor() as cursor:
        _disable_trigger(cursor)
        cursor.execute("UPDATE governance_auditevent SET data = %s WHERE seq = 3", ['{"i": 99, "big": 1}'])
        _enable_trigger(cursor)
    with pytest.raises(CommandError) as caught:
        call_command("verify_audit")
    assert "seq 3" in str(caught.value) and "edited" in str(caught.value)


def test_verify_audit_names_a_deleted_event(db) -> None:
    _events(5)
    with connection.cursor() as cursor:
        _disable_trigger(cursor)
        cursor.execute("DELETE FROM governance_auditevent WHERE seq = 2")
        _enable_trigger(cursor)
    with pytest.raises(CommandError) as caught:
        call_command("verify_audit")
    assert "seq 2" in str(caught.value) and "missing" in str(caught.value)


def test_verify_audit_notices_a_removed_tail_against_the_head(db) -> None:
    _events(4)
    with connection.cursor() as cursor:
        _disable_trigger(cursor)
        cursor.execute("DELETE FROM governance_auditevent WHERE seq = 4")
        _enable_trigger(cursor)
    with pytest.raises(CommandError) as caught:
        call_command("verify_audit")
    assert "seq 4" in str(caught.value)


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_concurrent_writers_do_not_fork_the_chain(transactional_db) -> None:
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(10):
                with transaction.atomic():
                    record_event(
                        "test.concurrent", acting_user=None, target=("thread", str(n)), data={"i": i}
                    )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert list(AuditEvent.objects.values_list("seq", flat=True)) == list(range(1, 41))
    assert verify_audit_chain().ok


def test_roles_exist_after_migrations(db) -> None:
    from django.contrib.auth.models import Group

    assert set(Group.objects.values_list("name", flat=True)) >= {"viewer", "creator", "reviewer", "admin"}


def test_event_recorded_during_the_walk_is_not_reported_as_tampering(db, monkeypatch) -> None:
    """An event committed while verify_audit_chain walks the rows lies beyond the head it read
    first: the walk still passes, and the next walk covers the new event too."""
    from governance import audit_trail as services

    _events(3)
    real_verify_events = services.verify_events

    def walk_then_record(events, **kwargs):
        rows = list(events)  # the walk has read its rows, then another writer commits:
        record_event("test.during_walk", acting_user=None, target=("thing", "x"), data={})
        return real_verify_events(rows, **kwargs)

    monkeypatch.setattr(services, "verify_events", walk_then_record)
    report = verify_audit_chain()
    assert report.ok, report.problem
    assert report.last_seq == 3
    monkeypatch.undo()
    report = verify_audit_chain()
    assert report.ok and report.last_seq == 4


def test_jsonable_keeps_floats_the_databases_would_change_as_strings() -> None:
    assert jsonable({"y": 0.1, "big_but_safe": 1e15, "small": 1e-7}) == {
        "y": 0.1,
        "big_but_safe": 1e15,
        "small": 1e-7,
    }
    assert jsonable(1e16) == "1e+16"
    assert jsonable(-1.5e300) == "-1.5e+300"
    assert jsonable([float("nan"), float("inf"), float("-inf")]) == ["NaN", "Infinity", "-Infinity"]


def test_large_and_odd_floats_survive_the_round_trip_through_the_database(db) -> None:
    """PostgreSQL's jsonb gives 1e16 back as an integer: without care the event's hash would
    never verify again. Run on PostgreSQL in CI; on SQLite it checks the same contract."""
    data = {"cost": 1e16, "x": 1.5e300, "y": 0.1, "z": -(2.0**60), "n": float("nan"), "tiny": 5e-324}
    event = record_event("test.floats", acting_user=None, target=("thing", "f"), data=data)
    stored = AuditEvent.objects.get(seq=event.seq)
    assert stored.data == event.data == jsonable(data)
    assert verify_audit_chain().ok
    record_event("test.after", acting_user=None, target=("thing", "f"), data={"i": 1})
    assert verify_audit_chain().ok
