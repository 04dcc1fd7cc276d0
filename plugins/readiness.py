"""Whether each installed plugin can take jobs now and, when not, the one thing missing.

Read-only: computed from the registry (broken plugins), the settings rows (enabled, config)
and each plugin's own ``health()``. ``scripts/start.sh`` prints it in its banner through
``manage.py plugin_status``, so a newcomer sees what to do next for each model.

The checks run in the order a person fixes things: a broken plugin first, then a configuration
that no longer validates, then a secret's environment variable that is unset, then whatever the
plugin's health reports red (weights not registered, libraries not installed...), and only then
whether an admin has enabled it. A plugin that is ready but amber says why.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any, Literal

from hallmark.sdk import ConfigInvalid
from plugins import services

Status = Literal["ready", "not ready", "disabled", "broken"]


@dataclass(frozen=True)
class Readiness:
    """One plugin's readiness: ``status`` and the one thing to do (or an amber note when ready)."""

    plugin_id: str
    name: str
    status: Status
    message: str
    enabled: bool

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ready": self.ready}


def _enable_hint(plugin_id: str) -> str:
    return f'an admin enables it: PATCH /api/v1/plugins/{plugin_id}/ with {{"enabled": true}}'


def _unset_secret(state: services.PluginState, config: dict[str, Any]) -> str | None:
    """The first secret variable the config names (a config key of type ``env``) that is unset."""
    cls = state.entry.get_class()
    for key, spec in cls.config_schema.items():
        if spec.type != "env":
            continue
        variable = str(config.get(key) or "")
        if variable and not os.environ.get(variable, "").strip():
            return variable
    return None


def plugin_readiness(state: services.PluginState) -> Readiness:
    """Readiness of one plugin; see the module docstring for the order of the checks."""
    plugin_id = state.id
    cls = state.entry.plugin_class
    name = cls.name if cls is not None else plugin_id

    def result(status: Status, message: str) -> Readiness:
        return Readiness(plugin_id, name, status, message, state.enabled)

    then_enable = "" if state.enabled else " and enable it"
    if cls is None:
        return result("broken", state.entry.error)
    try:
        config = cls.clean_config(state.config)
    except ConfigInvalid as exc:
        return result(
            "not ready", f"configuration invalid ({exc}): fix it with PATCH /api/v1/plugins/{plugin_id}/"
        )
    variable = _unset_secret(state, config)
    if variable is not None:
        return result("not ready", f"no API key: set {variable}{then_enable} (docs/models.md)")
    health = services.health(plugin_id)
    if health.status == "red":
        return result("not ready", health.message.rstrip("."))
    if not state.enabled:
        return result("disabled", _enable_hint(plugin_id))
    return result("ready", health.message if health.status == "amber" else "")


def readiness() -> list[Readiness]:
    """Every installed plugin's readiness, in the registry's (alphabetical) order."""
    return [plugin_readiness(state) for state in services.states()]
