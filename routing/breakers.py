"""A circuit breaker per plugin: the only writer of ``PluginBreaker``.

- closed: requests go through; each failure counts, each success resets the count;
- open: after ``failures`` consecutive failures; routing skips the plugin;
- half-open: ``probe_after_s`` after it opened, routing lets ONE request through as a probe
  (``try_probe`` claims it with one conditional UPDATE, so two requests at once cannot both be
  the probe); a success closes the breaker, a failure opens it again for another wait. A probe
  whose job never reports (a submission refused after routing, a lost worker) does not keep it
  half-open forever: after another ``probe_after_s`` the next request is let through instead.

A failure is a job that failed for the plugin's or provider's reason; a cancel, a request the
plugin or provider found invalid or refused, or a failure of Hallmark's own storage is not
(``NOT_PLUGIN_FAILURES``).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from routing.models import BreakerState, PluginBreaker

logger = logging.getLogger(__name__)

#: Error codes of failed jobs that say nothing about the plugin's health: the request was
#: invalid or refused for its content, the plugin was switched off, or Hallmark could not store
#: or sign what the plugin made.
NOT_PLUGIN_FAILURES = frozenset(
    {
        "invalid",
        "provider_rejected",
        "provider_refused",
        "unsafe_image",
        "disabled",
        "plugin_unavailable",
        "store",
        "provenance_error",
        "provenance_unavailable",
    }
)


def counts_as_failure(error_code: str) -> bool:
    """Whether a failed job with this error code counts against its plugin's breaker."""
    return error_code not in NOT_PLUGIN_FAILURES


def states() -> dict[str, PluginBreaker]:
    """Every breaker that has a row, by plugin id (a plugin without one is closed)."""
    return {b.plugin_id: b for b in PluginBreaker.objects.all()}


def try_probe(plugin_id: str, *, probe_after_s: int) -> bool:
    """Claim the probe of an open (or half-open, probe lost) breaker whose wait is over.

    Returns True for exactly one caller per wait: it moves the breaker to half-open and stamps
    ``last_probe_at`` in one UPDATE conditioned on the state it read.
    """
    now = timezone.now()
    due = now - timedelta(seconds=probe_after_s)
    claimed = PluginBreaker.objects.filter(
        Q(plugin_id=plugin_id)
        & (
            Q(state=BreakerState.OPEN, opened_at__lte=due)
            | Q(state=BreakerState.HALF_OPEN, last_probe_at__lte=due)
        )
    ).update(state=BreakerState.HALF_OPEN, last_probe_at=now)
    return claimed == 1


def record_success(plugin_id: str) -> None:
    """A job of the plugin succeeded: close its breaker (one UPDATE, none when already clean)."""
    closed = PluginBreaker.objects.filter(
        Q(plugin_id=plugin_id) & (Q(consecutive_failures__gt=0) | ~Q(state=BreakerState.CLOSED))
    ).update(state=BreakerState.CLOSED, consecutive_failures=0, opened_at=None, last_failure="")
    if closed:
        logger.info("breaker of %s closed: a job succeeded", plugin_id)


def record_failure(plugin_id: str, *, error_code: str, failures_to_open: int) -> BreakerState:
    """A job of the plugin failed: count it; open the breaker at ``failures_to_open`` in a
    row, or at once when it was half-open (the probe failed). Returns the new state."""
    now = timezone.now()
    with transaction.atomic():
        breaker, _ = PluginBreaker.objects.select_for_update().get_or_create(plugin_id=plugin_id)
        breaker.consecutive_failures += 1
        breaker.last_failure = error_code[:64]
        if breaker.state == BreakerState.HALF_OPEN or (
            breaker.state == BreakerState.CLOSED and breaker.consecutive_failures >= failures_to_open
        ):
            breaker.state = BreakerState.OPEN
            breaker.opened_at = now
            logger.warning(
                "breaker of %s opened after %d consecutive failures (last: %s)",
                plugin_id,
                breaker.consecutive_failures,
                error_code,
            )
        breaker.save()
    return BreakerState(breaker.state)
