"""Writing a file so that nobody ever sees half of it: Hallmark's one ``atomic_write``.

Every file Hallmark writes whole (stored assets, broker messages, keys, checkpoints, caches)
goes through here. The bytes go to a temporary file in the target's own folder (``mkstemp``:
mode 600, ``O_EXCL``, so never an existing file or a planted link), are synced to disk, and the
file then takes its name in one step (a rename, or a hard link when an existing file must be
kept); the folder is synced so that the new name survives a crash. A reader sees no file or
the whole file; a crash leaves no half-written file under the real name, and the temporary
file is removed on any error.

This module imports nothing from Django or the apps: settings use it before Django is set up.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

# Temporary names start with a dot: folder listings that match real names (the broker's
# "<...>.<queue>.msg", content-addressed media) never pick one up.
_TEMP_PREFIX = ".incoming-"


def atomic_write(
    path: str | os.PathLike[str],
    data: bytes | Iterable[bytes],
    *,
    mode: int = 0o644,
    replace: bool = True,
) -> None:
    """Write ``data`` (bytes, or an iterable of chunks) to ``path`` atomically and durably.

    ``mode`` applies from before the first byte is written, so a private file (0o600) is never
    readable by others, not even for an instant. With ``replace`` False an existing file is
    kept and ``FileExistsError`` raised, also when another process creates it meanwhile (the
    file is hard-linked into place, which never overwrites). Missing parent folders are made
    (mode 700 for a private file).
    """
    target = Path(path)
    target.parent.mkdir(mode=0o700 if not mode & 0o077 else 0o777, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=_TEMP_PREFIX, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            if mode != 0o600:  # mkstemp made it 600; a public file is opened up while still empty
                os.fchmod(handle.fileno(), mode)
            for chunk in (data,) if isinstance(data, bytes | bytearray | memoryview) else data:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, target)
        else:
            _link_without_overwriting(tmp, target)
        sync_folder(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _link_without_overwriting(tmp: str, target: Path) -> None:
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise
    except OSError:
        # A filesystem without hard links: a rename, unless the file has appeared meanwhile.
        if target.exists():
            raise FileExistsError(target) from None
        os.replace(tmp, target)


def sync_folder(folder: str | os.PathLike[str]) -> None:
    """Make a new or removed name in ``folder`` durable (some filesystems cannot: then skip)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
