"""Writing key files so that they are never readable by others, not even for an instant.

``Path.write_bytes`` followed by ``chmod(0o600)`` leaves a window in which the key exists with
the umask's mode (0644 under the usual 022) and anyone on the machine can read it; writing to
a predictable temporary name also follows a link planted there. Here the bytes go to a
temporary file in the same folder that ``mkstemp`` creates with mode 600 and ``O_EXCL``
(never an existing file or a link), are synced, and the file is then moved to its name in one
step, so a reader sees no file or the whole file, never half a key.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes, mode: int = 0o600, *, replace: bool = True) -> None:
    """Write ``data`` to ``path`` with ``mode`` from before the first byte, atomically.

    ``replace`` False refuses (``FileExistsError``) when ``path`` exists, also when another
    process creates it meanwhile: the file is hard-linked into place, which never overwrites.
    Missing parent folders are created with mode 700 for a private file.
    """
    path.parent.mkdir(mode=0o700 if not mode & 0o077 else 0o777, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            # mkstemp made it 600; a public file (a certificate) is opened up before it holds
            # anything, a private one never is.
            if mode != 0o600:
                os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            _link(tmp, path)
        _sync_folder(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _link(tmp: str, path: Path) -> None:
    """Hard-link ``tmp`` to ``path``: never overwrites (``FileExistsError``)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:
        # A filesystem without hard links: a rename, unless the file has appeared meanwhile.
        if path.exists():
            raise FileExistsError(path) from None
        os.replace(tmp, path)


def _sync_folder(folder: Path) -> None:
    """Make the new name durable: a crash right after must not lose a key already handed out."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):  # some filesystems cannot sync a folder
            os.fsync(fd)
    finally:
        os.close(fd)
