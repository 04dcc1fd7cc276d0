"""What every plugin for a hosted model needs around its HTTP calls, so that none copies it.

- ``call_with_retries`` runs one exchange until it succeeds. The exchange raises ``Retryable``
  for what another attempt may fix (429, 5xx, a dropped connection); the wait is the provider's
  ``Retry-After`` when it gives one (``parse_retry_after``), otherwise exponential backoff with
  jitter (``backoff_delay``). It gives up, raising a retryable ``PluginError``, after
  ``max_attempts`` or as soon as the next wait would pass the job's deadline, and checks
  ``is_cancelled()`` before each attempt and throughout each wait.
- ``read_capped`` reads a streamed response body up to a byte limit (whatever the server
  declares) and, given a deadline, no longer than it.
- ``request_timeouts`` keeps each call's connect and read timeouts within the time left.

Where a hosted plugin may connect is ``hallmark.sdk.egress``'s business; reading its secret is
``hallmark.sdk.secret_from_env``'s. ``plugins/builtin/ideogram`` shows all of them together.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import requests

from hallmark.sdk.errors import Cancelled, PluginError
from hallmark.sdk.jobs import CancelCheck

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: HTTP statuses worth another attempt: rate limiting and the server's own failures.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Slices of a backoff wait between two cancellation checks, in seconds.
SLEEP_SLICE = 0.2
#: Chunk size of capped reads.
CHUNK_BYTES = 64 * 1024


class Retryable(Exception):
    """One exchange failed in a way another attempt may fix.

    ``wait`` is how long the provider asked to wait (its ``Retry-After``), or None. The message
    is shown to the user when the attempts run out: it must not hold a secret.
    """

    def __init__(self, message: str, *, wait: float | None = None) -> None:
        super().__init__(message)
        self.wait = wait


class BodyTooLarge(Exception):
    """A response body is larger than the caller accepts.

    ``declared`` is the size the server declared (``Content-Length``) when that alone was too
    large; None when the body ran past the limit while it was read.
    """

    def __init__(self, message: str, *, declared: int | None = None) -> None:
        super().__init__(message)
        self.declared = declared


class DeadlinePassed(Exception):
    """Reading a response body ran past the caller's deadline."""


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or None.

    A date in the past means "now" (0 s); anything unparseable is ignored (None).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def backoff_delay(attempt: int, base_seconds: float) -> float:
    """The wait after failed attempt ``attempt`` (1-based): ``base * 2**(attempt-1)``, plus up to
    a quarter more of jitter so that many workers do not retry in step."""
    return float(base_seconds * 2 ** (attempt - 1) * random.uniform(1.0, 1.25))


def sleep_unless_cancelled(seconds: float, is_cancelled: CancelCheck) -> None:
    """Sleep ``seconds``, checking ``is_cancelled()`` every ``SLEEP_SLICE``; raise ``Cancelled``."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(SLEEP_SLICE, left))
        if is_cancelled():
            raise Cancelled()


def call_with_retries(
    call: Callable[[], T],
    *,
    what: str,
    max_attempts: int,
    backoff_base_seconds: float,
    deadline: float,
    is_cancelled: CancelCheck,
    log_label: str = "hosted model",
) -> T:
    """Run ``call`` until it succeeds, retrying ``Retryable`` with backoff (module docstring).

    ``what`` names the exchange in the final message ("the generate call"...); ``deadline`` is a
    ``time.monotonic()`` value. Raises ``PluginError`` (code ``provider_unavailable``,
    retryable) when giving up, ``Cancelled`` when the job is cancelled; anything else ``call``
    raises passes through.
    """
    for attempt in range(1, max_attempts + 1):
        if is_cancelled():
            raise Cancelled()
        try:
            return call()
        except Retryable as exc:
            if attempt == max_attempts:
                raise PluginError(
                    f"{exc} on all {max_attempts} attempts of the {what}; try again later.",
                    retryable=True,
                    code="provider_unavailable",
                ) from None
            wait = exc.wait if exc.wait is not None else backoff_delay(attempt, backoff_base_seconds)
            if time.monotonic() + wait > deadline:
                raise PluginError(
                    f"{exc}; waiting {wait:.0f} s more would pass the job's time budget.",
                    retryable=True,
                    code="provider_unavailable",
                ) from None
            logger.info(
                "%s: %s (attempt %d of %d); retrying in %.2f s", log_label, exc, attempt, max_attempts, wait
            )
            sleep_unless_cancelled(wait, is_cancelled)
    raise AssertionError("unreachable")  # the loop returns or raises


def request_timeouts(deadline: float, *, connect: float, read: float) -> tuple[float, float]:
    """``(connect, read)`` timeouts for one call, each cut to the time left before ``deadline``
    (at least half a second, so that a call near the deadline fails cleanly)."""
    remaining = max(0.5, deadline - time.monotonic())
    return min(connect, remaining), min(read, remaining)


def read_capped(response: requests.Response, limit: int, *, deadline: float | None = None) -> bytes:
    """The body of a streamed response, or ``BodyTooLarge`` once it passes ``limit`` bytes.

    A declared ``Content-Length`` over the limit is refused before reading; the bytes that
    arrive are counted too, since a declaration can lie. With ``deadline`` (a
    ``time.monotonic()`` value) a body still arriving after it raises ``DeadlinePassed``.
    Errors of the connection (``requests.RequestException``) pass through.
    """
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"{int(declared)} bytes", declared=int(declared))
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"over {limit} bytes")
        chunks.append(chunk)
        if deadline is not None and time.monotonic() > deadline:
            raise DeadlinePassed(f"the body was still arriving at the deadline ({size} bytes read)")
    return b"".join(chunks)
