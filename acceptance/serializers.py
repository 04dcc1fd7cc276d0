"""Serializers of the acceptance API: checklists (input and output) and check results."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from acceptance.models import Checklist, CheckResult


class CheckSpecSerializer(serializers.Serializer[Any]):
    """One check: ``type`` plus that type's parameters (docs/acceptance.md lists them), e.g.
    ``{"type": "min_resolution", "width": 1024, "height": 1024}``."""

    type = serializers.CharField(
        help_text="min_resolution {width,height}, aspect_ratio {ratio, tolerance?}, typography "
        "{min_accuracy?}, max_seconds {seconds}, max_cost {usd}, provider_safe, provenance_intact, "
        "or an installed third-party check."
    )


class ChecklistInputSerializer(serializers.Serializer[Any]):
    """The body of ``POST``/``PUT``/``PATCH /api/v1/checklists/``. Validated by
    ``acceptance.services`` (errors name e.g. ``checks[2].ratio``); this documents the shape."""

    name = serializers.CharField(max_length=100)
    checks = CheckSpecSerializer(many=True)


class ChecklistVersionSerializer(serializers.Serializer[Any]):
    """One version of a checklist."""

    number = serializers.IntegerField()
    checks = serializers.ListField(child=serializers.DictField())
    created_by = serializers.CharField(source="created_by.username")
    created_at = serializers.DateTimeField()


class ChecklistSerializer(serializers.ModelSerializer[Checklist]):
    """A checklist: its latest version's checks, and every version."""

    version = serializers.SerializerMethodField()
    checks = serializers.SerializerMethodField()
    versions = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username")

    class Meta:
        model = Checklist
        fields = ["id", "name", "version", "checks", "versions", "created_by", "created_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.IntegerField())
    def get_version(self, checklist: Checklist) -> int:
        return int(self._versions(checklist)[0].number)

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_checks(self, checklist: Checklist) -> list[dict[str, Any]]:
        return list(self._versions(checklist)[0].checks)

    @extend_schema_field(ChecklistVersionSerializer(many=True))
    def get_versions(self, checklist: Checklist) -> list[dict[str, Any]]:
        return list(ChecklistVersionSerializer(self._versions(checklist), many=True).data)

    @staticmethod
    def _versions(checklist: Checklist) -> list[Any]:
        # Prefetched newest first by the view (Meta.ordering).
        return list(checklist.versions.all())


class CheckResultSerializer(serializers.ModelSerializer[CheckResult]):
    """One check's result on an asset, naming the checklist version it was judged by."""

    checklist = serializers.IntegerField(source="checklist_version.checklist_id")
    checklist_name = serializers.CharField(source="checklist_version.checklist.name")
    version = serializers.IntegerField(source="checklist_version.number")
    check = serializers.CharField(source="check_type")

    class Meta:
        model = CheckResult
        fields = [
            "checklist",
            "checklist_name",
            "version",
            "check",
            "passed",
            "score",
            "detail",
            "created_at",
        ]
        read_only_fields = fields
