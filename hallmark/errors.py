"""Errors a service raises for its caller to show, each carrying the HTTP status it maps to.

``ServiceError`` is the base: a subclass sets ``http_status`` once, and both edges use it: the
API's exception handler (``hallmark.api.exception_handler``) answers with that status and
``response_data()``, and a page that shows the refusal uses the same status and ``str(exc)``.
Services raise; API actions and views do not map errors one by one.

``InvalidInput`` is Hallmark's own error for bad input (a 400), mapping each field at fault to
its messages. The plugin SDK's ``RequestInvalid`` and ``ConfigInvalid`` are subclasses, so that
a plugin's validation and the core's report the same way; core code (licence policy, the
organisation profile, request validation) raises this class and never needs the SDK.
Imports nothing from Django or the apps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class ServiceError(Exception):
    """A refusal meant for the user: the message says why, ``http_status`` how the API answers."""

    http_status: ClassVar[int] = 400

    def response_data(self) -> dict[str, Any]:
        """The JSON body of the API's error response (``{"detail": <message>}`` by default)."""
        return {"detail": str(self)}


class InvalidInput(ServiceError):
    """Input that breaks a rule; ``errors`` maps field names to messages for the user (400)."""

    http_status = 400

    def __init__(self, errors: Mapping[str, list[str] | str]) -> None:
        self.errors: dict[str, list[str]] = {
            k: ([v] if isinstance(v, str) else list(v)) for k, v in errors.items()
        }
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in self.errors.items()))

    def response_data(self) -> dict[str, Any]:
        """``{"detail": "Invalid request.", "errors": {<field>: [<message>, ...]}}``."""
        return {"detail": "Invalid request.", "errors": self.errors}
