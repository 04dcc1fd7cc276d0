"""The checklist form of the checklists page: one fieldset per check type, its parameters as
inputs, turned into the ``checks`` list the service validates (the same rules as the API)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from acceptance.checks import check_types


def _typed(kind: str, raw: str) -> Any:
    """A form value in the parameter's type; left as text when it does not convert, so that
    the service's validation names it."""
    if raw == "":
        return None
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        return raw
    return raw


def checks_from_form(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ticked checks, in the registry's order: ``<type>`` ticks one, ``<type>.<param>``
    holds a parameter."""
    chosen = []
    for kind, cls in check_types().items():
        if not data.get(kind):
            continue
        entry: dict[str, Any] = {"type": kind}
        for name, spec in cls.params_schema.items():
            value = _typed(spec.type, str(data.get(f"{kind}.{name}", "")).strip())
            if value is not None:
                entry[name] = value
        chosen.append(entry)
    return chosen


def form_rows(current: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """What the form shows: each check type, whether it is in ``current`` and its values."""
    by_type = {entry["type"]: entry for entry in current or []}
    rows = []
    for kind, cls in check_types().items():
        entry = by_type.get(kind, {})
        params = [
            {
                "name": name,
                "field": f"{kind}.{name}",
                "kind": spec.type,
                "value": entry.get(name, spec.default if spec.default is not None else ""),
                "required": spec.required,
                "help": spec.help,
            }
            for name, spec in cls.params_schema.items()
        ]
        rows.append(
            {
                "type": kind,
                "label": cls.label or kind,
                "on": kind in by_type,
                "params": params,
                "help": (cls.__doc__ or "").strip().split("\n")[0],
            }
        )
    return rows
