"""Cursors of the library's pages: opaque to clients, checked on the way back in.

A date cursor holds the (created_at, id) of the row it continues from and a direction; a
relevance cursor an offset within the ranked window. A cursor that does not decode to one of
these, for the query's ordering, is refused (a 400 naming ``cursor``).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import UTC, datetime
from typing import Any

#: The deepest offset a relevance cursor may hold: the most matches ever ranked
#: (``workspace.library.SMALL_SET``, which is larger than its ``RANK_WINDOW``).
MAX_OFFSET = 2000


def encode(position: dict[str, str | int]) -> str:
    """The cursor that holds ``position``."""
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")


def decode(cursor: str, ordering: str) -> dict[str, Any] | None:
    """The position a cursor holds, or None when it is not one of ``ordering``'s cursors."""
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if not isinstance(position, dict):
        return None
    if ordering == "relevance":
        offset = position.get("o")
        ok = isinstance(offset, int) and not isinstance(offset, bool) and 0 <= offset <= MAX_OFFSET
        return position if ok else None
    # The parsers below raise AttributeError, not TypeError, on a number or a list.
    if not isinstance(position.get("t"), str) or not isinstance(position.get("i"), str):
        return None
    try:
        moment = datetime.fromisoformat(position["t"])
        uuid.UUID(position["i"])
        if moment.tzinfo is None:
            return None
        # In UTC, as the database compares it: an offset PostgreSQL refuses, or a moment that
        # leaves the calendar once shifted, is not a cursor Hallmark made.
        position["t"] = moment.astimezone(UTC).isoformat()
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    if position.get("d") not in ("n", "p"):
        return None
    return position

