"""The exceptions a plugin raises, and the one Hallmark raises into a plugin (``Cancelled``)."""

from __future__ import annotations

from hallmark.errors import InvalidInput


class PluginError(Exception):
    """A generation failed for a reason the user can act on; the message is shown as the job error.

    ``retryable`` says whether another attempt may succeed (a provider outage) or not (a
    refused prompt); it is recorded with the failure so that clients know whether to resubmit.
    A plugin retries transient errors itself, within its own time budget (``hallmark.sdk.hosted``
    does it for hosted models) before raising. Messages must never contain secrets.
    """

    def __init__(self, message: str, *, retryable: bool = False, code: str = "plugin_error") -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code


class Cancelled(Exception):
    """Raised by a plugin's ``generate`` when ``is_cancelled()`` became true."""


class RequestInvalid(InvalidInput):
    """A request breaks the plugin's declared capabilities. Maps field names to messages."""


class ConfigInvalid(RequestInvalid):
    """A plugin configuration breaks the plugin's config schema. Maps keys to messages."""
