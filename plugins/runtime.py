"""The worker's warm plugin cache: loaded plugins kept between jobs within a memory budget.

Keyed by plugin id and configuration, so a reconfigured plugin (other weights) is loaded
afresh. When the loaded plugins together exceed the budget, the least recently used ones
are unloaded first; the plugin just loaded always stays.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from django.conf import settings

from hallmark.sdk import Plugin
from plugins import registry

logger = logging.getLogger(__name__)


class WarmPluginCache:
    """Loaded plugin instances, least recently used first."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._loaded: OrderedDict[tuple[str, str], Plugin] = OrderedDict()
        self._lock = threading.RLock()
        self.loads = 0  # how many times a plugin was loaded (benchmarks and tests read it)

    @staticmethod
    def _key(plugin_id: str, config: Mapping[str, Any]) -> tuple[str, str]:
        return plugin_id, json.dumps(config, sort_keys=True, default=str)

    def get(self, plugin_id: str, config: Mapping[str, Any]) -> Plugin:
        """A loaded instance of ``plugin_id`` with ``config``, loading it on first use."""
        key = self._key(plugin_id, config)
        with self._lock:
            plugin = self._loaded.get(key)
            if plugin is not None:
                self._loaded.move_to_end(key)
                return plugin
            # Another configuration of the same plugin is stale: drop it before loading.
            for other in [k for k in self._loaded if k[0] == plugin_id]:
                self._unload(other)
            plugin = registry.get_entry(plugin_id).get_class()(config)
            logger.info("loading plugin %s", plugin_id)
            plugin.load()
            self.loads += 1
            self._loaded[key] = plugin
            self._evict(keep=key)
            return plugin

    def _evict(self, keep: tuple[str, str]) -> None:
        while self.used_bytes() > self.budget_bytes:
            victim = next((k for k in self._loaded if k != keep), None)
            if victim is None:
                break
            self._unload(victim)

    def _unload(self, key: tuple[str, str]) -> None:
        plugin = self._loaded.pop(key)
        logger.info("unloading plugin %s", key[0])
        try:
            plugin.unload()
        except Exception:
            logger.exception("unloading plugin %s failed", key[0])

    def used_bytes(self) -> int:
        """What the loaded plugins report they hold."""
        return sum(p.memory_footprint() for p in self._loaded.values())

    def loaded_ids(self) -> list[str]:
        """Ids of loaded plugins, least recently used first."""
        return [k[0] for k in self._loaded]

    def clear(self) -> None:
        """Unload everything (worker shutdown, tests)."""
        with self._lock:
            for key in list(self._loaded):
                self._unload(key)


_cache: WarmPluginCache | None = None


def warm_cache() -> WarmPluginCache:
    """This process's cache, sized by ``HALLMARK_PLUGIN_MEMORY_BUDGET_MB``."""
    global _cache
    if _cache is None:
        _cache = WarmPluginCache(settings.HALLMARK_PLUGIN_MEMORY_BUDGET_MB * 1024 * 1024)
    return _cache
