"""Serializers for generation jobs (output) and the documented shape of a request (input)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from generation.models import GenerationJob
from governance import roles
from plugins.validation import REQUEST_FIELDS, RequestField


class GenerationRequestSerializer(serializers.Serializer[Any]):
    """The body of ``POST /api/v1/generations/``. Validation against the plugin's declared
    capabilities happens in ``generation.services.submit``; this class documents the shape."""

    # plugin, then plugins.validation.REQUEST_FIELDS in order, then idempotency_key, then the
    # routing fields (the docstring above is the schema's description, so this note is a
    # comment). The API accepts exactly these fields.
    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        return {
            "plugin": serializers.CharField(
                required=False,
                help_text="Plugin id, e.g. `procedural`, `sd35-medium`. Required unless `tier` or "
                "`policy` is given (naming both is a 400).",
            ),
            **{field.name: _serializer_field(field) for field in REQUEST_FIELDS},
            "idempotency_key": serializers.CharField(required=False, max_length=128),
            **_routing_fields(),
        }


def _routing_fields() -> dict[str, serializers.Field[Any, Any, Any, Any]]:
    """``tier`` and ``policy``: let a routing policy choose the plugin (docs/routing.md)."""
    return {
        "tier": serializers.ChoiceField(
            choices=["draft", "final"],
            required=False,
            help_text="Route to the first suitable plugin of this tier of the policy (default: the "
            "policy's first tier) instead of naming a plugin.",
        ),
        "policy": serializers.SlugField(
            required=False,
            max_length=63,
            help_text="The routing policy to use (default: the default policy).",
        ),
    }


def _serializer_field(field: RequestField) -> serializers.Field[Any, Any, Any, Any]:
    """The DRF field that documents one request field (bounds, whether it may be left out)."""
    options: dict[str, Any] = {}
    if not field.required:
        options["required"] = False
    if field.help:
        options["help_text"] = field.help
    if field.kind == "string":
        if not field.required:
            options["allow_blank"] = True
        return serializers.CharField(max_length=field.max_length, **options)
    if field.kind == "integer":
        return serializers.IntegerField(min_value=field.minimum, max_value=field.maximum, **options)
    return serializers.DictField(**options)


class ProgressSerializer(serializers.Serializer[Any]):
    """How far a job is."""

    step = serializers.IntegerField()
    total = serializers.IntegerField()


class GenerationJobSerializer(serializers.ModelSerializer[GenerationJob]):
    """A job as the API shows it."""

    plugin = serializers.CharField(source="plugin_id")
    error = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    assets = serializers.SerializerMethodField()
    requested_by = serializers.CharField(source="requested_by.username")
    waiting_for_broker = serializers.SerializerMethodField()

    class Meta:
        model = GenerationJob
        fields = [
            "id",
            "plugin",
            "plugin_version",
            "status",
            "waiting_for_broker",
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
            "routed_to",
            "routing_reason",
            "routing_policy",
            "routing_tier",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField())
    def get_error(self, job: GenerationJob) -> str:
        """The error as this caller may see it (``GenerationJob.error_for``)."""
        request = self.context.get("request")
        return job.error_for(sees_configuration=roles.has_role(getattr(request, "user", None), roles.ADMIN))

    @extend_schema_field(serializers.BooleanField())
    def get_waiting_for_broker(self, job: GenerationJob) -> bool:
        """Queued, but its message never reached the broker (it was down): the recovery sweep
        enqueues it when the broker is back."""
        return job.status == "queued" and job.enqueue_failed

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, job: GenerationJob) -> dict[str, int]:
        return {"step": job.progress_step, "total": job.progress_total}

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_assets(self, job: GenerationJob) -> list[str]:
        return [str(asset.pk) for asset in job.assets.all()]
