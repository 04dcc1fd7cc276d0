"""Pages: compare (``/compare/``), the experiment history (``/experiments/``), one
experiment side by side (``/experiments/<id>/``) with its winner and extend forms, and
"re-run with the same parameters" from an asset's page.

Thin: the rules are ``workspace.experiments``'; a refusal shows its message with its status.
"""

from __future__ import annotations

import json
import re
from typing import Any
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from assets.models import Asset
from governance import roles
from hallmark.errors import InvalidInput, ServiceError
from plugins import services as plugin_services
from workspace import experiment_results, experiments
from workspace.models import ExperimentCell

_LIST = re.compile(r"[\s,]+")
HISTORY_PAGE_SIZE = 50
# Longer digit strings go to validation as text: Python refuses to read an int of more than
# 4300 digits (a ValueError, which would be a 500), and no seed or size is anywhere near 30.
_MAX_DIGITS = 30


def _require_viewer(request: HttpRequest) -> None:
    if not roles.has_role(request.user, roles.VIEWER):
        raise PermissionDenied("You need a role to see experiments.")


def _words(text: str) -> list[str]:
    """Items of a comma- or space-separated list (``a,b``, ``1 2``), NUL dropped."""
    return [w for w in _LIST.split(text.replace("\x00", "")) if w]


def _seeds(text: str) -> list[int | str]:
    # Text that is not a number goes to validation as it is, which names the field.
    return [_as_int(w) for w in _words(text)]


def _as_int(text: str) -> int | str:
    """``text`` as an int when it is a short run of ASCII digits, else as it is."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= _MAX_DIGITS else text


def _number(text: str) -> int | str | None:
    text = text.strip()
    if not text:
        return None
    return _as_int(text)


def _enabled_plugins() -> list[str]:
    return [s.id for s in plugin_services.states() if s.enabled and not s.entry.broken]


def _refused(request: HttpRequest, error: ServiceError, back: str) -> HttpResponse:
    return render(
        request, "workspace/refused.html", {"message": str(error), "back": back}, status=error.http_status
    )


def _form_body(post: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The experiment request from the compare form, and errors of fields it could not read."""
    if post.getlist("assets"):
        return {"assets": post.getlist("assets")}, {}
    body: dict[str, Any] = {
        "prompt": post.get("prompt", ""),
        "negative_prompt": post.get("negative_prompt", ""),
        "plugins": post.getlist("plugins"),
        "seeds": _seeds(post.get("seeds", "")),
        "width": _number(post.get("width", "")),
        "height": _number(post.get("height", "")),
    }
    errors: dict[str, list[str]] = {}
    params = post.get("params", "").strip()
    if params:
        try:
            body["params"] = json.loads(params)
        except (ValueError, RecursionError):
            errors["params"] = ['Not valid JSON: write {"plugin-id": {"name": value}}.']
    return body, errors


def _from_asset(asset_id: str) -> dict[str, Any]:
    """The form's values from an asset ("try this prompt with another model"): its prompt, negative
    prompt, seed and plugin, read here so that the link names the asset and never carries the
    prompt (a URL lands in access logs and browser history). Nothing for an id of no live asset."""
    try:
        wanted = UUID(asset_id)
    except ValueError:
        return {}
    asset = Asset.objects.live().filter(pk=wanted).first()
    if asset is None:
        return {}
    return {
        "prompt": asset.prompt,
        "negative_prompt": asset.negative_prompt,
        "seeds": str(asset.seed),
        "plugins": [asset.plugin_id],
    }


@login_required
@require_http_methods(["GET", "POST"])
def compare(request: HttpRequest) -> HttpResponseBase:
    """The compare form (pre-filled from the query string); it makes an experiment and opens it."""
    if not roles.has_role(request.user, roles.CREATOR):
        raise PermissionDenied("You need the creator role to run a comparison.")
    enabled = _enabled_plugins()
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        body, errors = _form_body(request.POST)
        if not errors:
            try:
                made = experiments.create_experiment(body, acting_user=request.user)
                return redirect("experiment-page", experiment_id=made.pk)
            except InvalidInput as error:
                errors = error.errors
            except ServiceError as error:
                errors, status = {"non_field_errors": [str(error)]}, error.http_status
        values = {
            **{
                k: request.POST.get(k, "")
                for k in ("prompt", "negative_prompt", "seeds", "width", "height", "params")
            },
            "plugins": request.POST.getlist("plugins"),
            "assets": request.POST.getlist("assets"),
        }
    else:
        query = request.GET
        values = {
            **{
                k: query.get(k, "").replace("\x00", "")
                for k in ("prompt", "negative_prompt", "width", "height")
            },
            "seeds": ", ".join(_words(query.get("seeds", "") or query.get("seed", ""))),
            "plugins": _words(query.get("plugins", "")) or enabled[:2],
            "assets": _words(query.get("assets", "")),
            "params": "",
            **_from_asset(query.get("from_asset", "")),
        }
    compared = []
    if values["assets"]:
        wanted = [a for a in values["assets"] if re.fullmatch(r"[0-9a-fA-F-]{32,36}", a)]
        found = {str(a.pk): a for a in Asset.objects.live().filter(pk__in=wanted)}
        compared = [found[a] for a in wanted if a in found]
    return render(
        request,
        "workspace/compare.html",
        {
            "values": values,
            "plugins": enabled,
            "compared": compared,
            "errors": errors,
            "field_errors": {k.split(".")[0]: v for k, v in errors.items()},
        },
        status=(400 if status == 200 else status) if errors else 200,
    )


@login_required
def history(request: HttpRequest) -> HttpResponse:
    """Every experiment, newest first, searchable by prompt, plugin and creator."""
    _require_viewer(request)
    filters = {k: request.GET.get(k, "").replace("\x00", "").strip() for k in ("q", "plugin", "created_by")}
    page = Paginator(experiment_results.search(**filters), HISTORY_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    listed = list(page.object_list)
    models = experiment_results.plugins_by_experiment(listed)
    return render(
        request,
        "workspace/experiments.html",
        {
            "page": page,
            "rows": [(e, models.get(e.pk, [])) for e in listed],
            "filters": filters,
            "plugins": _enabled_plugins(),
        },
    )


def _experiment(request: HttpRequest, experiment_id: UUID) -> Any:
    _require_viewer(request)
    try:
        return experiments.get_experiment(experiment_id)
    except experiments.NoSuchExperiment:
        raise Http404("No such experiment.") from None


@login_required
def experiment_detail(request: HttpRequest, experiment_id: UUID) -> HttpResponse:
    """An experiment's cells side by side, the two-image slider, winner and extend forms."""
    experiment = _experiment(request, experiment_id)
    cells = experiment_results.results(experiment)
    may_decide = experiments.may_decide(experiment, request.user)
    return render(
        request,
        "workspace/experiment.html",
        {
            "experiment": experiment,
            "cells": cells,
            "status": experiment_results.status_of(cells),
            "may_decide": may_decide,
            "plugins": _enabled_plugins() if may_decide else [],
        },
    )


@login_required
def experiment_cell(request: HttpRequest, experiment_id: UUID, cell_id: int) -> HttpResponse:
    """One cell alone, for htmx polling while its job runs."""
    experiment = _experiment(request, experiment_id)
    cell = ExperimentCell.objects.select_related("job").filter(experiment=experiment, pk=cell_id).first()
    if cell is None:
        raise Http404("No such cell.")
    return render(
        request,
        "workspace/_cell.html",
        {
            "experiment": experiment,
            "r": experiment_results.results(experiment, [cell])[0],
            "may_decide": experiments.may_decide(experiment, request.user),
        },
    )


@login_required
@require_POST
def experiment_winner(request: HttpRequest, experiment_id: UUID) -> HttpResponseBase:
    """Mark the winner from a cell's button."""
    experiment = _experiment(request, experiment_id)
    back = reverse("experiment-page", args=[experiment.pk])
    try:
        experiments.mark_winner(experiment.pk, request.POST.get("asset"), acting_user=request.user)
    except ServiceError as error:
        return _refused(request, error, back)
    return redirect(back)


@login_required
@require_POST
def experiment_extend(request: HttpRequest, experiment_id: UUID) -> HttpResponseBase:
    """Add plugins and/or seeds from the extend form."""
    experiment = _experiment(request, experiment_id)
    back = reverse("experiment-page", args=[experiment.pk])
    body = {
        "plugins": request.POST.getlist("plugins") or None,
        "seeds": _seeds(request.POST.get("seeds", "")) or None,
    }
    try:
        experiments.extend_experiment(experiment.pk, body, acting_user=request.user)
    except ServiceError as error:
        return _refused(request, error, back)
    return redirect(back)


@login_required
@require_POST
def rerun_asset(request: HttpRequest, asset_id: UUID) -> HttpResponseBase:
    """Submit an asset's request again and open the new job."""
    _require_viewer(request)
    try:
        job = experiments.rerun_asset(asset_id, acting_user=request.user)
    except ServiceError as error:
        return _refused(request, error, reverse("asset-detail-page", args=[asset_id]))
    return redirect("job-detail-page", job_id=job.pk)
