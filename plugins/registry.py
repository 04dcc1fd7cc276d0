"""Discovery of plugins through the ``hallmark.plugins`` entry-point group.

A plugin that fails to import, declares bad metadata, or asks for another Hallmark version or
another plugin SDK version (``hallmark.sdk.compat``) is listed as broken with the reason; it
never takes the service down (NetBox's habit).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from hallmark.sdk import Plugin, check_declarations, compatibility_problem

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "hallmark.plugins"


@dataclass(frozen=True)
class PluginEntry:
    """One discovered plugin: its class when it loaded, or why it is broken."""

    id: str
    plugin_class: type[Plugin] | None
    error: str
    distribution: str
    distribution_version: str

    @property
    def broken(self) -> bool:
        return self.plugin_class is None

    def get_class(self) -> type[Plugin]:
        """The plugin class; raises ``LookupError`` for a broken plugin."""
        if self.plugin_class is None:
            raise LookupError(f"plugin {self.id} is broken: {self.error}")
        return self.plugin_class


_lock = threading.Lock()
_entries: dict[str, PluginEntry] | None = None


def _load(entry_point: EntryPoint) -> PluginEntry:
    dist = entry_point.dist
    dist_name = dist.name if dist is not None else ""
    dist_version = dist.version if dist is not None else ""

    def broken(error: str) -> PluginEntry:
        logger.warning("plugin %s is broken: %s", entry_point.name, error)
        return PluginEntry(entry_point.name, None, error, dist_name, dist_version)

    try:
        loaded = entry_point.load()
    except Exception as exc:  # any import-time failure must only mark this plugin broken
        return broken(f"import failed: {type(exc).__name__}: {exc}")
    if not (isinstance(loaded, type) and issubclass(loaded, Plugin)):
        return broken(f"{entry_point.value} is not a subclass of hallmark.sdk.Plugin")
    try:
        problems = check_declarations(loaded)
    except Exception as exc:  # metadata of the wrong type: the plugin is broken, not Hallmark
        problems = [f"declarations could not be checked: {type(exc).__name__}: {exc}"]
    if problems:
        return broken("bad metadata: " + "; ".join(problems))
    if loaded.id != entry_point.name:
        return broken(f"entry point name {entry_point.name!r} differs from the plugin id {loaded.id!r}")
    incompatible = compatibility_problem(loaded)
    if incompatible:
        return broken(incompatible)
    return PluginEntry(loaded.id, loaded, "", dist_name, dist_version)


def discover(refresh: bool = False) -> dict[str, PluginEntry]:
    """All plugins registered through entry points, by id, loaded once per process."""
    global _entries
    with _lock:
        if _entries is None or refresh:
            found: dict[str, PluginEntry] = {}
            for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
                if entry_point.name in found:
                    found[entry_point.name] = PluginEntry(
                        entry_point.name, None, "two distributions register this plugin id", "", ""
                    )
                    continue
                found[entry_point.name] = _load(entry_point)
            _entries = found
        return dict(_entries)


def get_entry(plugin_id: str) -> PluginEntry:
    """The entry for ``plugin_id``; raises ``LookupError`` when no such plugin is installed."""
    entries = discover()
    if plugin_id not in entries:
        raise LookupError(f"no plugin {plugin_id!r} is installed")
    return entries[plugin_id]
