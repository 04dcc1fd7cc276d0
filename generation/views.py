"""Pages: the generate form (fields from the chosen plugin's declarations) and a job's live
progress (htmx polling)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse, HttpResponseBase, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from assets.models import Asset
from generation import checking, services
from generation.form_choices import (
    TARGET_PLUGIN,
    TARGET_TIER,
    acceptance_fields,
    checklist_choices,
    enabled_plugins,
    form_field_of,
    number_or_text,
    routing_choices,
    routing_fields,
)
from generation.form_fields import (
    ASPECT_RATIO_PARAM,
    PARAM_PREFIX,
    TIER_FIELDS_FOR,
    PluginFields,
    plugin_fields,
    read_params,
    rerun_query,
    size_fields,
    tier_fields,
)
from generation.job_checks import job_checks
from generation.models import GenerationJob
from generation.serializers import GenerationRequestSerializer
from governance import roles
from hallmark.errors import InvalidInput, ServiceError
from hallmark.sdk import Plugin
from plugins.validation import REQUEST_FIELDS

# Form fields that show their own errors beside them; anything else is listed above the form:
# the API's request fields (plugin, the request's own, tier and policy, the acceptance fields),
# less the idempotency key, which the form does not ask for.
_API_FIELDS = tuple(map(str, GenerationRequestSerializer().fields))  # the stubs type the keys as fields
_FORM_FIELDS = tuple(name for name in _API_FIELDS if name != "idempotency_key")
# And the page's own: the aspect-ratio select that stands for width and height, and the choice
# between naming a plugin and naming a tier.
_PAGE_FIELDS = (*_FORM_FIELDS, "size", "target")


def _errors_by_field(errors: dict[str, list[str]]) -> tuple[dict[str, list[str]], list[str]]:
    """Split service errors into those of a form field and the rest.

    ``params.steps`` belongs to the params field, with the parameter's name kept in the message
    so the user knows which key to fix.
    """
    by_field: dict[str, list[str]] = {}
    other: list[str] = []
    for name, messages in errors.items():
        head, _, key = name.partition(".")
        if name.startswith(PARAM_PREFIX):
            by_field.setdefault(name, []).extend(messages)
        elif head in _PAGE_FIELDS:
            by_field.setdefault(head, []).extend(f"{key}: {m}" if key else m for m in messages)
        elif name == "non_field_errors":
            other.extend(messages)
        else:
            other.extend(f"{name}: {m}" for m in messages)
    return by_field, other


def _request_fields(values: Mapping[str, str]) -> dict[str, Any]:
    """The request fields but ``params``, typed from the form's text.

    A blank number means the field's default (one image for ``num_images``); text that is not
    a number reaches validation as it is, which names the field ("0" is refused, not taken as
    one). ``params`` comes from ``form_fields.read_params``.
    """
    fields: dict[str, Any] = {}
    for field in REQUEST_FIELDS:
        text = values.get(field.name, "")
        if field.kind == "string":
            fields[field.name] = text
        elif field.kind == "integer":
            number = number_or_text(text)
            fields[field.name] = field.default if number is None else number
    return fields


def _form_values(data: Mapping[str, str], names: list[str], *, prefill: bool = False) -> dict[str, str]:
    """The form's text by name. In a pre-fill from the URL, NUL is dropped (a link can carry
    it; a form submission keeps it, so that validation names the field)."""
    return {name: data[name].replace("\x00", "") if prefill else data[name] for name in names if name in data}


def _value_names(data: Mapping[str, str]) -> list[str]:
    return [*_PAGE_FIELDS, *(k for k in data if k.startswith(PARAM_PREFIX))]


def _field_errors_for_form(
    errors: dict[str, list[str]], fields: PluginFields | None, values: Mapping[str, str]
) -> dict[str, list[str]]:
    """Move errors to the input that shows them: a declared parameter's own input (when the
    value came from it, not the JSON box), and the size select (for plugins with named aspect
    ratios) for width, height and the ratio."""
    moved: dict[str, list[str]] = {}
    shown = {
        item.key
        for item in (fields.params if fields else ())
        if item.kind == "checkbox" or values.get(item.name, "").strip()
    }
    for name, messages in errors.items():
        head, _, key = name.partition(".")
        if fields and fields.size_choices and name in ("width", "height", f"params.{ASPECT_RATIO_PARAM}"):
            moved.setdefault("size", []).extend(messages)
        elif form_field_of(name) != name:
            moved.setdefault(form_field_of(name), []).extend(messages)
        elif head == "params" and key in shown:
            moved.setdefault(PARAM_PREFIX + key, []).extend(messages)
        else:
            moved.setdefault(name, []).extend(messages)
    return moved


def _submit(
    request: HttpRequest, plugin_class: type[Plugin] | None, values: dict[str, str]
) -> tuple[Any, dict[str, list[str]], int]:
    """Submit the form's request: ``(job, {}, 0)``, or ``(None, errors, status)``.

    ``plugin_class`` None: the request names a tier (and maybe a policy), and routing chooses
    the plugin in ``services.submit``, as for the API.
    """
    fields = _request_fields({**values, **size_fields(values)})
    params, errors = read_params(plugin_class, values, values.get("params", ""))
    if params is not None:
        fields["params"] = params
    if errors:
        return None, errors, 400
    fields.update(routing_fields(values))
    fields.update(acceptance_fields(values))
    plugin_id = plugin_class.id if plugin_class is not None else None
    try:
        job, _ = services.submit(acting_user=request.user, plugin_id=plugin_id, fields=fields)  # type: ignore[arg-type]
    except InvalidInput as exc:
        return None, exc.errors, 400
    except services.QueueFull as exc:
        return None, {"non_field_errors": [str(exc)]}, 429
    except ServiceError as exc:  # a budget spent (402)
        return None, {"non_field_errors": [str(exc)]}, exc.http_status
    return job, {}, 0


def _prefill_query(request: HttpRequest) -> QueryDict:
    """What a GET pre-fills the form with: its query string, or with ``?from_job=<id>`` (the job
    page's "run again") that job's settings, read here so that its prompt is never in a URL."""
    try:
        job_id = UUID(request.GET.get("from_job", ""))
    except ValueError:
        return request.GET
    job = GenerationJob.objects.filter(pk=job_id).first()
    return QueryDict(rerun_query(job)) if job is not None else request.GET


@login_required
def generate(request: HttpRequest) -> HttpResponse:
    """The generate form: choose an enabled plugin or a tier, write a prompt, watch the job.

    The fields follow the chosen plugin's declarations (a tier's: the request fields alone,
    checked against the plugin routing chooses on submit). A GET may pre-fill it from the query
    string (``?plugin=&prompt=&seed=&width=&height=``, ``?target=tier&tier=draft``), or from a
    job's settings with ``?from_job=<id>`` (the job page's "run again", which keeps the prompt
    out of the URL). A POST whose fields were drawn for another plugin or target than the one
    chosen (the select changed without script, or its "Choose" button) shows the chosen one's
    fields, keeping what was typed, and submits nothing.
    """
    if not roles.has_role(request.user, roles.CREATOR):
        raise PermissionDenied("You need the creator role to generate images.")
    enabled = enabled_plugins()
    data = request.POST if request.method == "POST" else _prefill_query(request)
    values = _form_values(data, _value_names(data), prefill=request.method != "POST")
    values.setdefault("num_images", "1")
    by_tier = values.get("target") == TARGET_TIER
    values["target"] = TARGET_TIER if by_tier else TARGET_PLUGIN
    errors: dict[str, list[str]] = {}
    notice = ""
    status = 200
    chosen = values.get("plugin", "")
    if chosen not in enabled:
        if chosen and enabled and not by_tier:
            errors["plugin"] = [f"{chosen} is not an enabled plugin; choose one of those listed."]
            status = 400 if request.method == "POST" else 200
        chosen = next(iter(enabled), "")
        values["plugin"] = chosen
    elif request.method == "POST" and not by_tier:
        drawn_for = request.POST.get("fields_for", chosen)  # absent: a form without the swap
        if "choose" in request.POST or drawn_for != chosen:
            notice = f"The fields below are those of {enabled[chosen].name}: check them, then generate."
        else:
            job, errors, status = _submit(request, enabled[chosen], values)
            if job is not None:
                return redirect("job-detail-page", job_id=job.pk)
    if by_tier and request.method == "POST":
        if "choose" in request.POST or request.POST.get("fields_for") != TIER_FIELDS_FOR:
            notice = "The fields below are those of a request routed by tier: check them, then generate."
        else:
            job, errors, status = _submit(request, None, values)
            if job is not None:
                return redirect("job-detail-page", job_id=job.pk)
    shown = _fields_for(enabled, chosen, values, by_tier=by_tier)
    field_errors, other_errors = _errors_by_field(_field_errors_for_form(errors, shown, values))
    fields = _fields_for(enabled, chosen, values, field_errors, by_tier=by_tier)
    recent = GenerationJob.objects.filter(requested_by_id=request.user.pk).order_by("-created_at")[:10]
    return render(
        request,
        "generation/generate.html",
        {
            "plugins": [(plugin_id, cls.name) for plugin_id, cls in enabled.items()],
            "routing": routing_choices(),
            "checklists": checklist_choices(),
            "limits": {
                "attempts": checking.MAX_ATTEMPTS_TO_PASS,
                "expected_text": checking.MAX_EXPECTED_TEXT,
            },
            "fields": fields,
            "errors": field_errors,
            "other_errors": other_errors,
            "notice": notice,
            "values": values,
            "recent": recent,
        },
        status=status if errors else 200,
    )


def _fields_for(
    enabled: dict[str, type[Plugin]],
    chosen: str,
    values: Mapping[str, str],
    errors: Mapping[str, list[str]] | None = None,
    *,
    by_tier: bool,
) -> PluginFields | None:
    """The request fields the form shows: a tier's, or the chosen plugin's (None: no plugin)."""
    if by_tier:
        return tier_fields()
    return plugin_fields(enabled[chosen], values, errors) if chosen else None


@login_required
def generate_fields(request: HttpRequest) -> HttpResponse:
    """The plugin-dependent fields alone (a tier's with ``target=tier``), for htmx to swap in
    when the plugin select or the target changes."""
    if not roles.has_role(request.user, roles.CREATOR):
        raise PermissionDenied("You need the creator role to generate images.")
    enabled = enabled_plugins()
    values = _form_values(request.GET, _value_names(request.GET), prefill=True)
    if values.get("target") == TARGET_TIER:
        return render(
            request,
            "generation/_plugin_fields.html",
            {"fields": tier_fields(), "values": values, "errors": {}},
        )
    # No plugin named: the one the page chooses first.
    plugin_class = enabled.get(values.get("plugin") or next(iter(enabled), ""))
    if plugin_class is None:
        return HttpResponse("Choose one of the enabled plugins.", status=400, content_type="text/plain")
    return render(
        request,
        "generation/_plugin_fields.html",
        {"fields": plugin_fields(plugin_class, values), "values": values, "errors": {}},
    )


def _job_for(request: HttpRequest, job_id: UUID) -> GenerationJob:
    if not roles.has_role(request.user, roles.VIEWER):
        raise PermissionDenied("You need a role to see jobs.")
    # The job's results, less any soft-deleted since (they are gone from every page).
    live = Prefetch("assets", queryset=Asset.objects.live())
    # The checklist too: the progress panel shows its name every second while checks run.
    jobs = GenerationJob.objects.select_related("checklist_version__checklist").prefetch_related(live)
    return get_object_or_404(jobs, pk=job_id)


@login_required
def job_detail(request: HttpRequest, job_id: UUID) -> HttpResponse:
    """A job's page; its progress panel refreshes itself until the job ends."""
    return render(request, "generation/job.html", _job_context(request, job_id))


@login_required
def job_progress(request: HttpRequest, job_id: UUID) -> HttpResponse:
    """The progress panel alone, for htmx polling."""
    return render(request, "generation/_progress.html", _job_context(request, job_id))


@login_required
@require_POST
def job_cancel(request: HttpRequest, job_id: UUID) -> HttpResponseBase:
    """Cancel a job (its requester or an admin; audited by the service), then back to its page."""
    job = _job_for(request, job_id)
    try:
        services.cancel(job.pk, acting_user=request.user)
    except services.CancelNotPermitted:
        raise PermissionDenied("Only the job's requester or an admin may cancel it.") from None
    return redirect("job-detail-page", job_id=job.pk)


def _job_context(request: HttpRequest, job_id: UUID) -> dict[str, object]:
    job = _job_for(request, job_id)
    return {
        "job": job,
        "checks": job_checks(job),
        "job_error": job.error_for(sees_configuration=roles.has_role(request.user, roles.ADMIN)),
        "may_cancel": not job.is_terminal
        and not job.cancel_requested
        and services.may_cancel(job, request.user),
        # The job's id, not its settings: a prompt in a URL would land in access logs.
        "rerun_query": urlencode({"from_job": job.pk}) if roles.has_role(request.user, roles.CREATOR) else "",
    }
