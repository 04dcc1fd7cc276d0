"""Declared values (``ParamSpec``) to and from the text of an HTML input: one conversion for the
generate form's plugin parameters and the plugins page's configuration form."""

from __future__ import annotations

from typing import Any

from hallmark.sdk import ParamSpec


def shown_text(value: Any) -> str:
    """A declared or stored value as an input shows it (``""`` for none; ``2.0`` as ``2``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}"
    return str(value)


def typed_text(spec: ParamSpec, text: str) -> Any:
    """The text of an input in the spec's type; text that is not one goes on as it is, for the
    validation (the plugin's, or the request's) to name the field."""
    if spec.type == "int":
        try:
            return int(text)
        except ValueError:
            return text
    if spec.type == "float":
        try:
            return float(text)
        except ValueError:
            return text
    if spec.type == "choice":
        return next((c for c in spec.choices if shown_text(c) == text), text)
    return text
