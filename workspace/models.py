"""Tags and collections: how a team organises assets in the library."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models


class Tag(models.Model):
    """A label, lower case, shared by everyone (``spring-campaign``). Written only by
    ``workspace.services`` (and the synthetic library)."""

    WRITERS: ClassVar[tuple[str, ...]] = ("workspace.services", "workspace.synthetic")

    name = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AssetTag(models.Model):
    """One tag on one asset."""

    WRITERS: ClassVar[tuple[str, ...]] = ("workspace.services", "workspace.synthetic")

    asset = models.ForeignKey("assets.Asset", on_delete=models.CASCADE, related_name="tag_links")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="asset_links")
    tagged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    tagged_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tag", "asset"], name="asset_tag_once")]

    def __str__(self) -> str:
        return f"{self.tag_id} on {self.asset_id}"


class Collection(models.Model):
    """A named set of assets, kept by its owner (and admins); every role can see it."""

    WRITERS: ClassVar[tuple[str, ...]] = ("workspace.services", "workspace.synthetic")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="collections")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class CollectionItem(models.Model):
    """One asset in one collection."""

    WRITERS: ClassVar[tuple[str, ...]] = ("workspace.services", "workspace.synthetic")

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="items")
    asset = models.ForeignKey("assets.Asset", on_delete=models.CASCADE, related_name="collection_items")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["collection", "asset"], name="collection_asset_once")]

    def __str__(self) -> str:
        return f"{self.asset_id} in {self.collection_id}"


class Experiment(models.Model):
    """One prompt run across several models and seeds (or a set of existing assets), compared
    side by side, with the winner its creator picked. Written only by ``workspace.experiments``.

    ``params`` holds each plugin's own parameters, by plugin id; ``source`` says whether the
    cells were generated for it or made from assets that already existed.
    """

    WRITERS: ClassVar[tuple[str, ...]] = ("workspace.experiments",)

    class Source(models.TextChoices):
        GENERATED = "generated"
        ASSETS = "assets"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    prompt = models.TextField()
    negative_prompt = models.TextField(blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    params = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.GENERATED)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="experiments")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    winner = models.ForeignKey("assets.Asset", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    winner_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    winner_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"experiment {self.id}"


class ExperimentCell(models.Model):
    """One plugin and seed of an experiment: the job that makes it, or an existing asset."""

    WRITERS: ClassVar[tuple[str, ...]] = ("workspace.experiments",)

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="cells")
    plugin_id = models.CharField(max_length=63, db_index=True)
    seed = models.BigIntegerField()
    job = models.ForeignKey(
        "generation.GenerationJob", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Set for a cell made from an asset that already existed (its job is then that asset's).
    # SET_NULL: an experiment must not keep a deleted asset from being purged (assets.retention).
    asset = models.ForeignKey("assets.Asset", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.plugin_id} seed {self.seed} in {self.experiment_id}"
