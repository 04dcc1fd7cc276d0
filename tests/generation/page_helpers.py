"""Helpers for the page tests: a logged-in test client, and the error a page shows beside a field."""

from __future__ import annotations

import html
import re
from typing import Any

from django.test import Client


def logged_in(user: Any, **kwargs: Any) -> Client:
    """A Django test client logged in as ``user`` (``enforce_csrf_checks=True`` and the like)."""
    client = Client(**kwargs)
    client.force_login(user)
    return client


def field_error(response: Any, field: str) -> str:
    """The error text a page shows under ``field`` (its ``data-field``), or "" when none."""
    match = re.search(
        rf'<p class="error" id="[^"]+" data-field="{re.escape(field)}">([^<]*)</p>', response.content.decode()
    )
    return html.unescape(match[1]) if match else ""
