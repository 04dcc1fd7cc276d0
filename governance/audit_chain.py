"""Hashing and verification of the audit chain (pure functions, no writes).

The hash itself and the fields it covers are defined once, in the standalone
``governance.offline_verify`` that evidence packs ship: ``chain_hash`` is its ``event_hash``
and ``HASHED_FIELDS`` its list, so what Hallmark writes and what a recipient verifies offline
cannot drift apart.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from governance.offline_verify import EVENT_FIELDS, HASHED_FIELDS, canonical_body
from governance.offline_verify import event_hash as chain_hash

__all__ = [
    "EVENT_FIELDS",
    "GENESIS_HASH",
    "ChainProblem",
    "ChainReport",
    "body_around_seq",
    "chain_hash",
    "event_body",
    "format_time",
    "jsonable",
    "verify_events",
]

GENESIS_HASH = "0" * 64
# RFC 8785 numbers are IEEE 754 doubles: larger integers (64-bit seeds) are kept as strings.
_SAFE_INT = 2**53 - 1
# Non-finite floats have no JSON form at all (RFC 8785 and PostgreSQL's jsonb refuse them).
_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def jsonable(value: Any) -> Any:
    """Return ``value`` as plain JSON data that RFC 8785 can canonicalize without loss.

    The result must canonicalize the same after a round trip through either database, or the
    event's hash breaks for good once it is stored. Floats are where the databases differ:
    PostgreSQL's jsonb keeps numbers as ``numeric`` and writes ``1e16`` back as the integer
    ``10000000000000000`` (which is then beyond the safe range and becomes a string here), while
    SQLite gives the float back. So floats whose magnitude reaches 2**53, where integral and
    non-integral values can no longer be told apart, are stored as their ``repr`` string, as are
    NaN and the infinities (``"NaN"``, ``"Infinity"``, ``"-Infinity"``).
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if abs(value) <= _SAFE_INT else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return _NON_FINITE[repr(value)]
        return value if abs(value) <= _SAFE_INT else repr(value)
    if isinstance(value, datetime):
        return format_time(value)
    return str(value)


def format_time(moment: datetime) -> str:
    """Timestamps in the hashed form: UTC, microseconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_body(
    *,
    seq: int,
    at: datetime,
    actor: str,
    actor_id: int | None,
    action: str,
    target_type: str,
    target_id: str,
    data: Mapping[str, Any],
) -> dict[str, Any]:
    """The fields of an event that its hash covers (``HASHED_FIELDS``), in their hashed form."""
    values = {
        "seq": seq,
        "at": format_time(at),
        "actor": actor,
        "actor_id": actor_id,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "data": jsonable(data),
    }
    # Built from the one list: a field added there and not here fails loudly, not silently.
    return {name: values[name] for name in HASHED_FIELDS}


# A placeholder seq to cut the canonical body at: any integer works, the cut is checked below.
_SEQ_MARK = _SAFE_INT


def body_around_seq(body: Mapping[str, Any]) -> tuple[bytes, bytes]:
    """The canonical bytes of ``body`` before and after its seq's digits.

    ``before + str(seq).encode() + after == canonical_body({**body, "seq": seq})`` for every
    integer seq >= 0, so everything but the seq can be canonicalized before the writer knows its
    place in the chain. RFC 8785 sorts keys, so the top-level ``"seq":`` comes after ``data``
    and before the string fields ``target_id`` and ``target_type``: it is the last unescaped
    ``"seq":`` in the text (one inside ``data`` comes earlier, one inside a string is escaped).
    """
    text = canonical_body({**body, "seq": _SEQ_MARK})
    key = b'"seq":'
    before, cut, after = text.rpartition(key + str(_SEQ_MARK).encode("ascii"))
    if not cut or not after.startswith((b",", b"}")):
        raise ValueError("the canonical body has no top-level seq to cut at")
    return before + key, after


@dataclass(frozen=True)
class ChainProblem:
    """The first place where the chain does not hold."""

    seq: int
    reason: str

    def __str__(self) -> str:
        return f"audit event seq {self.seq}: {self.reason}"


@dataclass(frozen=True)
class ChainReport:
    """What a walk of the chain found."""

    events_checked: int
    last_seq: int
    last_hash: str
    problem: ChainProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_events(
    events: Iterable[Mapping[str, Any]], *, start_seq: int = 1, start_hash: str = GENESIS_HASH
) -> ChainReport:
    """Walk events in seq order and stop at the first that does not match.

    Each event is a mapping with the body fields plus ``prev_hash`` and ``hash``. A missing seq
    (a deleted event) is reported under the seq that should have been there.
    """
    expected_seq = start_seq
    prev = start_hash
    checked = 0
    for event in events:
        seq = int(event["seq"])
        if seq != expected_seq:
            missing = expected_seq if seq > expected_seq else seq
            return ChainReport(
                checked, expected_seq - 1, prev, ChainProblem(missing, "is missing (deleted or reordered)")
            )
        if event["prev_hash"] != prev:
            return ChainReport(
                checked, seq - 1, prev, ChainProblem(seq, "prev_hash does not match the previous event")
            )
        body = {k: event[k] for k in HASHED_FIELDS}
        if isinstance(body["at"], datetime):
            body["at"] = format_time(body["at"])
        body["data"] = jsonable(body["data"])
        recomputed = chain_hash(prev, body)
        if recomputed != event["hash"]:
            return ChainReport(
                checked, seq - 1, prev, ChainProblem(seq, "content does not match its hash (edited)")
            )
        prev = event["hash"]
        expected_seq += 1
        checked += 1
    return ChainReport(checked, expected_seq - 1, prev, None)
