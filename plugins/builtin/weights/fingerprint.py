"""Weights fingerprints: one sha256 that names exactly which weight files a model was loaded from.

The fingerprint of a folder is::

    sha256( for each weight file, sorted by relative path:
                "<relative path, '/'-separated>\\0<sha256 of the file's bytes, hex>\\n" )

and is written ``sha256:<hex>``. Weight files are those ending in ``.safetensors``, ``.bin``,
``.pt``, ``.ckpt`` or ``.gguf``. Hashing the relative path with the content means that moving a
file between components (a VAE swapped with a text encoder) changes the fingerprint, and the
per-file digest lets anyone recompute it with ``sha256sum``. A caller that loads only some
formats narrows the set with ``suffixes`` (the SD3.5 plugins load, and so fingerprint, only
``.safetensors``), so the fingerprint names the files that were actually read.

Hashing gigabytes takes minutes, so each file's digest is cached on disk under
``settings.VAR_DIR / "fingerprints"``, keyed by the file's absolute path, size and ``mtime_ns``:
a worker that restarts re-reads nothing, and a file that is replaced (new size or mtime) is
hashed again. Symbolic links (a Hugging Face cache snapshot is made of them) are followed.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from hallmark.files import atomic_write

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".ckpt", ".gguf")
_CHUNK = 4 * 1024 * 1024

#: Told (bytes to hash in total, then bytes hashed) while a folder is fingerprinted inside
#: ``reporting_progress``: ``register_weights`` shows a bar, nothing else pays for it.
ProgressHook = Callable[[int, int], None]
_progress: contextvars.ContextVar[ProgressHook | None] = contextvars.ContextVar("fingerprint_progress", default=None)


@contextlib.contextmanager
def reporting_progress(hook: ProgressHook) -> Iterator[None]:
    """Call ``hook(total_bytes, 0)`` when a fingerprint starts, then ``hook(0, n)`` per n bytes
    hashed (or found in the cache) by fingerprints taken inside the block."""
    token = _progress.set(hook)
    try:
        yield
    finally:
        _progress.reset(token)


@dataclass(frozen=True)
class WeightFile:
    """One weight file: where it is under the folder, and its digest."""

    relative_path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Fingerprint:
    """A folder's fingerprint (``sha256:<hex>``) and the files it covers."""

    value: str
    files: tuple[WeightFile, ...]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


def weight_files(
    folder: Path, subfolders: Sequence[str] | None = None, suffixes: tuple[str, ...] = WEIGHT_SUFFIXES
) -> list[Path]:
    """The weight files under ``folder`` (or only under ``subfolders`` of it), sorted.

    A weight file's name ends in one of ``suffixes``. Hidden files and folders (``.cache``,
    ``.git``) are skipped: they are tooling, not weights.
    """
    roots = [folder / name for name in subfolders] if subfolders is not None else [folder]
    found: set[Path] = set()
    for root in roots:
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in filenames:
                if not name.startswith(".") and name.lower().endswith(suffixes):
                    found.add(Path(dirpath) / name)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def fingerprint_folder(
    folder: Path,
    *,
    cache_dir: Path | None,
    subfolders: Sequence[str] | None = None,
    suffixes: tuple[str, ...] = WEIGHT_SUFFIXES,
) -> Fingerprint:
    """Fingerprint the weight files under ``folder``; see the module docstring for the formula.

    ``cache_dir`` holds the per-file digests (None: no cache); ``suffixes`` says which files
    count as weights. Raises ``FileNotFoundError`` when the folder holds no weight file, since a
    fingerprint of nothing would identify nothing.
    """
    folder = Path(folder).absolute()
    paths = weight_files(folder, subfolders, suffixes)
    if not paths:
        raise FileNotFoundError(f"no weight files ({', '.join(suffixes)}) under {folder}")
    hook = _progress.get()
    if hook is not None:
        hook(sum(path.stat().st_size for path in paths), 0)
    files = tuple(
        WeightFile(path.relative_to(folder).as_posix(), *_file_digest(path, cache_dir, hook)) for path in paths
    )
    return Fingerprint(value=combine(files), files=files)


def combine(files: Iterable[WeightFile]) -> str:
    """The folder digest over already hashed files, in relative-path order."""
    digest = hashlib.sha256()
    for item in sorted(files, key=lambda f: f.relative_path):
        digest.update(item.relative_path.encode("utf-8") + b"\0" + item.sha256.encode("ascii") + b"\n")
    return f"sha256:{digest.hexdigest()}"


def _file_digest(path: Path, cache_dir: Path | None, hook: ProgressHook | None = None) -> tuple[str, int]:
    """(sha256 hex, size) of one file, from the cache when its path, size and mtime still match."""
    stat = path.stat()  # follows symlinks: a snapshot's link is keyed by the blob it points to
    key_source = f"{path.absolute()}\0{stat.st_size}\0{stat.st_mtime_ns}"
    entry: Path | None = None
    if cache_dir is not None:
        entry = cache_dir / f"{hashlib.sha256(key_source.encode()).hexdigest()}.json"
        try:
            cached = json.loads(entry.read_text())
            if (
                cached.get("path") == str(path.absolute())
                and cached.get("size") == stat.st_size
                and cached.get("mtime_ns") == stat.st_mtime_ns
                and isinstance(cached.get("sha256"), str)
            ):
                if hook is not None:
                    hook(0, stat.st_size)
                return cached["sha256"], stat.st_size
        except (OSError, ValueError):
            pass  # no entry yet, or a torn one: hash again
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            if hook is not None:
                hook(0, len(chunk))
    value = digest.hexdigest()
    if entry is not None:
        _write_entry(
            entry,
            {
                "path": str(path.absolute()),
                "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
                "sha256": value,
            },
        )
    return value, stat.st_size


def _write_entry(entry: Path, data: dict[str, object]) -> None:
    """Write a cache entry atomically; a cache that cannot be written only costs a rehash later."""
    with contextlib.suppress(OSError):
        atomic_write(entry, json.dumps(data).encode("utf-8"))
