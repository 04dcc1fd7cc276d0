"""Serializers of the benchmarks API (the request's documented shape and the answers)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from scorecards.models import Benchmark


class PromptSerializer(serializers.Serializer[Any]):
    """One prompt of a benchmark and the text its image must show."""

    prompt = serializers.CharField(max_length=1000)
    expected_text = serializers.CharField(required=False, allow_blank=True, max_length=500)


class BenchmarkRequestSerializer(serializers.Serializer[Any]):
    """The body of ``POST /api/v1/benchmarks/``: exactly one of ``prompt_set`` and ``prompts``.
    Validated by ``scorecards.services.create_benchmark``; this documents the shape."""

    name = serializers.CharField(max_length=100)
    checklist = serializers.IntegerField(help_text="Checklist id; its latest version judges every image.")
    prompt_set = serializers.CharField(
        required=False, help_text="A built-in prompt set, e.g. `typography-v1`."
    )
    prompts = PromptSerializer(many=True, required=False)
    plugins = serializers.ListField(child=serializers.CharField())
    seeds = serializers.ListField(child=serializers.IntegerField(min_value=0))
    width = serializers.IntegerField(required=False, help_text="Default 512.")
    height = serializers.IntegerField(required=False, help_text="Default 512.")


class TypographySerializer(serializers.Serializer[Any]):
    """OCR character accuracy over a plugin's images (None without a typography check)."""

    mean = serializers.FloatField(allow_null=True)
    worst = serializers.FloatField(allow_null=True)


class ModelSerializer(serializers.Serializer[Any]):
    """The model identity that produced a plugin's images."""

    name = serializers.CharField(allow_null=True)
    version = serializers.CharField(allow_null=True)
    weights_fingerprint = serializers.CharField(allow_null=True)


class ScorecardRowSerializer(serializers.Serializer[Any]):
    """One plugin's line of a scorecard (docs/acceptance.md defines each figure)."""

    plugin = serializers.CharField()
    model = ModelSerializer()
    cells = serializers.IntegerField()
    images = serializers.IntegerField()
    accepted = serializers.IntegerField()
    pass_rate = serializers.FloatField(allow_null=True)
    typography_accuracy = TypographySerializer()
    p50_ms = serializers.FloatField(allow_null=True)
    p95_ms = serializers.FloatField(allow_null=True)
    failures = serializers.DictField(child=serializers.IntegerField())
    cost_per_image_usd = serializers.FloatField(allow_null=True)
    cost_per_accepted_usd = serializers.FloatField(allow_null=True)


class BenchmarkSummarySerializer(serializers.ModelSerializer[Benchmark]):
    """A benchmark as the list shows it."""

    checklist = serializers.IntegerField(source="checklist_version.checklist_id")
    checklist_version = serializers.IntegerField(source="checklist_version.number")
    created_by = serializers.CharField(source="created_by.username")

    class Meta:
        model = Benchmark
        fields = [
            "id",
            "name",
            "checklist",
            "checklist_version",
            "prompt_set",
            "plugins",
            "seeds",
            "width",
            "height",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class BenchmarkSerializer(BenchmarkSummarySerializer):
    """A benchmark with its status and scorecard (passed in the context by the view)."""

    status = serializers.SerializerMethodField()
    scorecard = serializers.SerializerMethodField()

    class Meta(BenchmarkSummarySerializer.Meta):
        fields = [*BenchmarkSummarySerializer.Meta.fields, "status", "scorecard"]
        read_only_fields = fields

    def get_status(self, benchmark: Benchmark) -> str:
        """``running`` while a job runs or an image waits for its checks, then ``finished``."""
        return str(self.context["status"])

    @extend_schema_field(ScorecardRowSerializer(many=True))
    def get_scorecard(self, benchmark: Benchmark) -> list[dict[str, Any]]:
        """One row per plugin."""
        return list(self.context["scorecard"])
