"""The Ideogram plugins' shared "red" state: which API key Ideogram refused.

A 401 or 403 happens on a worker, but health is asked in the web process, which may run on
another host: the refusal is kept in Django's shared cache (``HALLMARK_CACHE_URL``; Redis or
the database when web and workers are on several hosts, files under ``VAR_DIR`` on one host)
under ``hallmark:plugin-state:<plugin id>--<variable>``, holding a salted hash of the refused
key (never the key). The state holds only while the key in the variable is the one refused: it
clears when the key changes or a later call succeeds. It is advice for the web process, not a
record: a cache that loses it costs one more refused call, which records it again.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from typing import Any

from django.core.cache import cache

logger = logging.getLogger(__name__)

_KEY_DIGEST_SALT = b"hallmark-ideogram-key-health:"
#: The prefix of the cache keys (Django's own ``KEY_PREFIX`` comes before it).
STATE_PREFIX = "plugin-state:"


def key_digest(key: str) -> str:
    """A short, salted hash that says which key failed without revealing it."""
    return hashlib.sha256(_KEY_DIGEST_SALT + key.encode("utf-8")).hexdigest()[:24]


class AuthFailures:
    """The refusal marker of one plugin and one key variable."""

    def __init__(self, plugin_id: str, key_env: str) -> None:
        self.plugin_id = plugin_id
        self.key_env = key_env

    @property
    def cache_key(self) -> str:
        """Where the marker lives in the shared cache."""
        return f"{STATE_PREFIX}{self.plugin_id}--{self.key_env}"

    def _read(self) -> Any:
        try:
            return cache.get(self.cache_key)
        except Exception:  # a cache that cannot be reached must not break health on page loads
            logger.warning("ideogram %s: the shared cache cannot be read", self.plugin_id, exc_info=True)
            return None

    def message_for(self, key: str) -> str | None:
        """The red message left by a refused key, if it was this key that was refused."""
        data = self._read()
        if not isinstance(data, dict) or data.get("key_digest") != key_digest(key):
            return None  # another key was refused (or none): the current one deserves a try
        return (
            f"Ideogram refused the API key in {self.key_env} "
            f"(HTTP {data.get('status')}) at {data.get('at')}; set a valid key."
        )

    def record(self, key: str, status: int) -> None:
        """Remember that Ideogram refused ``key`` with ``status`` (401 or 403)."""
        record = {
            "plugin": self.plugin_id,
            "key_env": self.key_env,
            "key_digest": key_digest(key),
            "status": status,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        try:
            cache.set(self.cache_key, record, timeout=None)
        except Exception:  # the job's own failure (auth_failed) is what matters; this is advice
            logger.exception("ideogram %s: could not record the refused key's health state", self.plugin_id)

    def clear(self) -> None:
        """Forget a refusal: a call with the current key got through."""
        try:
            if cache.get(self.cache_key) is not None:
                cache.delete(self.cache_key)
        except Exception:
            logger.warning("ideogram %s: the shared cache cannot be written", self.plugin_id, exc_info=True)
