"""What a file's manifest and the audit log record of a prompt, without giving it away.

A plain sha256 of a prompt lets anyone who holds the file (or an exported audit event) confirm
a guessed prompt offline: confidential briefs are short and guessable. So when prompts are
withheld from files (``HALLMARK_EMBED_PROMPTS`` off), Hallmark records
``HMAC-SHA256(HALLMARK_PROMPT_HMAC_KEY, prompt)`` instead, with the key's id, and only a holder
of the organisation key can test a prompt against it. When prompts are embedded in the file
anyway there is nothing to hide and the plain ``prompt_sha256`` stays. docs/provenance.md says
what a holder of a file can and cannot learn.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from django.conf import settings

PLAIN_FIELD = "prompt_sha256"
HMAC_FIELD = "prompt_hmac_sha256"
KEY_ID_FIELD = "prompt_hmac_key_id"


def _key_bytes(key: str | bytes | None) -> bytes:
    value = settings.HALLMARK_PROMPT_HMAC_KEY if key is None else key
    return value.encode("utf-8") if isinstance(value, str) else value


def key_id(key: str | bytes | None = None) -> str:
    """The first 8 hex digits of sha256 of the key: names the key without revealing it."""
    return hashlib.sha256(_key_bytes(key)).hexdigest()[:8]


def prompt_hmac(prompt: str, key: str | bytes | None = None) -> str:
    """Hex HMAC-SHA256 of the UTF-8 prompt under ``key`` (default ``HALLMARK_PROMPT_HMAC_KEY``)."""
    return hmac.new(_key_bytes(key), prompt.encode("utf-8"), hashlib.sha256).hexdigest()


def prompt_digest(prompt: str, *, embedded: bool | None = None) -> dict[str, str]:
    """The prompt fields for a manifest or an audit event.

    ``embedded`` (default ``HALLMARK_EMBED_PROMPTS``) says whether the prompt is written into
    the file in the clear: then ``{"prompt_sha256": ...}``; otherwise
    ``{"prompt_hmac_sha256": ..., "prompt_hmac_key_id": ...}`` and no plain hash at all.
    """
    if settings.HALLMARK_EMBED_PROMPTS if embedded is None else embedded:
        return {PLAIN_FIELD: hashlib.sha256(prompt.encode("utf-8")).hexdigest()}
    return {HMAC_FIELD: prompt_hmac(prompt), KEY_ID_FIELD: key_id()}


def prompt_matches(prompt: str, recorded: Mapping[str, Any], key: str | bytes | None = None) -> bool | None:
    """Whether ``prompt`` is the one ``recorded`` (a manifest's Hallmark assertion or an event's data).

    ``None`` when it cannot be told: no prompt field, or an HMAC made with another key than
    ``key`` (default the configured one).
    """
    if isinstance(recorded.get(HMAC_FIELD), str):
        if recorded.get(KEY_ID_FIELD) != key_id(key):
            return None
        return hmac.compare_digest(recorded[HMAC_FIELD], prompt_hmac(prompt, key))
    if isinstance(recorded.get(PLAIN_FIELD), str):
        return hmac.compare_digest(recorded[PLAIN_FIELD], hashlib.sha256(prompt.encode("utf-8")).hexdigest())
    return None
