"""``/api/v1/audit/``: the audit trail, for reviewers and admins."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from rest_framework import serializers, viewsets

from governance.models import AuditEvent
from governance.permissions import IsReviewer


class AuditEventSerializer(serializers.ModelSerializer[AuditEvent]):
    """An audit event with its place in the hash chain."""

    class Meta:
        model = AuditEvent
        fields = [
            "seq",
            "at",
            "actor",
            "actor_id",
            "action",
            "target_type",
            "target_id",
            "data",
            "prev_hash",
            "hash",
        ]
        read_only_fields = fields


class AuditEventFilter(django_filters.FilterSet):
    """Filters for the audit trail."""

    action = django_filters.CharFilter()
    target_type = django_filters.CharFilter()
    target_id = django_filters.CharFilter()
    actor = django_filters.CharFilter()
    after = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="gte")
    before = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = ["action", "target_type", "target_id", "actor", "after", "before"]


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet[AuditEvent]):
    """Audit events, newest first. Reviewers and admins only."""

    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    permission_classes = [IsReviewer]
    lookup_field = "seq"
    lookup_value_regex = "[0-9]{1,18}"

    def get_queryset(self) -> QuerySet[AuditEvent]:
        return AuditEvent.objects.order_by("-seq")
