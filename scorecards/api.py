"""``/api/v1/benchmarks/``: run prompts x plugins x seeds against a checklist, read the
scorecard as JSON or CSV. Thin: ``scorecards.services`` validates and submits,
``scorecards.scorecard`` computes. Creators run benchmarks; every role reads them."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.permissions import IsCreator, IsViewer
from scorecards import scorecard, services
from scorecards.export import scorecard_csv
from scorecards.models import Benchmark
from scorecards.serializers import (
    BenchmarkRequestSerializer,
    BenchmarkSerializer,
    BenchmarkSummarySerializer,
)


def _detail(benchmark: Benchmark, request: Request, code: int = status.HTTP_200_OK) -> Response:
    views = scorecard.cells(benchmark)
    context = {
        "request": request,
        "status": scorecard.status(views),
        "scorecard": scorecard.scorecard(benchmark, views),
    }
    return Response(BenchmarkSerializer(benchmark, context=context).data, status=code)


class BenchmarkViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Benchmark]):
    """Benchmarks of model plugins against an acceptance checklist, and their scorecards."""

    serializer_class = BenchmarkSummarySerializer

    def get_queryset(self) -> QuerySet[Benchmark]:
        return Benchmark.objects.select_related("created_by", "checklist_version")

    def get_permissions(self) -> list[Any]:
        if self.action == "create":
            return [IsCreator()]
        return [IsViewer()]

    @extend_schema(
        request=BenchmarkRequestSerializer,
        responses={
            201: BenchmarkSerializer,
            400: OpenApiResponse(description="Invalid request; `errors` names each field at fault"),
        },
    )
    def create(self, request: Request) -> Response:
        """Queue one job per prompt x plugin x seed (at most ``HALLMARK_BENCHMARK_MAX_CELLS``)."""
        benchmark = services.create_benchmark(acting_user=request.user, body=request.data)  # type: ignore[arg-type]
        return _detail(benchmark, request, status.HTTP_201_CREATED)

    @extend_schema(responses={200: BenchmarkSerializer})
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        """The benchmark's status and scorecard (one row per plugin)."""
        return _detail(self.get_object(), request)


class ScorecardCsvView(APIView):
    """A benchmark's scorecard as CSV (cells that would start a spreadsheet formula are quoted)."""

    permission_classes = [IsViewer]

    @extend_schema(
        responses={(200, "text/csv"): OpenApiTypes.STR, 404: OpenApiResponse(description="No such benchmark")}
    )
    def get(self, request: Request, benchmark_id: int) -> HttpResponse:
        """``scorecard-<id>.csv``: one line per plugin."""
        benchmark = get_object_or_404(Benchmark, pk=benchmark_id)
        response = HttpResponse(
            scorecard_csv(scorecard.scorecard(benchmark)), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="scorecard-{benchmark.pk}.csv"'
        return response
