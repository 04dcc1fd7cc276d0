"""The audit trail: the only writer of audit events and the walk that verifies the chain.

Every app records what it changes through ``record_event``, inside the transaction of the change.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection, models, transaction
from django.utils import timezone

from governance.audit_chain import (
    EVENT_FIELDS,
    GENESIS_HASH,
    ChainProblem,
    ChainReport,
    body_around_seq,
    chain_hash,
    event_body,
    jsonable,
    verify_events,
)
from governance.models import AuditChainHead, AuditEvent

ActingUser = AbstractBaseUser | AnonymousUser | None


def actor_fields(acting_user: ActingUser, system_actor: str) -> tuple[str, int | None]:
    """The actor label and id an event records: the user, or ``system:<component>``."""
    if acting_user is None or not acting_user.is_authenticated:
        return f"system:{system_actor}", None
    return acting_user.get_username(), int(acting_user.pk)


@dataclass(frozen=True)
class PendingEvent:
    """An event to append with others in one go (``record_events``); fields as ``record_event``."""

    action: str
    target: models.Model | tuple[str, str]
    data: Mapping[str, Any] | None = None
    acting_user: ActingUser = None
    system_actor: str = "hallmark"


def record_event(
    action: str,
    *,
    acting_user: ActingUser,
    target: models.Model | tuple[str, str],
    data: Mapping[str, Any] | None = None,
    system_actor: str = "hallmark",
) -> AuditEvent:
    """Append one event to the audit chain, inside the caller's transaction.

    ``acting_user`` is keyword-only and required: pass ``None`` only for work no user did
    directly (a worker finishing a job), named by ``system_actor``. ``target`` is a model
    instance or ``(type, id)``. The chain head is locked so concurrent writers queue.
    Never put secrets in ``data``.
    """
    return record_events([PendingEvent(action, target, data, acting_user, system_actor)])[0]


def record_events(pending: Sequence[PendingEvent]) -> list[AuditEvent]:
    """Append events to the chain in this order, with one lock of the head and one insert.

    The head stays locked until the caller's transaction ends, so every writer in the fleet
    queues behind it: call this last in a transaction (after the rows the events describe),
    to keep that hold short. Everything that does not depend on the chain (the events' JSON-safe
    data, their time, their canonical bytes) is prepared before the lock is taken.
    """
    at = timezone.now()
    prepared: list[dict[str, Any]] = []
    for item in pending:
        if isinstance(item.target, models.Model):
            target_type, target_id = item.target._meta.label_lower, str(item.target.pk)
        else:
            target_type, target_id = item.target
        actor, actor_id = actor_fields(item.acting_user, item.system_actor)
        prepared.append(
            {
                "at": at,
                "actor": actor,
                "actor_id": actor_id,
                "action": item.action,
                "target_type": target_type,
                "target_id": target_id,
                "data": jsonable(dict(item.data or {})),
            }
        )
    # No savepoint: a failed append must fail the caller's whole transaction anyway.
    with transaction.atomic(savepoint=False):
        if connection.vendor != "postgresql":
            return _append(prepared)
        events = _append_on_postgresql(prepared)
        _flush_after_commit()
    return events


def _append(prepared: Sequence[Mapping[str, Any]]) -> list[AuditEvent]:
    """Lock the head, hash the events in Python and write them (three statements)."""
    head, _ = AuditChainHead.objects.select_for_update().get_or_create(id=1)
    events = []
    seq, prev = head.seq, head.hash
    for fields in prepared:
        seq += 1
        digest = chain_hash(prev, event_body(seq=seq, **fields))
        events.append(AuditEvent(seq=seq, **fields, prev_hash=prev, hash=digest))
        prev = digest
    AuditEvent.objects.bulk_create(events)
    AuditChainHead.objects.filter(id=1).update(seq=seq, hash=prev)
    return events


def _append_on_postgresql(prepared: Sequence[Mapping[str, Any]]) -> list[AuditEvent]:
    """Lock the head, chain the events and write them and the head in one statement.

    The lock is held from that statement until the commit, with no round trip to Python in
    between: PostgreSQL only concatenates the previous hash, the canonical bytes Python cut
    around the seq (``body_around_seq``) and the seq's digits, and takes their SHA-256. Each
    event is then checked here against ``chain_hash``, the one definition of the hash, before
    the transaction may commit; a mismatch raises and rolls the append back.
    """
    cuts = [body_around_seq(event_body(seq=0, **fields)) for fields in prepared]
    params = [
        [before for before, _ in cuts],
        [after for _, after in cuts],
        *([fields[name] for fields in prepared] for name in _COLUMNS[:-1]),
        [json.dumps(fields["data"]) for fields in prepared],
    ]
    with connection.cursor() as cursor:
        cursor.execute(_APPEND_SQL, params)
        rows = cursor.fetchall()
        if not rows:  # no head row yet: the chain's first append ever
            AuditChainHead.objects.get_or_create(id=1)
            cursor.execute(_APPEND_SQL, params)
            rows = cursor.fetchall()
    events: list[AuditEvent] = []
    for (pk, seq, prev, digest), fields in zip(rows, prepared, strict=True):
        linked = not events or prev == events[-1].hash
        if not linked or chain_hash(prev, event_body(seq=seq, **fields)) != digest:
            raise RuntimeError(f"audit event seq {seq}: the database's hash does not match chain_hash")
        # As the ORM builds a row it read (saved, not "adding"): what bulk_create hands back.
        values = {"id": pk, "seq": seq, **fields, "prev_hash": prev, "hash": digest}
        events.append(AuditEvent.from_db(connection.alias, _ATTNAMES, [values[name] for name in _ATTNAMES]))
    return events


_COLUMNS = ("at", "actor", "actor_id", "action", "target_type", "target_id", "data")
_ATTNAMES = [field.attname for field in AuditEvent._meta.concrete_fields]
_HEAD, _EVENT = AuditChainHead._meta.db_table, AuditEvent._meta.db_table
# ``set_config(..., true)`` is SET LOCAL inside the statement (see _flush_after_commit). The head
# is read FOR UPDATE: under READ COMMITTED PostgreSQL re-reads its newest version once the lock
# is granted, and the UPDATE below finds that same locked version.
_APPEND_SQL = f"""
WITH RECURSIVE
  head AS (
    SELECT seq, hash, set_config('synchronous_commit', 'off', true) FROM {_HEAD} WHERE id = 1 FOR UPDATE
  ),
  item AS (
    SELECT * FROM unnest(
      %s::bytea[], %s::bytea[], %s::timestamptz[], %s::varchar[], %s::bigint[], %s::varchar[],
      %s::varchar[], %s::varchar[], %s::text[]
    ) WITH ORDINALITY AS t(before, after, {", ".join(_COLUMNS)}, n)
  ),
  chain(n, seq, prev_hash, hash) AS (
    SELECT 0::bigint, seq, NULL::varchar, hash::varchar FROM head
    UNION ALL
    SELECT item.n, chain.seq + 1, chain.hash, encode(sha256(
      convert_to(chain.hash, 'UTF8') || item.before || convert_to((chain.seq + 1)::text, 'UTF8') || item.after
    ), 'hex')::varchar
    FROM chain JOIN item ON item.n = chain.n + 1
  ),
  written AS (
    INSERT INTO {_EVENT} (seq, {", ".join(_COLUMNS)}, prev_hash, hash)
    SELECT chain.seq, item.at, item.actor, item.actor_id, item.action, item.target_type, item.target_id,
      item.data::jsonb, chain.prev_hash, chain.hash
    FROM chain JOIN item ON item.n = chain.n
    RETURNING id, seq, prev_hash, hash
  ),
  moved AS (
    UPDATE {_HEAD} SET seq = last.seq, hash = last.hash
    FROM (SELECT seq, hash FROM chain WHERE n > 0 ORDER BY n DESC LIMIT 1) AS last
    WHERE {_HEAD}.id = 1
  )
SELECT id, seq, prev_hash, hash FROM written ORDER BY seq
"""


def _flush_after_commit() -> None:
    """On PostgreSQL, let the head lock go at COMMIT without waiting for the disk.

    Every writer in the fleet queues on the head row, and PostgreSQL releases a row lock only
    after the commit's WAL flush: with the flush inside the lock, the chain appended at most
    one transaction per disk flush (about 60/s on the development machine, whatever the number
    of writers). So the transaction commits without the flush (``synchronous_commit`` off for
    this transaction only: others see it at once, the next writer chains on it) and, before
    ``atomic`` returns to the caller, a second statement commits with the flush, which covers
    everything written before it (WAL is flushed in order). The caller still returns only once
    its changes and their events are on disk; the waits of concurrent writers overlap (group
    commit). A database crash between the two loses this transaction and every later one
    together, so the chain on disk is always a whole prefix; a reader may, in that window, have
    seen a change that the crash then undid. Called after the append statement, on PostgreSQL.
    """
    # ``synchronous_commit`` is set off by the append statement itself (``set_config``). Once per transaction: a flush registered at this savepoint level or outside it covers this
    # batch too (one rolled back would have taken this batch with it).
    active = set(connection.savepoint_ids)
    if not any(entry[1] is _wait_for_disk and set(entry[0]) <= active for entry in connection.run_on_commit):
        transaction.on_commit(_wait_for_disk)


def _wait_for_disk() -> None:
    # An autocommit transaction that takes a transaction id writes a commit record, and with
    # synchronous_commit on (the session's setting) waits until the WAL up to it is flushed.
    with connection.cursor() as cursor:
        cursor.execute("SELECT txid_current()")


def chain_head() -> tuple[int, str]:
    """The seq and hash of the chain's newest event (``(0, "")`` before the first): one
    primary-key read.

    Every audited change moves it in the change's own transaction, so a reader that sees the
    same head twice saw no audited change committed in between; the hash tells apart two
    histories of the same length (a database restored from a backup and written again). The
    library's page cache (``workspace.page_cache``) is keyed on it.
    """
    with connection.cursor() as cursor:
        cursor.execute(_HEAD_SQL)
        row = cursor.fetchone()
    return (int(row[0]), str(row[1])) if row is not None else (0, "")


_HEAD_SQL = f"SELECT seq, hash FROM {_HEAD} WHERE id = 1"


#: Wraps the walked events (and is told how many there are) to show progress: ``hallmark.progress``.
Track = Callable[[Iterable[Mapping[str, Any]], int], Iterable[Mapping[str, Any]]]


def verify_audit_chain(
    *, after_seq: int = 0, after_hash: str = GENESIS_HASH, track: Track | None = None
) -> ChainReport:
    """Walk the chain up to the chain head and compare its end with the head row.

    ``after_seq``/``after_hash`` start the walk after an event already known good (one a
    verified checkpoint vouches for): only the newer events are walked.

    The head is read first and only events up to its seq are walked: an event recorded while
    the walk runs lies beyond that head and is not part of this check. Reading the head after
    the walk instead would see a newer head than the events walked and report a missing event
    that is merely new.
    """
    head = AuditChainHead.objects.filter(id=1).values("seq", "hash").first()
    rows = AuditEvent.objects.order_by("seq").filter(seq__gt=after_seq)
    if head is not None:
        rows = rows.filter(seq__lte=head["seq"])
    events: Iterable[Mapping[str, Any]] = rows.values(*EVENT_FIELDS).iterator(chunk_size=2000)
    if track is not None:
        events = track(events, max(0, (head["seq"] if head is not None else 0) - after_seq))
    report = verify_events(start_seq=after_seq + 1, start_hash=after_hash, events=events)
    if not report.ok:
        return report
    if head is not None and (head["seq"] != report.last_seq or head["hash"] != report.last_hash):
        if head["seq"] > report.last_seq:
            problem = ChainProblem(report.last_seq + 1, f"is missing: the chain head says seq {head['seq']}")
        else:
            problem = ChainProblem(report.last_seq, "does not match the chain head")
        return ChainReport(report.events_checked, report.last_seq, report.last_hash, problem)
    return report
