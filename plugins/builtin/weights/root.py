"""Confining local model weights to one folder: ``HALLMARK_WEIGHTS_ROOT``.

A plugin's ``weights_path`` is set by an admin through the API and read by every worker. Left
unchecked it may name any folder the worker can read, and loading weights reads (and, for some
formats, runs) what it finds there. When the operator sets ``HALLMARK_WEIGHTS_ROOT``, a
``weights_path`` must resolve inside it, and so must every file the plugin will read from the
folder: paths are compared after ``os.path.realpath``, so a symbolic link (the folder itself, a
component folder, or one weight file of a Hugging Face snapshot) that leads out of the root is
refused like a plain path outside it. Without the setting any readable folder is accepted.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings


def weights_root() -> Path | None:
    """The configured root, resolved (symlinks followed), or None when none is set."""
    configured = str(getattr(settings, "HALLMARK_WEIGHTS_ROOT", "") or "").strip()
    if not configured:
        return None
    return Path(os.path.realpath(os.path.expanduser(configured)))


def _inside(real: Path, root: Path) -> bool:
    return real == root or real.is_relative_to(root)


def outside_root(path: str | Path) -> str | None:
    """Why ``path`` may not be used as weights, or None when it lies inside the root (or no root is set)."""
    root = weights_root()
    if root is None:
        return None
    real = Path(os.path.realpath(os.path.expanduser(str(path))))
    if _inside(real, root):
        return None
    shown = f"{path} (resolves to {real})" if str(real) != str(path) else str(path)
    return f"must lie inside HALLMARK_WEIGHTS_ROOT ({root}); {shown} does not."


def first_escaping_file(folder: Path, subfolders: Iterable[str]) -> Path | None:
    """The first file or folder under ``folder``'s ``subfolders`` whose real path leaves the root.

    Checks ``model_index.json``, each component folder and every file in it (one level, as
    diffusers reads them). None when everything stays inside, or when no root is set.
    """
    root = weights_root()
    if root is None:
        return None
    candidates = [folder, folder / "model_index.json"]
    for name in subfolders:
        sub = folder / name
        candidates.append(sub)
        if sub.is_dir():
            candidates.extend(sorted(sub.iterdir()))
    for candidate in candidates:
        if candidate.exists() and not _inside(Path(os.path.realpath(candidate)), root):
            return candidate
    return None
