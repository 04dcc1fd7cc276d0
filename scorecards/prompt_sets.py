"""The prompt sets that ship with Hallmark (JSON files in ``scorecards/prompt_sets/``)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

_FOLDER = Path(__file__).resolve().parent / "prompt_sets"


@functools.cache
def available() -> dict[str, list[dict[str, str]]]:
    """Every built-in prompt set by name: ``[{"prompt", "expected_text"}, ...]``."""
    sets: dict[str, list[dict[str, str]]] = {}
    for path in sorted(_FOLDER.glob("*.json")):
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        sets[str(data["name"])] = [
            {"prompt": str(item["prompt"]), "expected_text": str(item.get("expected_text", ""))}
            for item in data["prompts"]
        ]
    return sets
