"""URLs of ``bench/bench_api_load.py``'s server: Hallmark's, and the minimal anchor view."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from hallmark.urls import urlpatterns as hallmark_urlpatterns


def minimal(request: HttpRequest) -> HttpResponse:
    """The least a Django view can answer: what the asset list's rate is measured against."""
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [path("_bench/minimal", minimal), *hallmark_urlpatterns]
