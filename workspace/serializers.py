"""Serializers of the workspace API: library pages, tags, collections, exports."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from assets.models import Asset
from assets.serializers import AssetSerializer
from governance import policy
from workspace.models import Collection


class LibraryAssetSerializer(AssetSerializer):
    """An asset as the library lists it: with its tags (``context["tags"]``: id -> names)."""

    tags = serializers.SerializerMethodField()

    class Meta(AssetSerializer.Meta):
        fields = [*AssetSerializer.Meta.fields, "tags"]
        read_only_fields = fields

    def get_tags(self, asset: Asset) -> list[str]:
        tags: dict[Any, list[str]] = self.context.get("tags", {})
        return tags.get(asset.pk, [])

    def to_representation(self, asset: Asset) -> dict[str, Any]:
        # AssetSerializer builds its row directly (fast); the tags go on top.
        return {**super().to_representation(asset), "tags": self.get_tags(asset)}


class LibraryPageSerializer(serializers.Serializer[Any]):
    """A cursor page: links to the pages around it (null at either end), never a count."""

    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = LibraryAssetSerializer(many=True)


class TagsSerializer(serializers.Serializer[Any]):
    """``{"tags": [...]}``: 1 to 50 names of letters, digits, '-', '_' or '.' (lower-cased)."""

    tags = serializers.ListField(child=serializers.CharField(max_length=64), min_length=1, max_length=50)


class AssetTagsSerializer(serializers.Serializer[Any]):
    """An asset's tags after a change."""

    asset = serializers.UUIDField()
    tags = serializers.ListField(child=serializers.CharField())


class AssetIdsSerializer(serializers.Serializer[Any]):
    """``{"assets": [...]}``: live asset ids."""

    assets = serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=1000)


class ExportRequestSerializer(AssetIdsSerializer):
    """``{"assets": [...], "purpose"?}``: what to export and for which use."""

    purpose = serializers.ChoiceField(choices=list(policy.PURPOSES), required=False)


class CollectionExportSerializer(serializers.Serializer[Any]):
    """``{"purpose"?}``: the use a collection is exported for (the organisation's own by default)."""

    purpose = serializers.ChoiceField(choices=list(policy.PURPOSES), required=False)


class CollectionChangeSerializer(serializers.Serializer[Any]):
    """How many assets a change added or removed."""

    collection = serializers.UUIDField()
    changed = serializers.IntegerField()


class CollectionCreateSerializer(serializers.Serializer[Any]):
    """``{"name", "description"?}``."""

    name = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class CollectionSerializer(serializers.ModelSerializer[Collection]):
    """A collection, its owner and how many live assets it holds."""

    owner = serializers.CharField(source="owner.username")
    asset_count = serializers.SerializerMethodField()

    class Meta:
        model = Collection
        fields = ["id", "name", "description", "owner", "created_at", "asset_count"]
        read_only_fields = fields

    def get_asset_count(self, collection: Collection) -> int:
        counted = getattr(collection, "live_assets", None)
        if counted is not None:
            return int(counted)
        return collection.items.filter(asset__deleted_at__isnull=True).count()
