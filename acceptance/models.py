"""Checklists, their versions, and each asset's check results."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models


class Checklist(models.Model):
    """A named set of checks a team defines; its checks live in versions (``ChecklistVersion``).

    Written only by ``acceptance.services``.
    """

    WRITERS: ClassVar[tuple[str, ...]] = ("acceptance.services",)

    name = models.CharField(max_length=100, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"checklist {self.name}"

    @property
    def latest(self) -> ChecklistVersion:
        """The newest version (every checklist has at least one)."""
        return self.versions.order_by("-number").first()  # type: ignore[return-value]


class ChecklistVersion(models.Model):
    """One version of a checklist's checks (``[{"type": ..., **params}]``, cleaned). Editing a
    checklist makes a new version, so every result names the exact checks it was judged by."""

    WRITERS: ClassVar[tuple[str, ...]] = ("acceptance.services",)

    checklist = models.ForeignKey(Checklist, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    checks = models.JSONField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["checklist", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["checklist", "number"], name="checklist_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.checklist.name} v{self.number}"


class CheckResult(models.Model):
    """One check of one checklist version run on one asset (``check_index`` is its place in
    the version's list)."""

    WRITERS: ClassVar[tuple[str, ...]] = ("acceptance.services",)

    asset = models.ForeignKey("assets.Asset", on_delete=models.CASCADE, related_name="check_results")
    checklist_version = models.ForeignKey(ChecklistVersion, on_delete=models.PROTECT, related_name="results")
    check_index = models.PositiveSmallIntegerField()
    check_type = models.CharField(max_length=63)
    passed = models.BooleanField()
    score = models.FloatField(null=True, blank=True)
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["checklist_version", "check_index"]
        constraints = [
            models.UniqueConstraint(
                fields=["asset", "checklist_version", "check_index"], name="check_result_once"
            )
        ]
        indexes = [models.Index(fields=["asset", "passed"], name="check_result_asset_passed")]

    def __str__(self) -> str:
        return f"{self.check_type} on {self.asset_id}: {'passed' if self.passed else 'failed'}"
