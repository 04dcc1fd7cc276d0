"""The asset list's rendered pages, kept per process while no audited change has committed.

A page of ``GET /api/v1/assets/`` is the same for every caller who may read it (the library
has no per-user filter: ``creator`` is a parameter, not the caller), so its JSON bytes are
kept in a bounded LRU of this process, under a key made of the validated query
(``LibraryQuery.params``, which normalises aliases, case and defaults) and the absolute base
URL (the rows' links are absolute), and served again while the library's version is unchanged.

The version is the audit chain's head, its seq and hash (``governance.audit_trail.chain_head``). Every input of
a list row or filter is written with an audit event in the same transaction: new assets
(``asset.created``), review status, legal hold, soft deletion and purge, tags, collection
membership, acceptance check results, and a user's rename (``user.changed``, written by
``governance.identity_audit``: in the rename's transaction when one is open, else just after
it commits). ``manage.py make_synthetic_library`` records its event in its last chunk's
transaction. docs/workspace.md lists each input and its writer. What bypasses the audit
trail (SQL by hand, a data migration) is not seen until the next audited change or a restart
of the web processes.

The version is read before the rows. Under READ COMMITTED the rows a request reads are then
at least as new as the version it caches them under, so a page is never kept under a version
newer than its rows; the next audited commit moves the version and every page kept before it
is dropped. Authentication, permissions and throttles run for every request as before; only
the JSON of the page is reused.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpResponse, HttpResponseNotModified
from django.utils.http import parse_etags
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

from governance import audit_trail
from workspace.library import LibraryQuery

#: A page bigger than this share of the budget is served but not kept (a few big pages
#: would otherwise push every other page out).
_LARGEST_SHARE = 8
#: Bytes counted per kept page besides its key and body (the objects around them, the ETag,
#: the map's entry): about 300 measured with tracemalloc on CPython 3.11, rounded up, so that
#: many small pages (empty results) cannot hold more memory than the bound says.
_ENTRY_OVERHEAD = 320
#: The library's version: the audit chain head's seq and hash.
Version = tuple[int, str]


@dataclass(frozen=True, slots=True)
class RenderedPage:
    """A page's JSON bytes and their ETag (a strong validator of those bytes)."""

    body: bytes
    etag: str


class PageCache:
    """A least-recently-used map from page keys to rendered pages, bounded in bytes, for one
    library version at a time: a newer version (a higher seq, or the same seq with another
    hash) empties it; a page of an older one is neither served nor kept."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._pages: OrderedDict[bytes, RenderedPage] = OrderedDict()
        self._bytes = 0
        self._version: Version = (-1, "")
        # gunicorn's threads share the process's cache.
        self._lock = threading.Lock()

    def get(self, key: bytes, version: Version) -> RenderedPage | None:
        """The page kept under ``key`` for ``version``, or None."""
        with self._lock:
            self._move_to(version)
            if version != self._version:
                return None
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
            return page

    def put(self, key: bytes, version: Version, page: RenderedPage) -> None:
        """Keep ``page`` under ``key`` for ``version`` (never for a version older than one seen)."""
        size = _size(key, page)
        if size * _LARGEST_SHARE > self.max_bytes:
            return
        with self._lock:
            self._move_to(version)
            if version != self._version:
                return
            old = self._pages.pop(key, None)
            if old is not None:
                self._bytes -= _size(key, old)
            self._pages[key] = page
            self._bytes += size
            while self._bytes > self.max_bytes:
                dropped_key, dropped = self._pages.popitem(last=False)
                self._bytes -= _size(dropped_key, dropped)

    def clear(self) -> None:
        """Forget every page."""
        with self._lock:
            self._pages.clear()
            self._bytes = 0
            self._version = (-1, "")

    def __len__(self) -> int:
        return len(self._pages)

    def _move_to(self, version: Version) -> None:
        seq, digest = version
        if seq > self._version[0] or (seq == self._version[0] and digest != self._version[1]):
            self._pages.clear()
            self._bytes = 0
            self._version = version


def _size(key: bytes, page: RenderedPage) -> int:
    return len(key) + len(page.body) + _ENTRY_OVERHEAD


PAGES = PageCache(max_bytes=settings.HALLMARK_LIBRARY_PAGE_CACHE_MB * 1024 * 1024)


def page_key(query: LibraryQuery, base_url: str) -> bytes:
    """The key of a page: a digest of the normalised query (cursor and page size included) and
    the absolute base URL, so the key's size does not depend on the request's."""
    material = json.dumps(
        [base_url, sorted(query.params(cursor=query.cursor).items())], separators=(",", ":")
    )
    return hashlib.sha256(material.encode()).digest()


def render(data: Any) -> RenderedPage:
    """The page's JSON, as DRF's JSON renderer writes it, and its ETag."""
    body = JSONRenderer().render(data)
    return RenderedPage(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def serves_json(request: Request) -> bool:
    """Whether the request negotiated plain JSON (the browsable API and JSON with parameters,
    ``; indent=4``, go through DRF's renderers)."""
    renderer = getattr(request, "accepted_renderer", None)
    return type(renderer) is JSONRenderer and request.accepted_media_type == JSONRenderer.media_type


def page_response(
    request: Request, query: LibraryQuery, base_url: str, build: Callable[[], dict[str, Any]]
) -> HttpResponse:
    """The page ``build`` makes, as JSON: kept and reused while the library's version holds
    (``HALLMARK_LIBRARY_PAGE_CACHE``), answered 304 to a matching ``If-None-Match``."""
    if settings.HALLMARK_LIBRARY_PAGE_CACHE:
        version = audit_trail.chain_head()  # before the rows: see the module's docstring
        key = page_key(query, base_url)
        page = PAGES.get(key, version)
        if page is None:
            page = render(build())
            PAGES.put(key, version, page)
    else:
        page = render(build())
    response: HttpResponse
    # Compared weakly, as If-None-Match must be (RFC 9110, 13.1.2): a proxy that compresses
    # the body hands the client a weakened W/"..." of the same tag.
    asked = {tag.removeprefix("W/") for tag in parse_etags(request.headers.get("If-None-Match", ""))}
    if page.etag in asked or "*" in asked:
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(page.body, content_type=JSONRenderer.media_type)
    response["ETag"] = page.etag
    # Per caller (it needs their credentials) and changing: a cache may keep it but must ask.
    response["Cache-Control"] = "private, no-cache"
    return response
