"""Serializers for assets."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from assets.models import Asset


class ModelIdentitySerializer(serializers.Serializer[Any]):
    """Which model made the asset."""

    name = serializers.CharField()
    version = serializers.CharField()
    fingerprint = serializers.CharField()
    libraries = serializers.DictField(child=serializers.CharField())
    extra = serializers.DictField()


#: Stands for an asset's id in a URL reversed once; matches the routes' id pattern.
_PK_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"
_DATETIME = serializers.DateTimeField()


class AssetListSerializer(serializers.ListSerializer[Asset]):
    """Rows of assets whose children (lineage) are read in one query for the whole page."""

    def to_representation(self, data: Any) -> list[Any]:
        rows = list(data.all() if hasattr(data, "all") else data)
        if rows and all(hasattr(row, "child_ids") for row in rows):
            # Read with the rows (the library's page on PostgreSQL): no query of its own.
            children = {row.pk: [str(pk) for pk in row.child_ids] for row in rows if row.child_ids}
        else:
            children = children_by_parent([row.pk for row in rows])
        self.child.__dict__["_children"] = children
        return super().to_representation(rows)


def children_by_parent(asset_ids: list[Any]) -> dict[Any, list[str]]:
    """The ids of the live assets derived from each of ``asset_ids`` (one query), oldest first."""
    children: dict[Any, list[str]] = {}
    if not asset_ids:
        return children
    rows = (
        Asset.objects.live()
        .filter(parent_id__in=asset_ids)
        .order_by("created_at", "id")
        .values_list("parent_id", "pk")
    )
    for parent_id, child_id in rows:
        children.setdefault(parent_id, []).append(str(child_id))
    return children


class AssetSerializer(serializers.ModelSerializer[Asset]):
    """An asset with its model identity and licence snapshot, and its lineage: ``parent`` (the
    asset it was promoted from) and ``children`` (the live assets promoted from it)."""

    plugin = serializers.CharField(source="plugin_id")
    model = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username")
    file = serializers.SerializerMethodField()
    thumbnail = serializers.SerializerMethodField()
    job = serializers.UUIDField(source="job_id")
    children = serializers.SerializerMethodField()

    class Meta:
        model = Asset
        fields = [
            "id",
            "sha256",
            "pixel_sha256",
            "byte_size",
            "width",
            "height",
            "mime_type",
            "prompt",
            "negative_prompt",
            "seed",
            "params",
            "provider_data",
            "plugin",
            "plugin_version",
            "model",
            "license",
            "status",
            "legal_hold",
            "legal_hold_reason",
            "job",
            "created_by",
            "created_at",
            "file",
            "thumbnail",
            "parent",
            "children",
        ]
        read_only_fields = fields
        list_serializer_class = AssetListSerializer
        # ``parent`` as its id in the same form as ``id`` (``parent`` is also a DRF field's
        # attribute name, so it is not declared on the class).
        extra_kwargs = {"parent": {"pk_field": serializers.UUIDField()}}

    def to_representation(self, asset: Asset) -> dict[str, Any]:
        """The row, built directly: DRF's walk over 25 declared fields took about 0.8 ms an
        asset, most of a page of 50 (docs/benchmarks.md, asset list under load). The output is
        the generic one's, field for field (tests/assets/test_asset_serializer.py)."""
        return {
            "id": str(asset.id),
            "sha256": asset.sha256,
            "pixel_sha256": asset.pixel_sha256,
            "byte_size": int(asset.byte_size),
            "width": int(asset.width),
            "height": int(asset.height),
            "mime_type": asset.mime_type,
            "prompt": asset.prompt,
            "negative_prompt": asset.negative_prompt,
            "seed": int(asset.seed),
            "params": asset.params,
            "provider_data": asset.provider_data,
            "plugin": asset.plugin_id,
            "plugin_version": asset.plugin_version,
            "model": self.get_model(asset),
            "license": asset.license,
            "status": asset.status,
            "legal_hold": bool(asset.legal_hold),
            "legal_hold_reason": asset.legal_hold_reason,
            "job": str(asset.job_id),
            "created_by": _creator_name(asset),
            "created_at": _DATETIME.to_representation(asset.created_at),
            "file": self.get_file(asset),
            "thumbnail": self.get_thumbnail(asset),
            "parent": str(asset.parent_id) if asset.parent_id else None,
            "children": self.get_children(asset),
        }

    def get_model(self, asset: Asset) -> dict[str, Any]:
        identity = asset.model_identity or {}
        return {
            "name": identity.get("name", ""),
            "version": identity.get("version", ""),
            "fingerprint": identity.get("fingerprint", ""),
            "libraries": identity.get("libraries", {}),
            "extra": identity.get("extra", {}),
        }

    @extend_schema_field(serializers.ListField(child=serializers.UUIDField()))
    def get_children(self, asset: Asset) -> list[str]:
        """The live assets promoted from this one (read for a whole page at once in lists)."""
        cached: dict[Any, list[str]] | None = self.__dict__.get("_children")
        if cached is None:
            return children_by_parent([asset.pk]).get(asset.pk, [])
        return cached.get(asset.pk, [])

    def get_file(self, asset: Asset) -> str:
        return self._url("asset-file", asset)

    def get_thumbnail(self, asset: Asset) -> str:
        return self._url("asset-thumbnail", asset)

    def _url(self, name: str, asset: Asset) -> str:
        # Reversed and made absolute once per serializer (a page's rows share it), then the
        # asset's id put in: reverse() and build_absolute_uri() were a fifth of a page's time.
        templates: dict[str, str] = self.__dict__.setdefault("_url_templates", {})
        template = templates.get(name)
        if template is None:
            path = reverse(name, kwargs={"pk": _PK_PLACEHOLDER})
            request = self.context.get("request")
            template = request.build_absolute_uri(path) if request is not None else path
            templates[name] = template
        return template.replace(_PK_PLACEHOLDER, str(asset.pk))


AssetSerializer.get_model.__annotations__["return"] = ModelIdentitySerializer


def _creator_name(asset: Asset) -> str:
    """The creator's username: annotated by the asset list (``created_by_username``), else
    read from the related user."""
    name = getattr(asset, "created_by_username", None)
    return str(name) if name is not None else asset.created_by.username
