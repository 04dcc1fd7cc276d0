"""Pages of the acceptance app: checklists (list, create, revise) and the checks panel of an
asset's page (an htmx partial)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from acceptance import forms, services
from acceptance.models import Checklist
from assets.models import Asset
from governance import roles
from hallmark.errors import InvalidInput


def _require_viewer(request: HttpRequest) -> None:
    if not roles.has_role(request.user, roles.VIEWER):
        raise PermissionDenied("You need a role to see checklists.")


@login_required
@require_http_methods(["GET", "POST"])
def checklists(request: HttpRequest) -> HttpResponseBase:
    """Every checklist with its latest checks; creators make new ones here."""
    _require_viewer(request)
    errors: dict[str, list[str]] = {}
    rows = forms.form_rows()
    if request.method == "POST":
        if not roles.has_role(request.user, roles.CREATOR):
            raise PermissionDenied("You need the creator role to make checklists.")
        chosen = forms.checks_from_form(request.POST)
        try:
            made = services.create_checklist(
                acting_user=request.user,  # type: ignore[arg-type]
                name=request.POST.get("name"),
                checks=chosen,
            )
            return redirect("checklist-page", checklist_id=made.pk)
        except InvalidInput as error:
            errors, rows = error.errors, forms.form_rows(chosen)
    listed = Checklist.objects.select_related("created_by").prefetch_related("versions")
    return render(
        request,
        "acceptance/checklists.html",
        {
            "checklists": listed,
            "rows": rows,
            "errors": errors,
            "can_create": roles.has_role(request.user, roles.CREATOR),
        },
        status=400 if errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def checklist_page(request: HttpRequest, checklist_id: int) -> HttpResponseBase:
    """One checklist: every version's checks; its author or an admin saves a new version."""
    _require_viewer(request)
    checklist = get_object_or_404(Checklist.objects.select_related("created_by"), pk=checklist_id)
    may_edit = checklist.created_by_id == request.user.pk or roles.has_role(request.user, roles.ADMIN)
    errors: dict[str, list[str]] = {}
    rows = forms.form_rows(checklist.latest.checks)
    if request.method == "POST":
        if not (may_edit and roles.has_role(request.user, roles.CREATOR)):
            raise PermissionDenied("Only the checklist's author or an admin may revise it.")
        chosen = forms.checks_from_form(request.POST)
        try:
            services.revise_checklist(
                checklist.pk,
                acting_user=request.user,  # type: ignore[arg-type]
                name=request.POST.get("name"),
                checks=chosen,
            )
            return redirect("checklist-page", checklist_id=checklist.pk)
        except InvalidInput as error:
            errors, rows = error.errors, forms.form_rows(chosen)
    context: dict[str, Any] = {
        "checklist": checklist,
        "versions": checklist.versions.select_related("created_by").order_by("-number"),
        "rows": rows,
        "errors": errors,
        "may_edit": may_edit and roles.has_role(request.user, roles.CREATOR),
    }
    return render(request, "acceptance/checklist.html", context, status=400 if errors else 200)


@login_required
def asset_checks_panel(request: HttpRequest, asset_id: UUID) -> HttpResponse:
    """The asset's check results, grouped by checklist version (loaded by the asset page)."""
    _require_viewer(request)
    asset = get_object_or_404(Asset.objects.live(), pk=asset_id)
    groups: dict[int, dict[str, Any]] = {}
    for result in services.results_for(asset.pk):
        version = result.checklist_version
        group = groups.setdefault(version.pk, {"version": version, "results": [], "passed": True})
        group["results"].append(result)
        group["passed"] = bool(group["passed"]) and result.passed
    return render(request, "acceptance/_asset_checks.html", {"asset": asset, "groups": list(groups.values())})
