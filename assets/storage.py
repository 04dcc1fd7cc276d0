"""Storage that never exposes a half-written file: on the local filesystem (the embedded
default) or on an S3-compatible object store (``HALLMARK_STORAGE=s3``).

Names are content addressed by the caller (``assets.services``), so an existing name already
holds the same bytes and is kept. Which files a job wrote before its assets were committed is
recorded on the job (``pending_files``), so an attempt that died leaves nothing behind on
either backend: the next claim deletes them through the same storage API.
"""

from __future__ import annotations

import base64
import hashlib
from typing import IO, Any

from botocore.exceptions import ClientError
from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

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


def integrity_headers(data: bytes) -> dict[str, str]:
    """What the store checks the body against before it keeps the object: ``Content-MD5``
    (S3's original check, which compatible stores implement) and the SHA-256 (AWS S3 and MinIO
    check it and keep it with the object: ``HeadObject`` with ``ChecksumMode=ENABLED`` returns
    it)."""
    return {
        "ContentMD5": base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii"),
        "ChecksumAlgorithm": "SHA256",
        "ChecksumSHA256": base64.b64encode(hashlib.sha256(data).digest()).decode("ascii"),
    }


class AtomicS3Storage(S3Storage):  # type: ignore[misc]  # django-storages ships no types
    """django-storages' S3 backend, writing each object in one checked ``PutObject``.

    An object appears under its key only when the whole body has arrived (S3 has no partial
    objects), so a worker killed mid-upload leaves nothing under the final key; the body's MD5
    and SHA-256 sent with it make the store refuse a body damaged on the way. One request per
    file, never a multipart upload (which a crash could leave half done and billed): asset
    files are megabytes, far below S3's 5 GB limit for a single ``PutObject``.
    """

    def _save(self, name: str, content: File[Any]) -> str:
        cleaned = clean_name(name)
        key = self._normalize_name(cleaned)
        content.seek(0)
        data = content.read()
        if isinstance(data, str):
            data = data.encode("utf-8")
        params = self._get_write_parameters(key, content)
        self.bucket.Object(key).put(Body=data, **integrity_headers(data), **params)
        return str(cleaned)

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        # Content-addressed, as above: the same name means the same bytes.
        return str(clean_name(name))

    def open_stream(self, name: str) -> IO[bytes]:
        """The object's body as a stream read from the store while it is sent on (the web
        process holds one chunk at a time, not the whole file)."""
        key = self._normalize_name(clean_name(name))
        try:
            body: IO[bytes] = self.bucket.Object(key).get()["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise FileNotFoundError(f"File does not exist: {name}") from None
            raise
        return body

    def presigned_url(self, name: str, *, content_type: str, filename: str, expires: int) -> str:
        """A URL that lets whoever holds it GET this one object for ``expires`` seconds, with
        the type and file name the API would have sent. Always signed by the store's client
        (never an unsigned custom-domain URL)."""
        key = self._normalize_name(clean_name(name))
        url: str = self.connection.meta.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket_name,
                "Key": key,
                "ResponseContentType": content_type,
                "ResponseContentDisposition": f'inline; filename="{filename}"',
            },
            ExpiresIn=expires,
        )
        return url


def open_for_download(storage: Storage, name: str) -> IO[bytes]:
    """A readable stream of a stored file for a response body, whichever the backend."""
    if isinstance(storage, AtomicS3Storage):
        return storage.open_stream(name)
    handle: IO[bytes] = storage.open(name, "rb")
    return handle


def download_redirect(storage: Storage, name: str, *, content_type: str, filename: str) -> str | None:
    """Where to send a client for this file instead of streaming it through the web process:
    a presigned URL when ``HALLMARK_DOWNLOAD_REDIRECT`` is on and the files are in an object
    store; None otherwise (the caller streams it)."""
    if not (settings.HALLMARK_DOWNLOAD_REDIRECT and isinstance(storage, AtomicS3Storage)):
        return None
    return storage.presigned_url(
        name, content_type=content_type, filename=filename, expires=settings.HALLMARK_DOWNLOAD_URL_EXPIRES
    )
