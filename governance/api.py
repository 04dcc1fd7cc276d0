"""``/api/v1/audit/``: the audit trail, for reviewers and admins."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import renderers, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance import organisation
from governance.audit_chain import EVENT_FIELDS
from governance.export import ExportScope, export_lines, parse_bound
from governance.models import AuditEvent, OrganisationProfile, RevenueBand
from governance.permissions import IsAdmin, IsReviewer, IsViewer
from hallmark.api import UTCDateTimeFilter, invalid


class AuditEventSerializer(serializers.ModelSerializer[AuditEvent]):
    """An audit event with its place in the hash chain."""

    class Meta:
        model = AuditEvent
        fields = list(EVENT_FIELDS)
        read_only_fields = fields


class AuditEventFilter(django_filters.FilterSet):
    """Filters for the audit trail."""

    action = django_filters.CharFilter()
    target_type = django_filters.CharFilter()
    target_id = django_filters.CharFilter()
    actor = django_filters.CharFilter()
    after = UTCDateTimeFilter(field_name="at", lookup_expr="gte")
    before = UTCDateTimeFilter(field_name="at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = ["action", "target_type", "target_id", "actor", "after", "before"]


class NDJSONRenderer(renderers.BaseRenderer):
    """``application/x-ndjson``: the export streams its own lines; errors are one JSON line."""

    media_type = "application/x-ndjson"
    format = "ndjson"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        return renderers.JSONRenderer().render(data) + b"\n"


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet[AuditEvent]):
    """Audit events, newest first. Reviewers and admins only."""

    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    permission_classes = [IsReviewer]
    lookup_field = "seq"
    lookup_value_regex = "[0-9]{1,18}"

    def get_queryset(self) -> QuerySet[AuditEvent]:
        return AuditEvent.objects.order_by("-seq")

    @extend_schema(
        parameters=[
            OpenApiParameter("after", OpenApiTypes.DATETIME, description="Inclusive lower bound (ISO 8601)."),
            OpenApiParameter(
                "before", OpenApiTypes.DATETIME, description="Exclusive upper bound (ISO 8601)."
            ),
            OpenApiParameter("target_type", str, description="With target_id: one object's events."),
            OpenApiParameter("target_id", str, description="With target_type."),
        ],
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(
                OpenApiTypes.STR, description="A header line, then one line per event (docs/governance.md)."
            ),
            400: OpenApiResponse(
                description="A bad bound or a lone target_type/target_id; `errors` names it"
            ),
        },
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="export",
        url_name="export",
        renderer_classes=[renderers.JSONRenderer, NDJSONRenderer],
        filter_backends=[],
        pagination_class=None,
    )
    def export(self, request: Request) -> Response | StreamingHttpResponse:
        """The audit trail as JSON Lines that can be verified offline, streamed."""
        errors: dict[str, list[str]] = {}
        bounds: dict[str, Any] = {}
        for name in ("after", "before"):
            value = request.query_params.get(name, "")
            if value:
                try:
                    bounds[name] = parse_bound(value)
                except ValueError as exc:
                    errors[name] = [str(exc)]
        target_type = request.query_params.get("target_type", "")
        target_id = request.query_params.get("target_id", "")
        if bool(target_type) != bool(target_id):
            missing = "target_id" if target_type else "target_type"
            errors[missing] = ["target_type and target_id go together."]
        for name, value in (("target_type", target_type), ("target_id", target_id)):
            if len(value) > 64 or "\x00" in value:
                errors[name] = ["Must be at most 64 characters, without NUL characters."]
        if errors:
            return invalid(errors, "Invalid export range.")
        scope = ExportScope(
            after=bounds.get("after"),
            before=bounds.get("before"),
            targets=((target_type, target_id),) if target_type else (),
        )
        response = StreamingHttpResponse(export_lines(scope), content_type="application/x-ndjson")
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = f'attachment; filename="hallmark-audit-{stamp}.jsonl"'
        return response


class OrganisationProfileSerializer(serializers.Serializer[Any]):
    """The organisation profile licence policy is checked against."""

    commercial_use = serializers.BooleanField()
    revenue_band = serializers.ChoiceField(choices=RevenueBand.choices)
    enterprise_licenses = serializers.ListField(child=serializers.CharField(max_length=100), max_length=100)


class PolicyResponseSerializer(OrganisationProfileSerializer):
    """The profile with who changed it last, and when."""

    updated_at = serializers.DateTimeField(allow_null=True)
    updated_by = serializers.CharField(allow_null=True)


def _policy_data(row: OrganisationProfile) -> dict[str, Any]:
    return {
        **organisation.profile_data(row),
        "updated_at": row.updated_at,
        "updated_by": row.updated_by.get_username() if row.updated_by else None,
    }


class PolicyView(APIView):
    """``/api/v1/policy/``: the organisation profile. Every role reads; admins replace it."""

    def get_permissions(self) -> list[Any]:
        return [IsAdmin()] if self.request.method == "PUT" else [IsViewer()]

    @extend_schema(responses={200: PolicyResponseSerializer})
    def get(self, request: Request) -> Response:
        """The organisation profile (defaults until an admin saves one)."""
        return Response(_policy_data(organisation.get_profile()))

    @extend_schema(
        request=OrganisationProfileSerializer,
        responses={
            200: PolicyResponseSerializer,
            400: OpenApiResponse(description="Invalid profile; `errors` names each field"),
        },
    )
    def put(self, request: Request) -> Response:
        """Replace the organisation profile (admins); audited as ``policy.updated``."""
        row = organisation.update_profile(request.data, acting_user=request.user)
        return Response(_policy_data(row))
