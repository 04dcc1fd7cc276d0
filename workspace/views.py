"""Pages: the library (``/``) with filters, search, sort, cursor links and bulk actions, and
the collections (``/collections/``, ``/collections/<id>/``)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_http_methods, require_POST

from assets import review
from assets.models import AssetStatus
from governance import roles
from hallmark.errors import InvalidInput, ServiceError
from hallmark.throttling import ExportThrottle
from workspace import export, services
from workspace import library as library_query
from workspace.api import tags_by_asset
from workspace.models import Collection, Tag


class TooManyExports(ServiceError):
    """More zip exports than ``HALLMARK_EXPORT_RATE`` allows (429)."""

    http_status = 429


def _require_viewer(request: HttpRequest) -> None:
    if not roles.has_role(request.user, roles.VIEWER):
        raise PermissionDenied("You need a role to see the library.")


def _grid(request: HttpRequest, template: str, extra: dict[str, Any], fixed: dict[str, str] | None = None) -> HttpResponse:
    # NUL can be in a URL but not in a PostgreSQL query: a page drops it (the API refuses it).
    params = QueryDict(mutable=True)
    for key, values in request.GET.lists():
        params.setlist(key, [v.replace("\x00", "") for v in values])
    for key, value in (fixed or {}).items():
        params[key] = value
    try:
        query = library_query.parse(params)
        errors: dict[str, list[str]] = {}
    except InvalidInput as error:
        query, errors = library_query.LibraryQuery(), error.errors
    page = library_query.fetch(query) if not errors else library_query.LibraryPage([], "", "")
    shown = {k: v for k, v in query.params().items() if k not in (fixed or {})}

    def link(cursor: str) -> str:
        return "?" + urlencode({**shown, "cursor": cursor}) if cursor else ""

    context = {
        "query": query,
        "errors": errors,
        "assets": page.assets,
        "tags": tags_by_asset(page.assets),
        "next_link": link(page.next_cursor),
        "previous_link": link(page.previous_cursor),
        "plugins": library_query.plugin_ids(),
        "statuses": AssetStatus.values,
        "orderings": library_query.ORDERINGS,
        "all_tags": list(Tag.objects.order_by("name").values_list("name", flat=True)[:200]),
        "my_collections": _changeable_collections(request),
        "can_create": roles.has_role(request.user, roles.CREATOR),
        **extra,
    }
    return render(request, template, context, status=400 if errors else 200)


def _changeable_collections(request: HttpRequest) -> list[Collection]:
    if roles.has_role(request.user, roles.ADMIN):
        return list(Collection.objects.order_by("name")[:200])
    if roles.has_role(request.user, roles.CREATOR):
        return list(Collection.objects.filter(owner_id=request.user.pk).order_by("name")[:200])
    return []


@login_required
def library(request: HttpRequest) -> HttpResponse:
    """The thumbnail grid: filters, search, sort and "more" links; the URL holds the query."""
    _require_viewer(request)
    return _grid(request, "workspace/library.html", {})


@login_required
@require_POST
def library_bulk(request: HttpRequest) -> HttpResponseBase:
    """A bulk action on the assets ticked in the grid: tag, add to a collection, submit for
    review, or export as a zip. Refusals show on a page with their status."""
    _require_viewer(request)
    action = request.POST.get("action", "")
    back = request.POST.get("next", "")
    # Django's own test: "/\\evil.example" passes a startswith("/") check, and browsers follow
    # it off-site. Only a path on this host (never a scheme or another host) is followed.
    on_site = back.startswith("/") and url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    back = back if on_site else reverse("library")
    try:
        ids = services.clean_asset_ids(request.POST.getlist("assets"))
        if action == "tag":
            names = services.clean_tags([t for t in request.POST.get("tags", "").replace(",", " ").split() if t])
            services.add_tags(ids, names, acting_user=request.user)
        elif action == "collect":
            services.add_to_collection(request.POST.get("collection", ""), ids, acting_user=request.user)
        elif action == "compare":  # side by side as an experiment, from the compare page's form
            return redirect(reverse("compare") + "?" + urlencode({"assets": ",".join(map(str, ids))}))
        elif action == "submit":
            for asset_id in ids:
                review.submit_for_review(asset_id, acting_user=request.user)
        elif action == "export":
            # A page, not the API, so DRF does not throttle it: the same count, by hand.
            if not ExportThrottle().allow_request(request, None):  # type: ignore[arg-type]
                raise TooManyExports("Too many exports; try again later.")
            plan = export.prepare_export(
                services.live_assets(ids),
                acting_user=request.user,
                purpose=None,
                target=("workspace.export", "library"),
                label="assets",
            )
            response = StreamingHttpResponse(export.stream_zip(plan), content_type="application/zip")
            response["Content-Disposition"] = f'attachment; filename="{plan.filename}"'
            return response
        else:
            raise InvalidInput({"action": ["Choose tag, collect, compare, submit or export."]})
    except ServiceError as error:
        return render(request, "workspace/refused.html", {"message": str(error), "back": back}, status=error.http_status)
    return redirect(back)


@login_required
@require_http_methods(["GET", "POST"])
def collections(request: HttpRequest) -> HttpResponseBase:
    """Every collection, newest first; creators make new ones here."""
    _require_viewer(request)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            made = services.create_collection(
                request.POST.get("name"), request.POST.get("description", ""), acting_user=request.user
            )
            return redirect("collection-detail-page", collection_id=made.pk)
        except InvalidInput as error:
            errors = error.errors
        except ServiceError as error:
            return render(request, "workspace/refused.html", {"message": str(error), "back": reverse("collections")}, status=error.http_status)
    listed = (
        Collection.objects.select_related("owner")
        .annotate(live_assets=Count("items", filter=Q(items__asset__deleted_at__isnull=True)))
        .order_by("-created_at")[:500]
    )
    return render(
        request,
        "workspace/collections.html",
        {"collections": listed, "errors": errors, "can_create": roles.has_role(request.user, roles.CREATOR)},
        status=400 if errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def collection_detail(request: HttpRequest, collection_id: UUID) -> HttpResponseBase:
    """One collection's assets, with the library's filters; its owner or an admin removes them."""
    _require_viewer(request)
    try:
        collection = services.get_collection(collection_id)
    except services.NoSuchCollection:
        raise Http404("No such collection.") from None
    if request.method == "POST":
        try:
            ids = services.clean_asset_ids(request.POST.getlist("assets"))
            services.remove_from_collection(collection.pk, ids, acting_user=request.user)
        except ServiceError as error:
            return render(request, "workspace/refused.html", {"message": str(error), "back": request.path}, status=error.http_status)
        return redirect(request.path)
    return _grid(
        request,
        "workspace/collection.html",
        {"collection": collection, "may_change": services.may_change(collection, request.user)},
        fixed={"collection": str(collection.pk)},
    )
