"""``/api/v1/assets/``: find assets, read one, download its bytes."""

from __future__ import annotations

import django_filters
from django.db.models import F, QuerySet
from django.http import FileResponse, HttpResponseBase, HttpResponseNotModified, HttpResponseRedirect
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request

from assets.models import Asset, AssetStatus
from assets.review_api import ReviewActionsMixin
from assets.search import search_prompts
from assets.serializers import AssetSerializer
from assets.storage import download_redirect, open_for_download
from hallmark.api import UTCDateTimeFilter


class AssetFilter(django_filters.FilterSet):
    """Filters for the asset list; ``search`` matches the prompt."""

    plugin = django_filters.CharFilter(field_name="plugin_id")
    created_by = django_filters.CharFilter(field_name="created_by__username")
    created_after = UTCDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UTCDateTimeFilter(field_name="created_at", lookup_expr="lt")
    status = django_filters.ChoiceFilter(choices=AssetStatus.choices)
    search = django_filters.CharFilter(method="filter_search", max_length=500)

    class Meta:
        model = Asset
        fields = ["plugin", "created_by", "created_after", "created_before", "status", "search"]

    def filter_search(self, queryset: QuerySet[Asset], name: str, value: str) -> QuerySet[Asset]:
        return search_prompts(queryset, value)


class AssetViewSet(ReviewActionsMixin, viewsets.ReadOnlyModelViewSet[Asset]):
    """Assets, newest first. Every role can read; review, legal hold, deletion, export and
    evidence come from ``ReviewActionsMixin`` (soft-deleted assets are left out)."""

    serializer_class = AssetSerializer
    filterset_class = AssetFilter
    lookup_value_regex = "[0-9a-fA-F-]{32,36}"

    def get_queryset(self) -> QuerySet[Asset]:
        # Soft-deleted assets are gone from every action but legal_hold: a hold may still stop
        # the purge of a deleted asset.
        assets = Asset.objects.all() if self.action == "legal_hold" else Asset.objects.live()
        if self.action == "list":
            # The creator's name only, not a User built per row (AssetSerializer reads it).
            assets = assets.annotate(created_by_username=F("created_by__username"))
        else:
            assets = assets.select_related("created_by")
        return assets.order_by("-created_at", "-id")

    @extend_schema(
        responses={
            (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="The stored bytes"),
            302: OpenApiResponse(
                description="HALLMARK_DOWNLOAD_REDIRECT: a presigned URL of the object store"
            ),
        }
    )
    @action(detail=True, methods=["get"], url_path="file", url_name="file")
    def file(self, request: Request, pk: str | None = None) -> HttpResponseBase:
        """The stored file, exactly as hashed in ``sha256``."""
        return _original_file(self.get_object())

    @extend_schema(
        responses={
            (200, "image/webp"): OpenApiResponse(OpenApiTypes.BINARY, description="A 256 px WebP rendition")
        }
    )
    @action(detail=True, methods=["get"], url_path="thumbnail", url_name="thumbnail")
    def thumbnail(self, request: Request, pk: str | None = None) -> HttpResponseBase:
        """A small WebP rendition for grids (the original file when an asset has none); with an
        ETag (renditions never change), so a grid seen before is answered 304 Not Modified."""
        asset = self.get_object()
        if not asset.thumbnail:
            return _original_file(asset)
        etag = f'"t-{asset.sha256}"'
        if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
            not_modified = HttpResponseNotModified()
            not_modified["ETag"] = etag
            not_modified["Cache-Control"] = _CACHE
            return not_modified
        name = str(asset.thumbnail.name)
        storage = asset.thumbnail.storage
        filename = f"{asset.pk}.webp"
        if url := download_redirect(storage, name, content_type="image/webp", filename=filename):
            return _redirect(url)
        response = FileResponse(open_for_download(storage, name), content_type="image/webp")
        response["ETag"] = etag
        response["Cache-Control"] = _CACHE
        return response


# Content-addressed files never change: cache them for a year, privately (they need a login).
_CACHE = "private, max-age=31536000, immutable"


def _original_file(asset: Asset) -> HttpResponseBase:
    name = str(asset.file.name)
    storage = asset.file.storage
    filename = f"{asset.pk}.{name.rsplit('.', 1)[-1]}"
    if url := download_redirect(storage, name, content_type=asset.mime_type, filename=filename):
        return _redirect(url)
    response = FileResponse(open_for_download(storage, name), content_type=asset.mime_type)
    response["Content-Length"] = str(asset.byte_size)
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["ETag"] = f'"{asset.sha256}"'
    response["Cache-Control"] = _CACHE
    return response


def _redirect(url: str) -> HttpResponseRedirect:
    """A 302 to a presigned URL: checked permissions first (``get_object``), and never cached,
    since the URL expires (``HALLMARK_DOWNLOAD_URL_EXPIRES``) and grants the file to its holder."""
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response
