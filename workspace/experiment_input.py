"""The input of an experiment: its plugins, seeds and parameters checked as lists, and a
plugin's validation errors named as the experiment's fields. Nothing here writes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from hallmark.errors import InvalidInput
from hallmark.sdk import MAX_SEED

T = TypeVar("T")

MAX_PLUGINS = 8
MAX_SEEDS = 8
MAX_COMPARED_ASSETS = 16


def clean_plugins(raw: Any, *, field_name: str = "plugins", required: bool = True) -> list[str]:
    """1 to ``MAX_PLUGINS`` distinct plugin ids, each installed and able to take a job now."""
    if raw is None and not required:
        return []
    if not isinstance(raw, list) or not raw or not all(isinstance(p, str) and p for p in raw):
        raise InvalidInput({field_name: ["Must be a non-empty list of plugin ids."]})
    if len(raw) > MAX_PLUGINS:
        raise InvalidInput({field_name: [f"At most {MAX_PLUGINS} plugins."]})
    if len(set(raw)) != len(raw):
        raise InvalidInput({field_name: ["Each plugin may be listed once."]})
    return list(raw)


def clean_seeds(raw: Any, *, field_name: str = "seeds", required: bool = True) -> list[int]:
    """1 to ``MAX_SEEDS`` distinct integer seeds in 0..``MAX_SEED``."""
    if raw is None and not required:
        return []
    if not isinstance(raw, list) or not raw:
        raise InvalidInput({field_name: ["Must be a non-empty list of integer seeds."]})
    if len(raw) > MAX_SEEDS:
        raise InvalidInput({field_name: [f"At most {MAX_SEEDS} seeds."]})
    for seed in raw:
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
            raise InvalidInput(
                {field_name: [f"{seed!r:.40} is not a seed: an integer from 0 to {MAX_SEED}."]}
            )
    if len(set(raw)) != len(raw):
        raise InvalidInput({field_name: ["Each seed may be listed once."]})
    return list(raw)


def clean_params(raw: Any, plugins: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``{plugin: {...}}`` for chosen plugins only (a plugin's own validation checks the rest)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise InvalidInput({"params": ["Must be an object mapping plugin ids to their parameters."]})
    chosen = set(plugins)
    errors: dict[str, list[str]] = {}
    for key, value in raw.items():
        if key not in chosen:
            errors[f"params.{key}"] = [f"{key!r:.80} is not one of the chosen plugins."]
        elif not isinstance(value, Mapping):
            errors[f"params.{key}"] = ["Must be an object."]
    if errors:
        raise InvalidInput(errors)
    return {str(k): dict(v) for k, v in raw.items()}


def plugin_errors(plugin_id: str, errors: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """A plugin's validation errors under the experiment's field names: ``params.steps`` of
    ``sd35-medium`` is ``params.sd35-medium.steps``; a bad seed is ``seeds``; other fields keep
    their name, each message saying which plugin refused it."""
    named: dict[str, list[str]] = {}
    for field, messages in errors.items():
        head, _, rest = field.partition(".")
        if head == "params":
            name, shown = (f"params.{plugin_id}.{rest}" if rest else f"params.{plugin_id}"), list(messages)
        else:
            name = {"seed": "seeds", "plugin": "plugins"}.get(field, field)
            shown = [f"{plugin_id}: {m}" for m in messages]
        named.setdefault(name, []).extend(m for m in shown if m not in named.get(name, []))
    return named


def collect(errors: dict[str, list[str]], clean: Callable[[Any], T], raw: Any) -> T | None:
    """``clean(raw)``, or ``None`` with its errors added to ``errors`` (to report all at once)."""
    try:
        return clean(raw)
    except InvalidInput as exc:
        errors.update(exc.errors)
        return None
