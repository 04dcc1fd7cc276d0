"""``/api/v1/experiments/``: run one prompt across models and seeds (or compare existing
assets), list and read experiments, extend one, mark its winner.

Thin: the rules are ``workspace.experiments``' and the reading ``workspace.experiment_results``';
their errors (``hallmark.errors``) become 4xx in ``hallmark.api.exception_handler``.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from governance.permissions import IsCreator, IsViewer
from hallmark.errors import InvalidInput
from workspace import experiment_results, experiments
from workspace.experiment_serializers import (
    ExperimentCreateSerializer,
    ExperimentExtendSerializer,
    ExperimentSerializer,
    WinnerSerializer,
    experiment_data,
)
from workspace.models import Experiment

_BAD = {400: OpenApiResponse(description="Bad input; `errors` names the field")}
_FULL = {
    429: OpenApiResponse(description="The cells do not fit in the user's queue (`limit` says how many jobs)")
}
_NOT_YOURS = {403: OpenApiResponse(description="Neither the experiment's creator nor an admin")}


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise InvalidInput({"non_field_errors": ["The request body must be a JSON object."]})
    return request.data


def _text(request: Request, name: str) -> str:
    # NUL can be in a URL but not in a PostgreSQL query.
    return str(request.query_params.get(name, "")).replace("\x00", "").strip()


class ExperimentViewSet(viewsets.GenericViewSet[Experiment]):
    """Experiments: every role reads them; creators make and extend them; the creator or an
    admin marks the winner."""

    serializer_class = ExperimentSerializer
    lookup_value_regex = "[0-9a-fA-F-]{32,36}"

    def get_queryset(self) -> QuerySet[Experiment]:
        return experiment_results.search(
            q=_text(self.request, "q"),
            plugin=_text(self.request, "plugin"),
            created_by=_text(self.request, "created_by"),
        )

    def get_permissions(self) -> list[BasePermission]:
        if self.action in ("create", "cells", "winner"):
            return [IsCreator()]
        return [IsViewer()]

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, description="Words in the prompt"),
            OpenApiParameter("plugin", str, description="Has a cell of this plugin id"),
            OpenApiParameter("created_by", str, description="Username of its creator"),
        ],
        responses={200: ExperimentSerializer(many=True)},
    )
    def list(self, request: Request) -> Response:
        """Experiments, newest first, with page links."""
        page = self.paginate_queryset(self.get_queryset())
        assert page is not None  # the API always paginates (hallmark.api.StandardPagination)
        cells = experiment_results.results_for(page)
        return self.get_paginated_response([experiment_data(e, request, cells[e.pk]) for e in page])

    @extend_schema(responses={200: ExperimentSerializer})
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        """One experiment with its cells and status."""
        return Response(experiment_data(experiments.get_experiment(pk), request))

    @extend_schema(request=ExperimentCreateSerializer, responses={201: ExperimentSerializer, **_BAD, **_FULL})
    def create(self, request: Request) -> Response:
        """Submit one job per plugin and seed (all or none; audited), or compare existing assets."""
        experiment = experiments.create_experiment(_body(request), acting_user=request.user)
        return Response(experiment_data(experiment, request), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=ExperimentExtendSerializer,
        responses={201: ExperimentSerializer, **_BAD, **_FULL, **_NOT_YOURS},
    )
    @action(detail=True, methods=["post"], url_path="cells", url_name="cells")
    def cells(self, request: Request, pk: str | None = None) -> Response:
        """Add plugins and/or seeds: the cells not there yet are submitted (audited)."""
        experiments.extend_experiment(pk, _body(request), acting_user=request.user)
        return Response(
            experiment_data(experiments.get_experiment(pk), request), status=status.HTTP_201_CREATED
        )

    @extend_schema(request=WinnerSerializer, responses={200: ExperimentSerializer, **_BAD, **_NOT_YOURS})
    @action(detail=True, methods=["post"], url_path="winner", url_name="winner")
    def winner(self, request: Request, pk: str | None = None) -> Response:
        """Mark one of the cells' assets as the winner (audited)."""
        experiment = experiments.mark_winner(pk, _body(request).get("asset"), acting_user=request.user)
        return Response(experiment_data(experiment, request))
