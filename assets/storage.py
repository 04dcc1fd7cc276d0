"""Storage that never exposes a half-written file."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from django.core.files import File
from django.core.files.storage import FileSystemStorage


class AtomicFileSystemStorage(FileSystemStorage):
    """Writes each file to a temporary name beside its target, fsyncs it, then renames it.

    A rename within one directory is atomic, so readers see either no file or the whole file,
    even if the process is killed mid-write. Names are content addressed by the caller, so an
    existing name already holds the same bytes and is kept as it is.
    """

    def _save(self, name: str, content: File[Any]) -> str:
        full_path = self.path(name)
        directory = os.path.dirname(full_path)
        os.makedirs(directory, exist_ok=True)
        fd, tmp_path = tempfile.mkstemp(dir=directory, prefix=".incoming-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as tmp:
                content.seek(0)
                for chunk in content.chunks():
                    tmp.write(chunk)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.chmod(tmp_path, self.file_permissions_mode or 0o644)
            os.replace(tmp_path, full_path)
        except BaseException:
            if os.path.exists(tmp_path):
                os.unlink(tmp_path)
            raise
        return str(name).replace("\\", "/")

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        # Content-addressed: the same name means the same bytes, so overwrite rather than rename.
        return name
