"""Pages: an asset's page (the library is workspace.views')."""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from assets.models import Asset
from governance import roles
from governance.models import AuditEvent


def _require_viewer(request: HttpRequest) -> None:
    if not roles.has_role(request.user, roles.VIEWER):
        raise PermissionDenied("You need a role to see the library.")


@login_required
def asset_detail(request: HttpRequest, asset_id: UUID) -> HttpResponse:
    """One asset: the image, its model identity, licence and audit trail."""
    _require_viewer(request)
    asset = get_object_or_404(Asset.objects.live().select_related("created_by", "job"), pk=asset_id)
    events = AuditEvent.objects.filter(target_type="assets.asset", target_id=str(asset.pk)).order_by("seq")
    return render(request, "assets/detail.html", {"asset": asset, "events": events})
