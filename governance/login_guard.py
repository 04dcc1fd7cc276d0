"""Hooks for django-axes, which locks out repeated failed logins on ``/accounts/login/`` and
``/admin/login/``: the client address it keys lockouts by, and the page a locked-out user sees.
"""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


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
