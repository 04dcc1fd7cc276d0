"""Login lockouts on ``/accounts/login/`` and ``/admin/login/``: django-axes' hooks (the client
address it keys lockouts by, the page a locked-out user sees) and a second, per-address limit
against password spraying.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render, resolve_url
from django.urls import reverse


def client_ip(request: HttpRequest) -> str:
    """The client's address, counted the way DRF's throttles count it (``NUM_PROXIES``).

    With ``HALLMARK_NUM_PROXIES`` = 0 (no proxy) it is ``REMOTE_ADDR``: an ``X-Forwarded-For``
    header is the client's to invent. Behind N proxies it is the address the outermost
    proxy saw, N entries from the right of ``X-Forwarded-For``.
    """
    remote = str(request.META.get("REMOTE_ADDR") or "")
    proxies = settings.HALLMARK_NUM_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies <= 0 or not forwarded:
        return remote
    addresses = [a.strip() for a in str(forwarded).split(",") if a.strip()]
    if not addresses:
        return remote
    return addresses[-min(proxies, len(addresses))]


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """429 with a page that says what happened and when to try again (``Retry-After`` too)."""
    cool_off = settings.AXES_COOLOFF_TIME
    seconds = int(cool_off.total_seconds()) if cool_off else 0
    response = render(
        request,
        "registration/locked_out.html",
        {
            "minutes": math.ceil(seconds / 60),
            "failure_limit": settings.AXES_FAILURE_LIMIT,
        },
        status=429,
    )
    if seconds:
        response["Retry-After"] = str(seconds)
    return response


# --- password spraying: failures per address, whatever the usernames -------------------------
#
# django-axes counts failures per username and address, which stops guessing one account's
# password but not trying a few passwords on many accounts from one address. Failed logins are
# also counted per address (in the shared cache, so every web process sees them), with a
# higher limit than per account: an office behind one address is not locked out by a few typos.

_FAILURES_KEY = "hallmark:login-failures:{address}"


def _window_seconds() -> int:
    cool_off = settings.AXES_COOLOFF_TIME
    return int(cool_off.total_seconds()) if cool_off else 15 * 60


def count_failed_login(sender: Any, credentials: Any = None, request: HttpRequest | None = None, **kwargs: Any) -> None:
    """``user_login_failed`` receiver: one more failure from the request's address."""
    if request is None or settings.HALLMARK_LOGIN_FAILURES_PER_ADDRESS <= 0:
        return
    key = _FAILURES_KEY.format(address=client_ip(request))
    if not cache.add(key, 1, timeout=_window_seconds()):
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=_window_seconds())


def address_locked_out(request: HttpRequest) -> bool:
    """Whether the request's address has failed ``HALLMARK_LOGIN_FAILURES_PER_ADDRESS`` logins
    within the window (``HALLMARK_LOGIN_COOLOFF_MINUTES``)."""
    limit = settings.HALLMARK_LOGIN_FAILURES_PER_ADDRESS
    if limit <= 0:
        return False
    return int(cache.get(_FAILURES_KEY.format(address=client_ip(request))) or 0) >= limit


class AddressLockoutMiddleware:
    """Refuses login attempts (POST to the login pages) from an address past its limit."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and request.path in _login_paths() and address_locked_out(request):
            return lockout_response(request)
        return self.get_response(request)


def _login_paths() -> set[str]:
    return {resolve_url(settings.LOGIN_URL), reverse("admin:login")}
