"""``/api/v1/generations/``: submit, list, show and cancel generation jobs."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from assets.models import Asset
from generation import services
from generation.models import GenerationJob, JobStatus
from generation.serializers import GenerationJobSerializer, GenerationRequestSerializer
from governance.permissions import IsCreator, IsViewer
from hallmark.api import Conflict, invalid, too_many

# The fields the documented request has (plugin, the request fields, idempotency_key, tier, policy).
_ACCEPTED_FIELDS = frozenset(GenerationRequestSerializer().fields)


class GenerationFilter(django_filters.FilterSet):
    """Filters for the job list."""

    plugin = django_filters.CharFilter(field_name="plugin_id")
    status = django_filters.ChoiceFilter(choices=JobStatus.choices)
    requested_by = django_filters.CharFilter(field_name="requested_by__username")

    class Meta:
        model = GenerationJob
        fields = ["plugin", "status", "requested_by"]


class GenerationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[GenerationJob]
):
    """Generation jobs. Creators submit and cancel their own; admins cancel any; every role reads."""

    serializer_class = GenerationJobSerializer
    filterset_class = GenerationFilter
    lookup_value_regex = "[0-9a-fA-F-]{32,36}"

    def get_queryset(self) -> QuerySet[GenerationJob]:
        return (
            GenerationJob.objects.select_related("requested_by", "checklist_version")
            # A soft-deleted asset is gone from every endpoint, a job's list of assets included.
            .prefetch_related(Prefetch("assets", queryset=Asset.objects.live()))
            .order_by("-created_at")
        )

    def get_permissions(self) -> list[Any]:
        if self.action in ("create", "cancel"):
            return [IsCreator()]
        return [IsViewer()]

    @extend_schema(
        request=GenerationRequestSerializer,
        responses={
            202: GenerationJobSerializer,
            200: OpenApiResponse(GenerationJobSerializer, description="Replay of an idempotency key"),
            400: OpenApiResponse(description="Invalid request; `errors` names each field at fault"),
            402: OpenApiResponse(
                description="Over budget: `errors.budget` says how much is left of which monthly budget"
            ),
            409: OpenApiResponse(description="Idempotency key reused with other parameters"),
            429: OpenApiResponse(
                description="Too many jobs queued or running for this user (`limit` says how many "
                "one user may have), or too many requests (`Retry-After`)"
            ),
        },
    )
    def create(self, request: Request) -> Response:
        """Queue a generation. 202 with the job; 200 with the earlier job for a repeated key."""
        body = request.data
        if not isinstance(body, dict):
            return invalid({"non_field_errors": ["The request body must be a JSON object."]})
        unknown = sorted(set(body) - _ACCEPTED_FIELDS)
        if unknown:
            return invalid({name: ["Unknown field."] for name in unknown})
        try:
            job, created = services.submit(
                acting_user=request.user,  # type: ignore[arg-type]
                plugin_id=body.get("plugin"),
                fields=body,
                idempotency_key=body.get("idempotency_key"),
            )
        except services.IdempotencyConflict as exc:
            raise Conflict(str(exc)) from None
        except services.QueueFull as exc:
            return too_many(str(exc), limit=exc.limit)
        data = GenerationJobSerializer(job, context={"request": request}).data
        return Response(data, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)

    @extend_schema(
        request=None,
        responses={
            200: GenerationJobSerializer,
            404: OpenApiResponse(
                description="No such job, or not yours to cancel (only admins cancel others')"
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Cancel your own job (admins: any job): at once while queued, within one step while running."""
        job = self.get_object()
        try:
            job = services.cancel(job.pk, acting_user=request.user)
        except services.CancelNotPermitted:
            # The same answer as for an unknown id, so this endpoint tells nothing about other
            # people's jobs; the service wrote nothing.
            raise NotFound() from None
        return Response(GenerationJobSerializer(job, context={"request": request}).data)
