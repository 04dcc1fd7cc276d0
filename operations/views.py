"""``/healthz``, ``/readyz`` and ``/metrics``: thin views over ``operations.readiness`` and
``operations.metrics``; who may read the metrics is ``operations.metrics_access``."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from operations import metrics, metrics_access, readiness


@never_cache
@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    """The process answers. Touches nothing else: a load balancer restarts what fails this."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> HttpResponse:
    """200 when every configured dependency answers, 503 naming those that do not."""
    answer = readiness.readiness()
    return JsonResponse(
        {"status": "ready" if answer.ready else "not ready", "checks": answer.checks},
        status=200 if answer.ready else 503,
    )


@never_cache
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The metrics, for a scraper that carries the token and/or comes from an allowed network."""
    refusal = metrics_access.refusal(request)
    if refusal is not None:
        return refusal
    return HttpResponse(metrics.render(), content_type=CONTENT_TYPE_LATEST)
