"""One settings row per plugin (Saleor's habit): enabled flag and validated configuration."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models


class PluginSetting(models.Model):
    """Whether a plugin is enabled and how an admin configured it.

    A plugin with no row is disabled and uses its class defaults. Written only by
    ``plugins.services`` (``WRITERS``); every change is audited there.
    """

    #: The only modules that may save, update, create or delete settings (tests/test_writers.py).
    WRITERS: ClassVar[tuple[str, ...]] = ("plugins.services",)

    plugin_id = models.CharField(max_length=63, unique=True)
    enabled = models.BooleanField(default=False)
    config = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["plugin_id"]

    def __str__(self) -> str:
        return f"{self.plugin_id} ({'enabled' if self.enabled else 'disabled'})"
