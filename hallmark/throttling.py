"""API rate limits, per user and per client address (``REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]``).

A module of its own, not ``hallmark.api``: DRF imports the default throttle classes while it
defines ``APIView``, and ``hallmark.api`` imports ``rest_framework.views``.

DRF's throttles read their rates once, at import; these read Hallmark's settings on each
request, so the rate in force is the one configured now (``None``: no limit). Counts live in
Django's default cache, which ``HALLMARK_CACHE_URL`` makes shared by every web process.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle


class AnonThrottle(AnonRateThrottle):
    """Requests per client address without logging in: ``HALLMARK_API_THROTTLE_ANON``."""

    def get_rate(self) -> str | None:
        return settings.HALLMARK_API_THROTTLE_ANON or None


class UserThrottle(UserRateThrottle):
    """Requests per user (per address before logging in): ``HALLMARK_API_THROTTLE_USER``."""

    def get_rate(self) -> str | None:
        return settings.HALLMARK_API_THROTTLE_USER or None


class VerifyThrottle(SimpleRateThrottle):
    """Images verified per user (per address before logging in): ``HALLMARK_VERIFY_RATE``.

    Verifying one image can cost a second of CPU (fingerprints, a watermark read), so the
    verify routes have an allowance of their own on top of the general one; a batch counts
    each of its files (``charge``).
    """

    scope = "verify"

    def get_rate(self) -> str | None:
        return settings.HALLMARK_VERIFY_RATE or None

    def get_cache_key(self, request: Request, view: Any) -> str:
        user = request.user
        ident = user.pk if user is not None and user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request: Request, view: Any) -> bool:
        return self.charge(request, view, 1)

    def charge(self, request: Request, view: Any, count: int) -> bool:
        """Count ``count`` more images; False (and nothing counted) if that passes the rate."""
        if self.rate is None or count <= 0:
            return True
        num_requests, duration = self.parse_rate(self.rate)
        if num_requests is None or duration is None:
            return True
        # The same bookkeeping as SimpleRateThrottle.allow_request (wait() reads it), by count.
        self.key = self.get_cache_key(request, view)
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - duration:
            self.history.pop()
        if len(self.history) + count > num_requests:
            return False
        self.history[:0] = [self.now] * count
        self.cache.set(self.key, self.history, duration)
        return True


class ExportThrottle(UserRateThrottle):
    """Zip exports per user: ``HALLMARK_EXPORT_RATE``, on top of the API's own limits.

    One export streams up to ``HALLMARK_EXPORT_MAX_ASSETS`` whole files and holds a web worker
    while it does; the general per-user rate would let one viewer hold every worker. Counted
    apart (scope ``export``) in the same cache, by the API's exports and the pages' alike.
    """

    scope = "export"

    def get_rate(self) -> str | None:
        return settings.HALLMARK_EXPORT_RATE or None
