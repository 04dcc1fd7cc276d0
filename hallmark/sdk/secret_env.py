"""Secrets by reference: a plugin's configuration names an environment variable, never a key.

Which variables a plugin may read is the operator's choice (``HALLMARK_SECRET_ENV_ALLOWLIST``),
not the database's; Hallmark's own configuration is never a plugin's secret.
"""

from __future__ import annotations

import fnmatch
import os

from hallmark.sdk.errors import PluginError

# Hallmark's own configuration: never a plugin's secret, whatever the operator allows.
NEVER_SECRET_ENV = ("DJANGO_*", "DATABASE_URL", "CELERY_*", "HALLMARK_*", "AWS_*")


def secret_env_refusal(name: str) -> str:
    """Why a plugin may not read environment variable ``name`` ("" when it may).

    The variables an ``env`` setting may name are the operator's choice, not the database's:
    an admin who could name any variable could have the worker send ``DATABASE_URL`` or
    ``DJANGO_SECRET_KEY`` to a provider as an API key. The operator lists names or
    ``fnmatch`` globs in ``HALLMARK_SECRET_ENV_ALLOWLIST``; a missing setting allows nothing.
    """
    from django.conf import settings  # here, so that importing the SDK needs no settings

    if any(fnmatch.fnmatchcase(name, pattern) for pattern in NEVER_SECRET_ENV):
        return f"{name} holds Hallmark's own configuration and can never be a plugin's secret."
    configured = getattr(settings, "HALLMARK_SECRET_ENV_ALLOWLIST", ())
    patterns = [
        p.strip().upper() for p in (configured.split(",") if isinstance(configured, str) else configured)
    ]
    patterns = [p for p in patterns if p]
    if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns):
        return ""
    return (
        f"{name} is not a variable plugins may read; the operator allows more names with "
        f"HALLMARK_SECRET_ENV_ALLOWLIST (now: {', '.join(patterns) or 'nothing'})."
    )


def secret_from_env(name: str) -> str:
    """The secret in environment variable ``name``, stripped ("" when unset).

    Plugins read their secrets through this, never ``os.environ`` directly: it checks the
    operator's allow-list again at the moment of use (a row saved before the list was narrowed
    must not leak) and raises ``PluginError`` (code ``secret_not_allowed``) before reading.
    """
    refusal = secret_env_refusal(name)
    if refusal:
        raise PluginError(f"Refused to read the secret: {refusal}", code="secret_not_allowed")
    return os.environ.get(name, "").strip()
