"""Who may read ``/metrics``: ``HALLMARK_METRICS_TOKEN`` and ``HALLMARK_METRICS_ALLOWED_NETWORKS``.

Off (404, as if there were no such page) until an operator sets at least one. With a token,
the request must carry ``Authorization: Bearer <token>`` (compared in constant time); with
networks, it must come from one of them; with both, both. Anything else is 403, the same answer
whichever check failed. Metrics name plugins, queues and volumes: not for everyone who can reach
the web.

The network check uses the connecting address (``REMOTE_ADDR``), never ``X-Forwarded-For``,
whatever ``HALLMARK_NUM_PROXIES`` says: a client that reaches the app port directly (inside the
cluster, a misrouted load balancer) would otherwise choose its own address. Prometheus scrapes
each web process directly, so its own address is the one seen; a scrape through the proxy is
seen from the proxy's address. Networks alone are only as good as the network: set a token too.
"""

from __future__ import annotations

import hmac
from ipaddress import IPv6Address, ip_address

from django.conf import settings
from django.http import HttpRequest, HttpResponse

_BEARER = "bearer "


def _token_matches(request: HttpRequest, token: str) -> bool:
    header = str(request.META.get("HTTP_AUTHORIZATION", ""))
    if header[: len(_BEARER)].lower() != _BEARER:
        return False
    given = header[len(_BEARER) :].strip().encode("utf-8", "surrogateescape")
    return hmac.compare_digest(given, token.encode("utf-8"))


def _address_allowed(request: HttpRequest) -> bool:
    # The peer's own address: X-Forwarded-For is whatever a direct client writes (module doc).
    remote = str(request.META.get("REMOTE_ADDR") or "")
    try:
        address = ip_address(remote.strip().split("%")[0])
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
