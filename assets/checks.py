"""System checks (``manage.py check``, ``migrate``) for a half-made multi-host setup.

``HALLMARK_STORAGE=s3`` is chosen so that several hosts share the asset files; the other
state those hosts must share then has to be shared too (docs/deployment.md). Each warning
names the setting left on its single-host default.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Warning, register
from django.db import connections

_PER_HOST_CACHES = (
    "django.core.cache.backends.filebased.FileBasedCache",
    "django.core.cache.backends.locmem.LocMemCache",
)
_GUIDE = "See docs/deployment.md."


@register("deployment")
def multi_host_settings(**kwargs: Any) -> list[CheckMessage]:
    """Warn when object storage is on but something every host must share is not."""
    if settings.HALLMARK_STORAGE != "s3":
        if settings.HALLMARK_DOWNLOAD_REDIRECT:
            return [
                Warning(
                    "HALLMARK_DOWNLOAD_REDIRECT is on but files are on the local filesystem: "
                    "downloads are streamed (redirects need HALLMARK_STORAGE=s3).",
                    id="hallmark.W104",
                )
            ]
        return []
    problems: list[CheckMessage] = []
    if connections["default"].vendor == "sqlite":
        problems.append(
            Warning(
                "HALLMARK_STORAGE=s3 with a SQLite database: other hosts cannot reach it.",
                hint=f"Set DATABASE_URL to PostgreSQL. {_GUIDE}",
                id="hallmark.W101",
            )
        )
    if str(settings.CELERY_BROKER_URL).startswith("filesystem"):
        problems.append(
            Warning(
                "HALLMARK_STORAGE=s3 with the filesystem broker: jobs reach only workers on this host.",
                hint=f"Set CELERY_BROKER_URL to Redis or RabbitMQ. {_GUIDE}",
                id="hallmark.W102",
            )
        )
    if settings.CACHES["default"]["BACKEND"] in _PER_HOST_CACHES:
        problems.append(
            Warning(
                "HALLMARK_STORAGE=s3 with a per-host cache: rate limits and login failures are "
                "counted per host, and a plugin's refused-key state stays on the host that saw it.",
                hint=f"Set HALLMARK_CACHE_URL to redis://… or db://… on every host. {_GUIDE}",
                id="hallmark.W103",
            )
        )
    return problems
