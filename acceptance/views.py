"""Pages of the acceptance app: the checks panel of an asset's page (an htmx partial)."""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from acceptance import services
from assets.models import Asset
from governance import roles


@login_required
def asset_checks_panel(request: HttpRequest, asset_id: UUID) -> HttpResponse:
    """The asset's check results, grouped by checklist version (loaded by the asset page)."""
    if not roles.has_role(request.user, roles.VIEWER):
        raise PermissionDenied("You need a role to see the library.")
    asset = get_object_or_404(Asset.objects.live(), pk=asset_id)
    groups: dict[int, dict[str, object]] = {}
    for result in services.results_for(asset.pk):
        version = result.checklist_version
        group = groups.setdefault(version.pk, {"version": version, "results": [], "passed": True})
        group["results"].append(result)  # type: ignore[attr-defined]
        group["passed"] = bool(group["passed"]) and result.passed
    return render(request, "acceptance/_asset_checks.html", {"asset": asset, "groups": list(groups.values())})
