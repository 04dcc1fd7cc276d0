"""``/api/v1/checklists/`` and ``/api/v1/assets/{id}/checks/``.

Thin: validation and writes are ``acceptance.services``'; its errors (``hallmark.errors``)
become 4xx in ``hallmark.api.exception_handler``. Creators create checklists; a checklist's
author or an admin revises it; every role reads.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from acceptance import services
from acceptance.models import Checklist, ChecklistVersion
from acceptance.serializers import ChecklistInputSerializer, ChecklistSerializer, CheckResultSerializer
from assets.models import Asset
from governance.permissions import IsCreator, IsViewer
from hallmark.api import invalid

_ERRORS = OpenApiResponse(
    description="Invalid request; `errors` names each field at fault, e.g. `checks[2].ratio`"
)


# Both ways of revising a checklist (PUT and PATCH) take the same body and answer alike.
_REVISE_SCHEMA = extend_schema(
    request=ChecklistInputSerializer,
    responses={
        200: ChecklistSerializer,
        400: _ERRORS,
        403: OpenApiResponse(description="Not its author nor an admin"),
    },
)


class ChecklistViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Checklist]):
    """Acceptance checklists: named, versioned lists of checks. Editing makes a new version."""

    serializer_class = ChecklistSerializer

    def get_queryset(self) -> QuerySet[Checklist]:
        return Checklist.objects.select_related("created_by").prefetch_related(
            Prefetch(
                "versions", queryset=ChecklistVersion.objects.select_related("created_by").order_by("-number")
            )
        )

    def get_permissions(self) -> list[Any]:
        if self.action in ("create", "update", "partial_update"):
            return [IsCreator()]
        return [IsViewer()]

    def _body(self, request: Request) -> dict[str, Any] | Response:
        body = request.data
        if not isinstance(body, dict):
            return invalid({"non_field_errors": ["The request body must be a JSON object."]})
        unknown = sorted(set(body) - {"name", "checks"})
        if unknown:
            return invalid({name: ["Unknown field."] for name in unknown})
        return body

    def _shown(self, request: Request, pk: Any, code: int) -> Response:
        checklist = self.get_queryset().get(pk=pk)
        return Response(ChecklistSerializer(checklist, context={"request": request}).data, status=code)

    @extend_schema(request=ChecklistInputSerializer, responses={201: ChecklistSerializer, 400: _ERRORS})
    def create(self, request: Request) -> Response:
        """Create a checklist (version 1)."""
        body = self._body(request)
        if isinstance(body, Response):
            return body
        if "name" not in body:
            return invalid({"name": ["This field is required."]})
        checklist = services.create_checklist(
            acting_user=request.user,  # type: ignore[arg-type]
            name=body.get("name"),
            checks=body.get("checks"),
        )
        return self._shown(request, checklist.pk, status.HTTP_201_CREATED)

    @_REVISE_SCHEMA
    def update(self, request: Request, pk: str | None = None) -> Response:
        """Replace the checks (a new version when they differ) and/or rename."""
        return self._revise(request, partial=False)

    @_REVISE_SCHEMA
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        """Change the name and/or the checks (a new version when they differ)."""
        return self._revise(request, partial=True)

    def _revise(self, request: Request, *, partial: bool) -> Response:
        checklist = self.get_object()
        body = self._body(request)
        if isinstance(body, Response):
            return body
        if not partial:
            missing = [name for name in ("name", "checks") if name not in body]
            if missing:
                return invalid({name: ["This field is required."] for name in missing})
        services.revise_checklist(
            checklist.pk,
            acting_user=request.user,  # type: ignore[arg-type]
            name=body.get("name"),
            checks=body.get("checks"),
        )
        return self._shown(request, checklist.pk, status.HTTP_200_OK)


class AssetChecksView(APIView):
    """The check results of one asset, each naming its checklist and version."""

    permission_classes = [IsViewer]

    @extend_schema(
        responses={200: CheckResultSerializer(many=True), 404: OpenApiResponse(description="No such asset")}
    )
    def get(self, request: Request, asset_id: uuid.UUID) -> Response:
        """``[{"checklist", "version", "check", "passed", "score", "detail"}]``."""
        if not Asset.objects.live().filter(pk=asset_id).exists():
            raise NotFound()
        return Response(CheckResultSerializer(services.results_for(asset_id), many=True).data)
