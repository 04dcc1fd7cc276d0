"""Pages: the generate form and a job's live progress (htmx polling)."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from assets.models import Asset
from generation import services
from generation.models import GenerationJob
from governance import roles
from hallmark.sdk import RequestInvalid
from plugins import services as plugin_services
from plugins.validation import REQUEST_FIELD_NAMES, REQUEST_FIELDS

# Form fields that show their own errors beside them; anything else is listed above the form.
_FORM_FIELDS = ("plugin", *REQUEST_FIELD_NAMES)


def _errors_by_field(errors: dict[str, list[str]]) -> tuple[dict[str, list[str]], list[str]]:
    """Split service errors into those of a form field and the rest.

    ``params.steps`` belongs to the params field, with the parameter's name kept in the message
    so the user knows which key to fix.
    """
    by_field: dict[str, list[str]] = {}
    other: list[str] = []
    for name, messages in errors.items():
        head, _, key = name.partition(".")
        if head in _FORM_FIELDS:
            by_field.setdefault(head, []).extend(f"{key}: {m}" if key else m for m in messages)
        elif name == "non_field_errors":
            other.extend(messages)
        else:
            other.extend(f"{name}: {m}" for m in messages)
    return by_field, other


def _int_or_none(value: str | None) -> int | str | None:
    if value is None or value.strip() == "":
        return None
    try:
        return int(value)
    except ValueError:
        return value  # validation reports the field


def _request_fields(values: dict[str, str]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The request fields typed from the form's text, and the fields that could not be read.

    A blank number means the field's default (one image for ``num_images``); text that is not
    a number reaches validation as it is, which names the field ("0" is refused, not taken as
    one). ``params`` is JSON, left out when blank.
    """
    fields: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for field in REQUEST_FIELDS:
        text = values[field.name]
        if field.kind == "string":
            fields[field.name] = text
        elif field.kind == "integer":
            number = _int_or_none(text)
            fields[field.name] = field.default if number is None else number
        elif text.strip():
            try:
                fields[field.name] = json.loads(text)
            except json.JSONDecodeError as exc:
                errors[field.name] = [f"Not valid JSON: {exc.msg}."]
            except (ValueError, RecursionError):
                # An integer of thousands of digits, or nesting deeper than Python recurses.
                errors[field.name] = ["Not JSON that Hallmark accepts (a number too long or nesting too deep)."]
    return fields, errors


@login_required
def generate(request: HttpRequest) -> HttpResponse:
    """The generate form: choose an enabled plugin, write a prompt, watch the job."""
    if not roles.has_role(request.user, roles.CREATOR):
        raise PermissionDenied("You need the creator role to generate images.")
    enabled = [s for s in plugin_services.states() if s.enabled and not s.entry.broken]
    errors: dict[str, list[str]] = {}
    status = 400  # when there are errors: bad input, unless the user's queue is full (429)
    values: dict[str, Any] = {"plugin": enabled[0].id if enabled else "", "num_images": 1}
    if request.method == "POST":
        values = {k: request.POST.get(k, "") for k in _FORM_FIELDS}
        fields, errors = _request_fields(values)
        if not errors:
            try:
                job, _ = services.submit(acting_user=request.user, plugin_id=values["plugin"], fields=fields)  # type: ignore[arg-type]
            except RequestInvalid as exc:
                errors = exc.errors
            except services.QueueFull as exc:
                errors = {"non_field_errors": [str(exc)]}
                status = 429
            else:
                return redirect("job-detail-page", job_id=job.pk)
    recent = GenerationJob.objects.filter(requested_by_id=request.user.pk).order_by("-created_at")[:10]
    field_errors, other_errors = _errors_by_field(errors)
    return render(
        request,
        "generation/generate.html",
        {
            "plugins": enabled,
            "errors": field_errors,
            "other_errors": other_errors,
            "values": values,
            "recent": recent,
        },
        status=status if errors else 200,
    )


def _job_for(request: HttpRequest, job_id: UUID) -> GenerationJob:
    if not roles.has_role(request.user, roles.VIEWER):
        raise PermissionDenied("You need a role to see jobs.")
    # The job's results, less any soft-deleted since (they are gone from every page).
    live = Prefetch("assets", queryset=Asset.objects.live())
    return get_object_or_404(GenerationJob.objects.prefetch_related(live), pk=job_id)


@login_required
def job_detail(request: HttpRequest, job_id: UUID) -> HttpResponse:
    """A job's page; its progress panel refreshes itself until the job ends."""
    return render(request, "generation/job.html", _job_context(request, job_id))


@login_required
def job_progress(request: HttpRequest, job_id: UUID) -> HttpResponse:
    """The progress panel alone, for htmx polling."""
    return render(request, "generation/_progress.html", _job_context(request, job_id))


def _job_context(request: HttpRequest, job_id: UUID) -> dict[str, object]:
    job = _job_for(request, job_id)
    return {"job": job, "job_error": job.error_for(sees_configuration=roles.has_role(request.user, roles.ADMIN))}
