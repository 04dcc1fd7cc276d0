"""Storage that never exposes a half-written file."""

from __future__ import annotations

from typing import Any

from django.core.files import File
from django.core.files.storage import FileSystemStorage

from hallmark.files import atomic_write


class AtomicFileSystemStorage(FileSystemStorage):
    """Writes each file with ``hallmark.files.atomic_write`` (temporary name, fsync, rename).

    A rename within one directory is atomic, so readers see either no file or the whole file,
    even if the process is killed mid-write. Names are content addressed by the caller, so an
    existing name already holds the same bytes and is kept as it is.
    """

    def _save(self, name: str, content: File[Any]) -> str:
        content.seek(0)
        atomic_write(self.path(name), content.chunks(), mode=self.file_permissions_mode or 0o644)
        return str(name).replace("\\", "/")

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        # Content-addressed: the same name means the same bytes, so overwrite rather than rename.
        return name
