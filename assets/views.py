"""Pages: the asset library and an asset's page."""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from assets.models import Asset
from assets.search import search_prompts
from governance import roles
from governance.models import AuditEvent


def _require_viewer(request: HttpRequest) -> None:
    if not roles.has_role(request.user, roles.VIEWER):
        raise PermissionDenied("You need a role to see the library.")


@login_required
def library(request: HttpRequest) -> HttpResponse:
    """Thumbnail grid, newest first, with a prompt search box and a plugin filter."""
    _require_viewer(request)
    # NUL can be in a URL but not in a PostgreSQL query: drop it rather than fail the page.
    query = request.GET.get("q", "").replace("\x00", "")[:500]
    plugin = request.GET.get("plugin", "").replace("\x00", "")[:63]
    # Soft-deleted assets leave every list and page (assets.review).
    assets: QuerySet[Asset] = Asset.objects.live().select_related("created_by").order_by("-created_at", "-id")
    if plugin:
        assets = assets.filter(plugin_id=plugin)
    assets = search_prompts(assets, query)
    page = Paginator(assets, 48).get_page(request.GET.get("page"))
    plugins = Asset.objects.live().order_by().values_list("plugin_id", flat=True).distinct()
    return render(
        request, "assets/library.html", {"page": page, "query": query, "plugin": plugin, "plugins": plugins}
    )


@login_required
def asset_detail(request: HttpRequest, asset_id: UUID) -> HttpResponse:
    """One asset: the image, its model identity, licence and audit trail."""
    _require_viewer(request)
    asset = get_object_or_404(Asset.objects.live().select_related("created_by", "job"), pk=asset_id)
    events = AuditEvent.objects.filter(target_type="assets.asset", target_id=str(asset.pk)).order_by("seq")
    return render(request, "assets/detail.html", {"asset": asset, "events": events})
