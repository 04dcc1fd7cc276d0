"""Serializers for assets."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers

from assets.models import Asset


class ModelIdentitySerializer(serializers.Serializer[Any]):
    """Which model made the asset."""

    name = serializers.CharField()
    version = serializers.CharField()
    fingerprint = serializers.CharField()
    libraries = serializers.DictField(child=serializers.CharField())
    extra = serializers.DictField()


class AssetSerializer(serializers.ModelSerializer[Asset]):
    """An asset with its model identity and licence snapshot."""

    plugin = serializers.CharField(source="plugin_id")
    model = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username")
    file = serializers.SerializerMethodField()
    thumbnail = serializers.SerializerMethodField()
    job = serializers.UUIDField(source="job_id")

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
        ]
        read_only_fields = fields

    def get_model(self, asset: Asset) -> dict[str, Any]:
        identity = asset.model_identity or {}
        return {
            "name": identity.get("name", ""),
            "version": identity.get("version", ""),
            "fingerprint": identity.get("fingerprint", ""),
            "libraries": identity.get("libraries", {}),
            "extra": identity.get("extra", {}),
        }

    def get_file(self, asset: Asset) -> str:
        return self._url("asset-file", asset)

    def get_thumbnail(self, asset: Asset) -> str:
        return self._url("asset-thumbnail", asset)

    def _url(self, name: str, asset: Asset) -> str:
        path = reverse(name, kwargs={"pk": asset.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


AssetSerializer.get_model.__annotations__["return"] = ModelIdentitySerializer
