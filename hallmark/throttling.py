"""API rate limits, per user and per client address (``REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]``).

A module of its own, not ``hallmark.api``: DRF imports the default throttle classes while it
defines ``APIView``, and ``hallmark.api`` imports ``rest_framework.views``.

DRF's throttles read their rates once, at import; these read Hallmark's settings on each
request, so the rate in force is the one configured now (``None``: no limit). Counts live in
Django's default cache, which ``HALLMARK_CACHE_URL`` makes shared by every web process.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class AnonThrottle(AnonRateThrottle):
    """Requests per client address without logging in: ``HALLMARK_API_THROTTLE_ANON``."""

    def get_rate(self) -> str | None:
        return settings.HALLMARK_API_THROTTLE_ANON or None


class UserThrottle(UserRateThrottle):
    """Requests per user (per address before logging in): ``HALLMARK_API_THROTTLE_USER``."""

    def get_rate(self) -> str | None:
        return settings.HALLMARK_API_THROTTLE_USER or None


class ExportThrottle(UserRateThrottle):
    """Zip exports per user: ``HALLMARK_EXPORT_RATE``, on top of the API's own limits.

    One export streams up to ``HALLMARK_EXPORT_MAX_ASSETS`` whole files and holds a web worker
    while it does; the general per-user rate would let one viewer hold every worker. Counted
    apart (scope ``export``) in the same cache, by the API's exports and the pages' alike.
    """

    scope = "export"

    def get_rate(self) -> str | None:
        return settings.HALLMARK_EXPORT_RATE or None
