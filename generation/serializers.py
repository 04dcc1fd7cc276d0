"""Serializers for generation jobs (output) and the documented shape of a request (input)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from generation import checking
from generation.models import GenerationJob
from governance import roles
from plugins.validation import REQUEST_FIELDS, RequestField


class GenerationRequestSerializer(serializers.Serializer[Any]):
    """The body of ``POST /api/v1/generations/``. Validation against the plugin's declared
    capabilities happens in ``generation.services.submit``; this class documents the shape."""

    # plugin, then plugins.validation.REQUEST_FIELDS in order, then idempotency_key, then the
    # routing fields, then the acceptance fields (the docstring above is the schema's description, so this note is a
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
            **acceptance_request_fields(),
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


def acceptance_request_fields() -> dict[str, serializers.Field[Any, Any, Any, Any]]:
    """The request fields of ``generation.checking``: a checklist to pass, and how."""
    return {
        "checklist": serializers.IntegerField(required=False, help_text="Checklist id: each image is checked once stored."),
        "expected_text": serializers.CharField(
            required=False, max_length=checking.MAX_EXPECTED_TEXT, help_text="The text a typography check reads back."
        ),
        "max_attempts_to_pass": serializers.IntegerField(
            required=False,
            min_value=1,
            max_value=checking.MAX_ATTEMPTS_TO_PASS,
            help_text="Attempts (each with a new seed) until an image passes the checklist; default 1.",
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
            "checklist",
            "checklist_version",
            "expected_text",
            "max_attempts_to_pass",
            "attempt_of",
            "attempt_number",
            "attempts_to_pass",
        ]
        read_only_fields = fields

    checklist = serializers.IntegerField(source="checklist_version.checklist_id", allow_null=True, default=None)
    checklist_version = serializers.IntegerField(source="checklist_version.number", allow_null=True, default=None)
    attempts_to_pass = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_attempts_to_pass(self, job: GenerationJob) -> list[str]:
        """Every attempt of this request to pass its checklist, first to last (job ids)."""
        if job.checklist_version_id is None:
            return []
        first = job.attempt_of_id or job.pk
        later = GenerationJob.objects.filter(attempt_of_id=first).order_by("attempt_number")
        return [str(first), *(str(pk) for pk in later.values_list("pk", flat=True))]

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
