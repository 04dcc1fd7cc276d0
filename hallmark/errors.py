"""Hallmark's own error for bad input, which every layer raises and the API maps to a 400.

It maps each field at fault to its messages. The plugin SDK's ``RequestInvalid`` and
``ConfigInvalid`` are subclasses, so that a plugin's validation and the core's report the same
way; core code (licence policy, the organisation profile, request validation) raises this class
and never needs the SDK. Imports nothing from Django or the apps.
"""

from __future__ import annotations

from collections.abc import Mapping


class InvalidInput(Exception):
    """Input that breaks a rule; ``errors`` maps field names to messages for the user."""

    def __init__(self, errors: Mapping[str, list[str] | str]) -> None:
        self.errors: dict[str, list[str]] = {
            k: ([v] if isinstance(v, str) else list(v)) for k, v in errors.items()
        }
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in self.errors.items()))
