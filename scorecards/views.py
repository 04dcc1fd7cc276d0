"""Pages: the benchmarks list and a benchmark's scorecard, chart and grid of images."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.safestring import mark_safe

from governance import roles
from scorecards import scorecard
from scorecards.export import chart_svg
from scorecards.models import Benchmark


def _require_viewer(request: HttpRequest) -> None:
    if not roles.has_role(request.user, roles.VIEWER):
        raise PermissionDenied("You need a role to see benchmarks.")


@login_required
def benchmark_list(request: HttpRequest) -> HttpResponse:
    """Every benchmark, newest first (the latest 200)."""
    _require_viewer(request)
    benchmarks = Benchmark.objects.select_related("created_by", "checklist_version__checklist")[:200]
    return render(request, "scorecards/list.html", {"benchmarks": benchmarks})


@login_required
def benchmark_detail(request: HttpRequest, benchmark_id: int) -> HttpResponse:
    """The scorecard table, the pass-rate/cost chart and the images behind each cell."""
    _require_viewer(request)
    benchmark = get_object_or_404(
        Benchmark.objects.select_related("created_by", "checklist_version__checklist"), pk=benchmark_id
    )
    views = scorecard.cells(benchmark)
    rows = scorecard.scorecard(benchmark, views)
    grid: dict[int, list[Any]] = defaultdict(list)
    for view in views:
        grid[view.cell.prompt_index].append(view)
    prompts = [
        {"index": index, **item, "cells": grid.get(index, [])} for index, item in enumerate(benchmark.prompts)
    ]
    return render(
        request,
        "scorecards/detail.html",
        {
            "benchmark": benchmark,
            "status": scorecard.status(views),
            "rows": rows,
            # Built from numbers and escaped labels only (scorecards.export.chart_svg).
            "chart": mark_safe(chart_svg(rows)),
            "prompts": prompts,
        },
    )
