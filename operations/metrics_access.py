"""Who may read ``/metrics``: ``HALLMARK_METRICS_TOKEN`` and ``HALLMARK_METRICS_ALLOWED_NETWORKS``.

Off (404, as if there were no such page) until an operator sets at least one. With a token,
the request must carry ``Authorization: Bearer <token>`` (compared in constant time); with
networks, it must come from one of them (the address counted as the rate limits count it,
``HALLMARK_NUM_PROXIES``); with both, both. Anything else is 403, the same answer whichever
check failed. Metrics name plugins, queues and volumes: not for everyone who can reach the web.
"""

from __future__ import annotations

import hmac
from ipaddress import IPv6Address, ip_address

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from governance.login_guard import client_ip

_BEARER = "bearer "


def _token_matches(request: HttpRequest, token: str) -> bool:
    header = str(request.META.get("HTTP_AUTHORIZATION", ""))
    if header[: len(_BEARER)].lower() != _BEARER:
        return False
    given = header[len(_BEARER) :].strip().encode("utf-8", "surrogateescape")
    return hmac.compare_digest(given, token.encode("utf-8"))


def _address_allowed(request: HttpRequest) -> bool:
    try:
        address = ip_address(client_ip(request).strip().split("%")[0])
    except ValueError:
        return False
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in settings.HALLMARK_METRICS_ALLOWED_NETWORKS)


def refusal(request: HttpRequest) -> HttpResponse | None:
    """None when the request may read the metrics, else the response to give instead."""
    token: str = settings.HALLMARK_METRICS_TOKEN
    networks = settings.HALLMARK_METRICS_ALLOWED_NETWORKS
    if not token and not networks:
        return HttpResponse("Not found.\n", status=404, content_type="text/plain")
    allowed = (not token or _token_matches(request, token)) and (not networks or _address_allowed(request))
    if not allowed:
        response = HttpResponse("Forbidden.\n", status=403, content_type="text/plain")
        if token:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return None
