"""The only writers of ``PluginSetting``: enable, disable and configure plugins, audited."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from governance.audit_trail import ActingUser, record_event
from hallmark.sdk import ConfigInvalid, Health, Plugin
from plugins import registry
from plugins.models import PluginSetting


class PluginUnavailable(Exception):
    """The plugin cannot take a job: not installed, broken, disabled or unhealthy."""

    def __init__(self, message: str, *, code: str, public_message: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        # What users who may not see plugin configuration are told: health messages and
        # configuration errors can name weights paths, hosts and variable names.
        self.public_message = public_message or message


@dataclass(frozen=True)
class PluginState:
    """What Hallmark knows about one plugin: declaration, settings and health."""

    entry: registry.PluginEntry
    enabled: bool
    config: dict[str, Any]

    @property
    def id(self) -> str:
        return self.entry.id


def _setting(plugin_id: str) -> PluginSetting | None:
    return PluginSetting.objects.filter(plugin_id=plugin_id).first()


def states() -> list[PluginState]:
    """Every installed plugin, broken ones included, with its settings."""
    stored = {s.plugin_id: s for s in PluginSetting.objects.all()}
    result = []
    for plugin_id, entry in registry.discover().items():
        setting = stored.get(plugin_id)
        result.append(
            PluginState(entry, bool(setting and setting.enabled), dict(setting.config) if setting else {})
        )
    return result


def state(plugin_id: str) -> PluginState:
    """One plugin's state; raises ``LookupError`` when it is not installed."""
    entry = registry.get_entry(plugin_id)
    setting = _setting(plugin_id)
    return PluginState(entry, bool(setting and setting.enabled), dict(setting.config) if setting else {})


def instantiate(plugin_id: str, config: Mapping[str, Any] | None = None) -> Plugin:
    """A fresh (not loaded) instance with the stored or given configuration."""
    plugin_class = registry.get_entry(plugin_id).get_class()
    if config is None:
        setting = _setting(plugin_id)
        config = setting.config if setting else {}
    return plugin_class(config)


def health(plugin_id: str) -> Health:
    """The plugin's health; a broken plugin or one whose config no longer validates is red."""
    try:
        plugin = instantiate(plugin_id)
    except LookupError as exc:
        return Health("red", str(exc))
    except ConfigInvalid as exc:
        return Health("red", f"configuration is invalid: {exc}")
    return _checked_health(plugin)


def _checked_health(plugin: Plugin) -> Health:
    try:
        return plugin.health()
    except Exception as exc:  # a health hook must not take the page or a submission down
        return Health("red", f"health check failed: {type(exc).__name__}")


def available_plugin(plugin_id: str) -> Plugin:
    """An instance of a plugin that may take a job now, or ``PluginUnavailable`` saying why."""
    try:
        current = state(plugin_id)
    except LookupError:
        raise PluginUnavailable(f"No plugin {plugin_id!r} is installed.", code="unknown") from None
    if current.entry.broken:
        raise PluginUnavailable(
            f"Plugin {plugin_id} is broken: {current.entry.error}",
            code="broken",
            public_message=f"Plugin {plugin_id} is broken; an admin can see why in the plugin list.",
        )
    if not current.enabled:
        raise PluginUnavailable(f"Plugin {plugin_id} is disabled; an admin must enable it.", code="disabled")
    try:
        plugin = current.entry.get_class()(current.config)
    except ConfigInvalid as exc:
        raise PluginUnavailable(
            f"Plugin {plugin_id} is misconfigured: {exc}",
            code="misconfigured",
            public_message=f"Plugin {plugin_id} is misconfigured; an admin can see why in the plugin list.",
        ) from None
    status = _checked_health(plugin)
    if status.status == "red":
        raise PluginUnavailable(
            f"Plugin {plugin_id} is unhealthy: {status.message}",
            code="unhealthy",
            public_message=f"Plugin {plugin_id} is unhealthy; an admin can see why in the plugin list.",
        )
    return plugin


def update_plugin(
    plugin_id: str,
    *,
    acting_user: ActingUser,
    enabled: bool | None = None,
    config: Mapping[str, Any] | None = None,
) -> PluginSetting:
    """Enable, disable and/or configure a plugin; each change is one audit event.

    The configuration is validated against the plugin's schema first (``ConfigInvalid`` names
    the keys at fault). A broken plugin cannot be enabled. ``plugin.configured`` records the
    whole configuration before and after: it holds paths, hosts and the names of environment
    variables, never a secret (secrets are only ever named), and reviewers, who read the audit
    log, see that history.
    """
    entry = registry.get_entry(plugin_id)
    plugin_class = entry.plugin_class
    if plugin_class is None and enabled:
        raise PluginUnavailable(
            f"Plugin {plugin_id} is broken and cannot be enabled: {entry.error}", code="broken"
        )
    cleaned: dict[str, Any] | None = None
    if config is not None:
        if plugin_class is None:
            raise PluginUnavailable(f"Plugin {plugin_id} is broken and cannot be configured.", code="broken")
        plugin_class.clean_config(config)  # raises ConfigInvalid with the keys at fault
        cleaned = {k: v for k, v in config.items() if v is not None}
    with transaction.atomic():
        setting, _ = PluginSetting.objects.select_for_update().get_or_create(plugin_id=plugin_id)
        if cleaned is not None and cleaned != setting.config:
            before = setting.config
            setting.config = cleaned
            record_event(
                "plugin.configured",
                acting_user=acting_user,
                target=("plugin", plugin_id),
                data={"before": before, "after": cleaned, "plugin_version": entry.distribution_version},
            )
        if enabled and plugin_class is not None:
            # Refuse before anything is saved: an enabled plugin must be able to take jobs.
            plugin_class.clean_config(setting.config)
        if enabled is not None and enabled != setting.enabled:
            setting.enabled = enabled
            record_event(
                "plugin.enabled" if enabled else "plugin.disabled",
                acting_user=acting_user,
                target=("plugin", plugin_id),
                data={"plugin_version": plugin_class.version if plugin_class else ""},
            )
        if acting_user is not None and acting_user.is_authenticated:
            setting.updated_by_id = acting_user.pk
        setting.save()
    if plugin_class is not None and enabled is not None:
        hook = plugin_class(setting.config)
        transaction.on_commit(hook.on_enabled if enabled else hook.on_disabled)
    return setting
