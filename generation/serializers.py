"""Serializers for generation jobs (output) and the documented shape of a request (input)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from generation.models import GenerationJob


class GenerationRequestSerializer(serializers.Serializer[Any]):
    """The body of ``POST /api/v1/generations/``. Validation against the plugin's declared
    capabilities happens in ``generation.services.submit``; this class documents the shape."""

    plugin = serializers.CharField(help_text="Plugin id, e.g. `procedural`, `sd35-medium`.")
    prompt = serializers.CharField(max_length=4000)
    negative_prompt = serializers.CharField(required=False, allow_blank=True, max_length=4000)
    width = serializers.IntegerField(required=False, min_value=1)
    height = serializers.IntegerField(required=False, min_value=1)
    seed = serializers.IntegerField(required=False, min_value=0, max_value=2**63 - 1)
    num_images = serializers.IntegerField(required=False, min_value=1)
    params = serializers.DictField(
        required=False, help_text="Plugin-specific settings (see the plugin's params_schema)."
    )
    idempotency_key = serializers.CharField(required=False, max_length=128)


class ProgressSerializer(serializers.Serializer[Any]):
    """How far a job is."""

    step = serializers.IntegerField()
    total = serializers.IntegerField()


class GenerationJobSerializer(serializers.ModelSerializer[GenerationJob]):
    """A job as the API shows it."""

    plugin = serializers.CharField(source="plugin_id")
    progress = serializers.SerializerMethodField()
    assets = serializers.SerializerMethodField()
    requested_by = serializers.CharField(source="requested_by.username")

    class Meta:
        model = GenerationJob
        fields = [
            "id",
            "plugin",
            "plugin_version",
            "status",
            "progress",
            "error",
            "error_code",
            "assets",
            "prompt",
            "negative_prompt",
            "width",
            "height",
            "seed",
            "num_images",
            "params",
            "idempotency_key",
            "attempts",
            "cancel_requested",
            "cost",
            "cost_currency",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_progress(self, job: GenerationJob) -> dict[str, int]:
        return {"step": job.progress_step, "total": job.progress_total}

    def get_assets(self, job: GenerationJob) -> list[str]:
        return [str(asset.pk) for asset in job.assets.all()]


# drf-spectacular reads these to document the method fields.
GenerationJobSerializer.get_progress.__annotations__["return"] = ProgressSerializer
GenerationJobSerializer.get_assets.__annotations__["return"] = list[str]
