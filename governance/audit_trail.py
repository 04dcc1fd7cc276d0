"""The audit trail: the only writer of audit events and the walk that verifies the chain.

Every app records what it changes through ``record_event``, inside the transaction of the change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models, transaction
from django.utils import timezone

from governance.audit_chain import (
    EVENT_FIELDS,
    GENESIS_HASH,
    ChainProblem,
    ChainReport,
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
    if isinstance(target, models.Model):
        target_type = target._meta.label_lower
        target_id = str(target.pk)
    else:
        target_type, target_id = target
    actor, actor_id = actor_fields(acting_user, system_actor)
    clean_data = jsonable(dict(data or {}))
    with transaction.atomic():
        head, _ = AuditChainHead.objects.select_for_update().get_or_create(id=1)
        seq = head.seq + 1
        at = timezone.now()
        body = event_body(
            seq=seq,
            at=at,
            actor=actor,
            actor_id=actor_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            data=clean_data,
        )
        digest = chain_hash(head.hash, body)
        event = AuditEvent.objects.create(
            seq=seq,
            at=at,
            actor=actor,
            actor_id=actor_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            data=clean_data,
            prev_hash=head.hash,
            hash=digest,
        )
        head.seq = seq
        head.hash = digest
        head.save(update_fields=["seq", "hash"])
    return event


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
