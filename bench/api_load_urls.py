"""URLs of ``bench/bench_api_load.py``'s server: Hallmark's, and its anchor views."""

import os

from django.http import HttpRequest, HttpResponse
from django.urls import path

from hallmark.urls import urlpatterns as hallmark_urlpatterns


def minimal(request: HttpRequest) -> HttpResponse:
    """The least a Django view can answer: what the asset list's rate is measured against."""
    return HttpResponse(b"ok", content_type="text/plain")


_PAGE_SIZED = b"x" * int(os.environ.get("HALLMARK_BENCH_BODY_BYTES", "0"))


def page_sized(request: HttpRequest) -> HttpResponse:
    """A fixed body as large as a page of the asset list (set by the benchmark): what writing
    and reading that many bytes costs, without any of the list's work."""
    return HttpResponse(_PAGE_SIZED, content_type="application/json")


urlpatterns = [path("_bench/minimal", minimal), path("_bench/page-sized", page_sized), *hallmark_urlpatterns]
