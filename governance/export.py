"""Export of the audit trail as JSON Lines that can be verified offline.

The first line is a header (format, hash algorithm, canonicalization, range, the chain anchor,
the latest signed checkpoint and its public key); every further line is one event with all its
hashed fields plus ``prev_hash`` and ``hash``. See docs/governance.md for the format, and
``governance.offline_verify`` for the verifier (which has no Hallmark dependency).

A time range exports a contiguous slice of the chain: the times only choose the first and last
seq, and every event between them is included, so the links can be checked from the anchor.
A target filter exports the events of some objects only, which are not contiguous: each event
still carries its own ``prev_hash``, so its hash can be recomputed on its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from django.db.models import Max, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from governance import checkpoints, offline_verify
from governance.audit_chain import GENESIS_HASH, format_time, jsonable
from governance.models import AuditEvent

EXPORT_FORMAT = offline_verify.EXPORT_FORMAT
HASH_ALGORITHM = (
    "sha256( prev_hash as 64 lower-case hex ASCII characters || RFC 8785 canonical JSON (UTF-8) of the "
    "event body ), hex encoded; the body is the object of the hashed_fields; the first event's prev_hash "
    "is 64 zeros"
)
CANONICALIZATION = "RFC 8785 (JSON Canonicalization Scheme)"
_ROW_FIELDS = (*offline_verify.HASHED_FIELDS, "prev_hash", "hash")


@dataclass(frozen=True)
class ExportScope:
    """Which events to export: a time range (``after`` inclusive, ``before`` exclusive), the
    events of some targets, or both. No scope at all exports the whole chain."""

    after: datetime | None = None
    before: datetime | None = None
    targets: tuple[tuple[str, str], ...] = ()

    @property
    def contiguous(self) -> bool:
        """Without a target filter the export is an unbroken slice of the chain."""
        return not self.targets

    def describe(self) -> dict[str, Any]:
        return {
            "after": format_time(self.after) if self.after else None,
            "before": format_time(self.before) if self.before else None,
            "targets": [{"type": t, "id": i} for t, i in self.targets],
            "contiguous": self.contiguous,
        }


def _events(scope: ExportScope, head_seq: int) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.filter(seq__lte=head_seq)
    if scope.contiguous:
        # Times pick the seq bounds; everything between them goes out, so no link is missing
        # even if the clock once stepped back.
        bounds = events
        if scope.after is not None:
            bounds = bounds.filter(at__gte=scope.after)
        if scope.before is not None:
            bounds = bounds.filter(at__lt=scope.before)
        first = bounds.order_by("seq").values_list("seq", flat=True).first()
        last = bounds.order_by("-seq").values_list("seq", flat=True).first()
        if first is None or last is None:
            return AuditEvent.objects.none()
        return events.filter(seq__gte=first, seq__lte=last)
    match = Q()
    for target_type, target_id in scope.targets:
        match |= Q(target_type=target_type, target_id=target_id)
    events = events.filter(match)
    if scope.after is not None:
        events = events.filter(at__gte=scope.after)
    if scope.before is not None:
        events = events.filter(at__lt=scope.before)
    return events


def _line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"


def export_lines(scope: ExportScope, *, include_checkpoint: bool = True) -> Iterator[str]:
    """The export, one JSON line at a time (header first); streams the events from the database.

    The upper seq bound is fixed before anything is sent, so the header's count and the events
    agree even while new events are being written.
    """
    head_seq = AuditEvent.objects.aggregate(top=Max("seq"))["top"] or 0
    events = _events(scope, head_seq).order_by("seq")
    count = events.count()
    first = events.values("seq", "prev_hash").first()
    header: dict[str, Any] = {
        "type": "header",
        "format": EXPORT_FORMAT,
        "hash_algorithm": HASH_ALGORITHM,
        "canonicalization": CANONICALIZATION,
        "hashed_fields": list(offline_verify.HASHED_FIELDS),
        "genesis_hash": GENESIS_HASH,
        "range": scope.describe(),
        # The chain anchor: the hash the first exported event builds on.
        "anchor": {"seq": first["seq"] - 1, "hash": first["prev_hash"]} if first else None,
        "event_count": count,
        "chain_head_seq": head_seq,
        "exported_at": format_time(timezone.now()),
        "checkpoint": None,
        "checkpoint_public_key": None,
    }
    if include_checkpoint:
        header.update(_latest_checkpoint())
    yield _line(header)
    for row in events.values(*_ROW_FIELDS).iterator(chunk_size=2000):
        yield _line(event_line(row))


def event_line(row: dict[str, Any]) -> dict[str, Any]:
    """One exported event: the hashed fields exactly as hashed, plus prev_hash and hash."""
    line = {"type": "event", **{k: row[k] for k in _ROW_FIELDS}}
    line["at"] = format_time(row["at"]) if isinstance(row["at"], datetime) else row["at"]
    line["data"] = jsonable(row["data"])
    return line


def _latest_checkpoint() -> dict[str, Any]:
    """The newest checkpoint document and the public key to check it, when there are any."""
    path = checkpoints.latest_checkpoint_file()
    if path is None:
        return {}
    try:
        document = checkpoints.read_file(path).as_document()
        public = checkpoints.public_pem(checkpoints.load_public_key()).decode("ascii")
    except checkpoints.CheckpointError:
        return {}
    return {"checkpoint": document, "checkpoint_public_key": public}


def verify_export(lines: Iterable[str | bytes], *, public_key_pem: bytes | None = None) -> dict[str, Any]:
    """Verify an export offline (no database): see ``offline_verify.verify_export_lines``."""
    return offline_verify.verify_export_lines(lines, public_key_pem=public_key_pem)


def parse_bound(value: str) -> datetime:
    """An ISO 8601 date or date-time for a range bound; naive values are UTC.

    Raises ``ValueError`` with a message for the user.
    """
    text = value.strip()
    try:
        moment = parse_datetime(text)
        if moment is None:
            day = parse_date(text)
            moment = datetime.combine(day, time.min) if day is not None else None
    except ValueError:
        moment = None
    if moment is None:
        raise ValueError("Must be an ISO 8601 date or date-time, e.g. 2026-01-31T12:00:00Z.")
    if not timezone.is_aware(moment):
        return moment.replace(tzinfo=UTC)
    # In UTC: PostgreSQL refuses UTC offsets beyond +-15:59 that Python accepts (up to +-23:59).
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("Out of the supported range of dates.") from None
