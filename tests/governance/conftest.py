"""Every governance test signs audit checkpoints, if at all, with a key and into a folder of its
own: a checkpoint left in the shared test var dir would be checked by every later
``verify_audit`` against a database that never held it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _own_audit_checkpoints(settings: Any, tmp_path: Path) -> None:
    settings.HALLMARK_AUDIT_SIGNING_KEY = tmp_path / "audit-keys" / "checkpoint_ed25519.pem"
    settings.HALLMARK_AUDIT_CHECKPOINT_DIR = tmp_path / "audit-checkpoints"
