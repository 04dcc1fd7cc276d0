"""Assets: generated images as governed records."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models.fields.json import KeyTextTransform


class AssetStatus(models.TextChoices):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    ARCHIVED = "archived"


class AssetQuerySet(models.QuerySet["Asset"]):
    """Asset queries; ``live()`` is the one definition of an asset that is not soft-deleted."""

    def live(self) -> AssetQuerySet:
        """Assets that are not soft-deleted: what every list, page and API endpoint shows."""
        return self.filter(deleted_at__isnull=True)


class Asset(models.Model):
    """One stored image and everything needed to say where it came from.

    ``sha256`` is of the stored file's final (stamped and signed) bytes; ``pixel_sha256`` is of
    its decoded pixels, which stays the same when metadata is stripped or re-signed.
    ``model_identity`` and ``license`` are snapshots taken at generation time.
    Written only by the modules in ``WRITERS``: ``assets.services`` creates assets and their
    files, ``assets.review`` changes review status, ``assets.retention`` legal hold and
    deletion (and purges), ``assets.soft_binding`` the fingerprints of assets stored before
    soft binding. ``fingerprint`` (PDQ, 64 hex digits) and ``watermark`` (the 64-bit payload
    embedded in the pixels, 16 hex digits, "" when none) find a copy whose metadata and bytes
    are gone (docs/provenance.md).
    """

    #: The only modules that may save, update, create or delete assets (tests/test_writers.py).
    WRITERS: ClassVar[tuple[str, ...]] = (
        "assets.services",
        "assets.review",
        "assets.retention",
        "assets.soft_binding",
        "assets.synthetic",
    )

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.ForeignKey("generation.GenerationJob", on_delete=models.PROTECT, related_name="assets")
    index_in_job = models.PositiveSmallIntegerField(default=0)
    file = models.FileField(max_length=255)
    thumbnail = models.FileField(max_length=255, blank=True, help_text="A 256 px WebP rendition for grids.")
    sha256 = models.CharField(max_length=64, db_index=True)
    pixel_sha256 = models.CharField(max_length=64, db_index=True)
    # Searched in memory (assets.soft_binding.BindingIndex), not by the database: no index.
    fingerprint = models.CharField(
        max_length=64, blank=True, default="", help_text="PDQ hash of the pixels (hex)."
    )
    watermark = models.CharField(
        max_length=16, blank=True, default="", db_index=True, help_text="Watermark payload embedded (hex)."
    )
    byte_size = models.PositiveBigIntegerField()
    mime_type = models.CharField(max_length=64)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    prompt = models.TextField()
    negative_prompt = models.TextField(blank=True)
    seed = models.BigIntegerField()
    params = models.JSONField(default=dict, blank=True)
    provider_data = models.JSONField(default=dict, blank=True, help_text="What a hosted model reported back.")
    plugin_id = models.CharField(max_length=63, db_index=True)
    plugin_version = models.CharField(max_length=64)
    model_identity = models.JSONField(default=dict)
    license = models.JSONField(default=dict)
    status = models.CharField(
        max_length=16, choices=AssetStatus.choices, default=AssetStatus.DRAFT, db_index=True
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assets")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Legal hold and soft deletion (assets.review): a held asset cannot be deleted or archived;
    # a deleted one leaves every list and is purged after HALLMARK_RETENTION_DAYS.
    legal_hold = models.BooleanField(default=False, db_index=True)
    legal_hold_reason = models.CharField(max_length=500, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The asset this one was derived from (promoted: re-rendered or refined), also named in its
    # C2PA manifest as the parentOf ingredient. PROTECT: a parent is evidence of where its
    # children came from, so the purge keeps it until every child is purged (assets.retention).
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )

    objects = AssetQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["job", "index_in_job"], name="asset_one_per_job_index")
        ]
        # The library's keyset pages (workspace.library): newest first over live assets, alone
        # and within the filters a grid uses most. Partial, so soft-deleted rows cost nothing.
        indexes = [
            models.Index(
                fields=["-created_at", "-id"], name="asset_live_newest", condition=models.Q(deleted_at__isnull=True)
            ),
            models.Index(
                fields=["plugin_id", "status", "-created_at", "-id"],
                name="asset_live_plugin_status",
                condition=models.Q(deleted_at__isnull=True),
            ),
            models.Index(
                fields=["status", "-created_at", "-id"],
                name="asset_live_status",
                condition=models.Q(deleted_at__isnull=True),
            ),
            # The library's model_version and license filters.
            models.Index(KeyTextTransform("version", "model_identity"), name="asset_model_version"),
            models.Index(KeyTextTransform("spdx_id", "license"), name="asset_license_id"),
        ]

    def __str__(self) -> str:
        return f"asset {self.id} ({self.plugin_id})"
