"""The workspace API: the library list of ``/api/v1/assets/`` (filters, ranked search, cursor
pages), tags, ``/api/v1/collections/`` and ``/api/v1/exports/``.

Thin: the query is ``workspace.library``'s, the rules ``workspace.services``' and the zip
``workspace.export``'s; their errors (``hallmark.errors``) become 4xx in
``hallmark.api.exception_handler``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.http import HttpResponseBase, StreamingHttpResponse
from django.utils.http import urlencode
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assets.api import AssetViewSet
from assets.models import Asset, AssetStatus
from generation.promote_api import PromoteActionMixin
from governance.permissions import IsCreator, IsViewer
from hallmark.throttling import ExportThrottle
from workspace import export, library, page_cache, services
from workspace.models import AssetTag, Collection
from workspace.serializers import (
    AssetIdsSerializer,
    AssetTagsSerializer,
    CollectionChangeSerializer,
    CollectionCreateSerializer,
    CollectionExportSerializer,
    CollectionSerializer,
    ExportRequestSerializer,
    LibraryAssetSerializer,
    LibraryPageSerializer,
    TagsSerializer,
)

_TEXT = str
LIBRARY_PARAMETERS = [
    OpenApiParameter("q", _TEXT, description="Full-text search of prompts (words, \"phrases\", -word); `search` is an older name"),
    OpenApiParameter("plugin", _TEXT, description="Plugin id"),
    OpenApiParameter("status", _TEXT, description=f"Review status: {', '.join(AssetStatus.values)}"),
    OpenApiParameter("model_version", _TEXT, description="The model identity's version"),
    OpenApiParameter("license", _TEXT, description="Licence id (SPDX or LicenseRef)"),
    OpenApiParameter("creator", _TEXT, description="Username of the requester; `created_by` is an older name"),
    OpenApiParameter("tag", _TEXT, description="Tag name"),
    OpenApiParameter("collection", OpenApiTypes.UUID, description="Collection id"),
    OpenApiParameter("checks", _TEXT, enum=["passed", "failed"], description="Acceptance checks: every check passed, or one failed"),
    OpenApiParameter("min_width", int, description="Smallest width in pixels"),
    OpenApiParameter("created_after", OpenApiTypes.DATETIME, description="Created at or after (ISO 8601)"),
    OpenApiParameter("created_before", OpenApiTypes.DATETIME, description="Created before (ISO 8601)"),
    OpenApiParameter("ordering", _TEXT, enum=list(library.ORDERINGS), description="`-created_at` (default), `created_at`, or `relevance` (needs `q`)"),
    OpenApiParameter("cursor", _TEXT, description="From a `next` or `previous` link"),
    OpenApiParameter("page_size", int, description=f"1 to {library.MAX_PAGE_SIZE} (default {library.DEFAULT_PAGE_SIZE})"),
]  # fmt: skip
_BAD = {400: OpenApiResponse(description="Bad input; `errors` names the field")}
_ZIP = {
    (200, "application/zip"): OpenApiResponse(
        OpenApiTypes.BINARY, description="A streamed zip: files, JSON sidecars, index.csv"
    )
}


def tags_by_asset(assets: list[Asset]) -> dict[Any, list[str]]:
    """Each asset's tag names, alphabetically, in one query (none when the library's rows
    already carry them: ``tag_names``, read with the rows on PostgreSQL)."""
    if assets and all(hasattr(asset, "tag_names") for asset in assets):
        return {asset.pk: list(asset.tag_names) for asset in assets}  # type: ignore[attr-defined]
    tags: dict[Any, list[str]] = defaultdict(list)
    links = AssetTag.objects.filter(asset__in=[a.pk for a in assets]).order_by("tag__name")
    for asset_id, name in links.values_list("asset_id", "tag__name"):
        tags[asset_id].append(name)
    return tags


class LibraryAssetViewSet(PromoteActionMixin, AssetViewSet):
    """Assets, newest first, with the library's filters, ranked search and cursor pages; and
    each asset's tags. Reading needs any role; tagging the creator role (docs/roles.md)."""

    serializer_class = LibraryAssetSerializer

    def get_permissions(self) -> list[BasePermission]:
        if self.action == "tags":
            return [IsCreator()]
        return super().get_permissions()

    # The list is filtered by workspace.library; a detail route looks up by id alone.
    filter_backends: list[Any] = []

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        if self.action == "retrieve":
            context["tags"] = tags_by_asset([self.get_object()])
        return context

    @extend_schema(parameters=LIBRARY_PARAMETERS, responses={200: LibraryPageSerializer, **_BAD})
    # A JSON page is answered with its kept bytes, a plain HttpResponse: not DRF's Response.
    def list(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:  # type: ignore[override]
        """Live assets matching every filter; `next`/`previous` cursor links, no count."""
        query = library.parse(request.query_params)
        base = request.build_absolute_uri(request.path)

        def build() -> dict[str, Any]:
            page = library.fetch(query)

            def link(cursor: str) -> str | None:
                return f"{base}?{urlencode(query.params(cursor=cursor))}" if cursor else None

            context = {**self.get_serializer_context(), "tags": tags_by_asset(page.assets)}
            results = LibraryAssetSerializer(page.assets, many=True, context=context).data
            return {"next": link(page.next_cursor), "previous": link(page.previous_cursor), "results": results}

        if page_cache.serves_json(request):
            # Plain JSON (nearly every call): the page's bytes, reused while nothing changed.
            return page_cache.page_response(request, query, base, build)
        return Response(build())

    @extend_schema(request=TagsSerializer, responses={200: AssetTagsSerializer, **_BAD})
    @action(detail=True, methods=["post", "delete"], url_path="tags", url_name="tags")
    def tags(self, request: Request, pk: str | None = None) -> Response:
        """Add (POST) or remove (DELETE) tags on the asset; audited per asset."""
        asset = self.get_object()
        names = services.clean_tags(request.data.get("tags") if isinstance(request.data, dict) else None)
        if request.method == "POST":
            services.add_tags([asset.pk], names, acting_user=request.user)
        else:
            services.remove_tags([asset.pk], names, acting_user=request.user)
        return Response({"asset": str(asset.pk), "tags": services.tags_of(asset)})


def _body(request: Request) -> dict[str, Any]:
    return request.data if isinstance(request.data, dict) else {}


def _zip_response(plan: export.ExportPlan) -> StreamingHttpResponse:
    response = StreamingHttpResponse(export.stream_zip(plan), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{plan.filename}"'
    response["X-Export-Purpose"] = plan.purpose
    response["X-Export-Included"] = str(plan.included)
    response["Cache-Control"] = "no-store"
    return response


class CollectionViewSet(
    mixins.ListModelMixin, mixins.CreateModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Collection]
):
    """Collections: every role reads them; creators make them; the owner or an admin changes
    which assets one holds; anyone who can read one can export it."""

    serializer_class = CollectionSerializer
    lookup_value_regex = "[0-9a-fA-F-]{32,36}"

    def get_queryset(self) -> QuerySet[Collection]:
        return (
            Collection.objects.select_related("owner")
            .annotate(live_assets=Count("items", filter=Q(items__asset__deleted_at__isnull=True)))
            .order_by("-created_at", "-id")
        )

    def get_permissions(self) -> list[BasePermission]:
        if self.action in ("create", "assets"):
            return [IsCreator()]
        return [IsViewer()]

    @extend_schema(request=CollectionCreateSerializer, responses={201: CollectionSerializer, **_BAD})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Make a collection owned by the caller; audited."""
        body = _body(request)
        collection = services.create_collection(body.get("name"), body.get("description"), acting_user=request.user)
        data = CollectionSerializer(self.get_queryset().get(pk=collection.pk), context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(request=AssetIdsSerializer, responses={200: CollectionChangeSerializer, **_BAD})
    @action(detail=True, methods=["post", "delete"], url_path="assets", url_name="assets")
    def assets(self, request: Request, pk: str | None = None) -> Response:
        """Add (POST) or remove (DELETE) assets: the owner (creator role) or an admin; audited."""
        collection = self.get_object()
        ids = services.clean_asset_ids(_body(request).get("assets"))
        if request.method == "POST":
            changed = services.add_to_collection(collection.pk, ids, acting_user=request.user)
        else:
            changed = services.remove_from_collection(collection.pk, ids, acting_user=request.user)
        return Response({"collection": str(collection.pk), "changed": changed})

    @extend_schema(
        request=CollectionExportSerializer,
        responses={**_ZIP, **_BAD, 403: OpenApiResponse(description="A less strict purpose, asked by a viewer or creator")},
    )
    # POST, not GET: an export writes an audit event, and a cross-site <img> could make a
    # signed-in browser GET it; a POST with session auth must carry the CSRF token.
    @action(
        detail=True,
        methods=["post"],
        url_path="export",
        url_name="export",
        throttle_classes=[*APIView.throttle_classes, ExportThrottle],
    )
    def export(self, request: Request, pk: str | None = None) -> StreamingHttpResponse:
        """Stream the collection's live assets as a zip (licence policy per asset; audited once)."""
        collection = self.get_object()
        purpose = export.clean_purpose(_body(request).get("purpose"))
        assets = list(
            Asset.objects.live()
            .filter(collection_items__collection=collection)
            .select_related("created_by")
            .order_by("created_at", "id")
        )
        plan = export.prepare_export(
            assets, acting_user=request.user, purpose=purpose, target=collection, label="collection"
        )
        return _zip_response(plan)


class ExportView(APIView):
    """``POST /api/v1/exports/``: stream chosen assets as a zip (any role; audited once)."""

    permission_classes = [IsViewer]
    throttle_classes = [*APIView.throttle_classes, ExportThrottle]

    @extend_schema(request=ExportRequestSerializer, responses={**_ZIP, **_BAD})
    def post(self, request: Request) -> StreamingHttpResponse:
        body = _body(request)
        ids = services.clean_asset_ids(body.get("assets"), limit=settings.HALLMARK_EXPORT_MAX_ASSETS)
        purpose = export.clean_purpose(body.get("purpose"))
        plan = export.prepare_export(
            services.live_assets(ids),
            acting_user=request.user,
            purpose=purpose,
            target=("workspace.export", str(uuid.uuid4())),
            label="assets",
        )
        return _zip_response(plan)

