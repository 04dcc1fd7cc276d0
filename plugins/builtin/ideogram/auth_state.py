"""The Ideogram plugins' shared "red" state: which API key Ideogram refused.

A 401 or 403 happens on a worker, but health is asked in the web process, so the refusal is
kept in a small file that both read: ``VAR_DIR/plugin-state/<plugin id>--<variable>.json``,
holding a salted hash of the refused key (never the key). The state holds only while the key
in the variable is the one refused: it clears when the key changes or a later call succeeds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

from hallmark.files import atomic_write

logger = logging.getLogger(__name__)

_KEY_DIGEST_SALT = b"hallmark-ideogram-key-health:"
#: The folder under ``VAR_DIR`` shared by the web process and the workers of one host.
STATE_FOLDER = "plugin-state"


def state_dir() -> Path:
    """Where plugin health markers live: ``VAR_DIR/plugin-state``."""
    return Path(settings.VAR_DIR) / STATE_FOLDER


def key_digest(key: str) -> str:
    """A short, salted hash that says which key failed without revealing it."""
    return hashlib.sha256(_KEY_DIGEST_SALT + key.encode("utf-8")).hexdigest()[:24]


class AuthFailures:
    """The refusal marker of one plugin and one key variable."""

    def __init__(self, plugin_id: str, key_env: str) -> None:
        self.plugin_id = plugin_id
        self.key_env = key_env

    def path(self) -> Path:
        """The marker file (its folder is read when asked, so a changed ``VAR_DIR`` counts)."""
        return state_dir() / f"{self.plugin_id}--{self.key_env}.json"

    def message_for(self, key: str) -> str | None:
        """The red message left by a refused key, if it was this key that was refused."""
        try:
            data = json.loads(self.path().read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("key_digest") != key_digest(key):
            return None  # another key was refused: the current one deserves a try
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
            atomic_write(self.path(), json.dumps(record).encode("utf-8"))
        except OSError:
            logger.exception("ideogram %s: could not record the refused key's health state", self.plugin_id)

    def clear(self) -> None:
        """Forget a refusal: a call with the current key got through."""
        with contextlib.suppress(FileNotFoundError):
            self.path().unlink()
