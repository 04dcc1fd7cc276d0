"""Finding an asset from a copy whose metadata and bytes are gone: watermark, then fingerprint.

``find`` is what the verify endpoint runs after the exact and pixel matches found nothing:
it reads a watermark payload from the pixels and looks it up, then searches the nearest
stored PDQ fingerprints within ``HALLMARK_FINGERPRINT_MAX_DISTANCE``. The fingerprint search
runs on ``BindingIndex``, an in-memory index per process (a numpy array of every live
asset's fingerprint, 32 bytes each: 32 MB at a million assets) that a lookup brings up to date
from the database before it searches. Candidates are checked against the database, so an
asset deleted since the index last saw it is never named.

``backfill`` records fingerprints for assets stored before soft binding existed
(``manage.py backfill_fingerprints``); with ``assets.services`` it is a writer of ``Asset``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings
from django.db import connections, transaction
from django.db.models import Q

from assets.models import Asset
from governance.audit_trail import record_event
from governance.provenance import soft_binding
from governance.provenance.safe_image import ImageRefused, open_image_safely

if TYPE_CHECKING:
    from collections.abc import Iterator

    from PIL import Image

    from hallmark.sdk import Plugin

logger = logging.getLogger(__name__)

def should_watermark(plugin: type[Plugin]) -> bool:
    """Whether ``plugin``'s images get the watermark: its declaration, then ``HALLMARK_WATERMARK``.

    A plugin that declines (``watermark = False``: its licence or terms forbid altering its
    outputs) never gets one; ``off`` turns it off for all; ``auto`` marks AI models and the
    plugins that ask; ``all`` marks every other plugin too.
    """
    declared = getattr(plugin, "watermark", None)
    mode = settings.HALLMARK_WATERMARK
    if declared is False or mode == "off":
        return False
    if mode == "all" or declared is True:
        return True
    return bool(plugin.is_ai_model)


def _words(binding_hex: str) -> np.ndarray:
    """A binding (256-bit fingerprint, 64-bit watermark) as big-endian 64-bit words."""
    return np.frombuffer(bytes.fromhex(binding_hex), dtype=">u8").astype(np.uint64)


# Storing transactions commit a moment after the row's created_at: each refresh looks back this
# far, so a row that committed late is still picked up (ids already held are skipped).
_LOOKBACK = timedelta(minutes=5)
# A full rebuild now and then picks up fingerprints recorded for old assets (the backfill).
_REBUILD_EVERY_S = 15 * 60
# Rows scanned at a time by ``nearest`` (32k x 8 bytes per word: within a core's L2 cache).
_SCAN_CHUNK = 1 << 15


def _rows(field: str, since: datetime | None) -> Iterator[tuple[uuid.UUID, str, datetime]]:
    """``(id, binding, created_at)`` of the live assets with a ``field`` binding, created at or
    after ``since`` (all of them when None)."""
    rows = Asset.objects.live().exclude(**{field: ""})
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    yield from rows.values_list("id", field, "created_at").iterator(chunk_size=10_000)


class BindingIndex:
    """Every live asset's binding (an ``Asset`` column of hex) in one numpy array, searched by
    Hamming distance.

    ``refresh`` loads what was stored since the last call; every 15 minutes a background thread
    rebuilds the whole index and swaps it in, while lookups go on with the old one (nothing
    waits on a rebuild). ``nearest`` scans the array with XOR and a popcount
    (docs/benchmarks.md: milliseconds per million fingerprints). Asset ids are kept as raw
    16-byte rows of a numpy array (16 bytes each, not a Python UUID object). Thread-safe: the
    storing thread and request threads share it.
    """

    def __init__(self, field: str = "fingerprint", words: int = 4) -> None:
        self._field = field
        self._width = words
        self._lock = threading.Lock()
        # Word-major (one row per 64-bit word of the binding): a scan reads each row in order.
        self._words = np.zeros((words, 0), dtype=np.uint64)
        self._ids = np.zeros((0, 16), dtype=np.uint8)
        self._size = 0
        self._high_water: datetime | None = None
        self._recent: dict[uuid.UUID, datetime] = {}
        self._built_at: float | None = None
        self._rebuilding = False

    def __len__(self) -> int:
        return self._size

    def add(self, rows: list[tuple[uuid.UUID, str]]) -> None:
        """Append ``(asset id, fingerprint hex)`` rows, growing the arrays by doubling."""
        if not rows:
            return
        needed = self._size + len(rows)
        if needed > self._words.shape[1]:
            capacity = max(needed, 2 * self._words.shape[1], 1024)
            grown = np.zeros((self._width, capacity), dtype=np.uint64)
            grown[:, : self._size] = self._words[:, : self._size]
            grown_ids = np.zeros((capacity, 16), dtype=np.uint8)
            grown_ids[: self._size] = self._ids[: self._size]
            # Swapped in whole: a reader holding the old arrays still sees consistent ones.
            self._words, self._ids = grown, grown_ids
        block = np.frombuffer(b"".join(bytes.fromhex(fp) for _, fp in rows), dtype=">u8")
        self._words[:, self._size : needed] = block.reshape(-1, self._width).T
        raw = np.frombuffer(b"".join(asset_id.bytes for asset_id, _ in rows), dtype=np.uint8)
        self._ids[self._size : needed] = raw.reshape(-1, 16)
        self._size = needed

    def _take(self, since: datetime | None) -> None:
        """Add the rows stored since ``since`` that this index does not hold yet."""
        fresh = []
        for asset_id, binding, created_at in _rows(self._field, since):
            if asset_id in self._recent:
                continue
            fresh.append((asset_id, binding))
            if self._high_water is None or created_at > self._high_water:
                self._high_water = created_at
            self._recent[asset_id] = created_at
        self.add(fresh)
        if self._high_water is not None:
            cutoff = self._high_water - _LOOKBACK
            self._recent = {k: v for k, v in self._recent.items() if v >= cutoff}

    def _since(self) -> datetime | None:
        return None if self._high_water is None else self._high_water - _LOOKBACK

    def refresh(self) -> None:
        """Load fingerprints stored since the last refresh (all of them on the first call), and
        start a background rebuild when the last one is 15 minutes old."""
        with self._lock:
            if self._built_at is None:
                self._built_at = time.monotonic()
            elif not self._rebuilding and time.monotonic() - self._built_at > _REBUILD_EVERY_S:
                self._rebuilding = True
                threading.Thread(target=self._rebuild, name=f"binding-index-{self._field}", daemon=True).start()
            self._take(self._since())

    def _rebuild(self) -> None:
        """Build a whole new index outside the lock, then swap it in and catch up."""
        try:
            fresh = BindingIndex(self._field, self._width)
            fresh._take(None)
            with self._lock:
                self._words, self._ids, self._size = fresh._words, fresh._ids, fresh._size
                self._high_water, self._recent = fresh._high_water, fresh._recent
                self._take(self._since())
        except Exception:
            logger.exception("Rebuilding the %s index failed; the old one stays in use.", self._field)
        finally:
            with self._lock:
                self._built_at, self._rebuilding = time.monotonic(), False
            connections.close_all()  # this thread's own connections

    def nearest(
        self, bindings: str | list[str], max_distance: int, limit: int = 5
    ) -> list[tuple[uuid.UUID, int]]:
        """Up to ``limit`` ``(asset id, distance)`` within ``max_distance`` bits of any of
        ``bindings`` (one hex value or several: an image's flips and turns), nearest first."""
        # A consistent snapshot: refresh only appends past ``size`` or swaps in new arrays.
        with self._lock:
            words, ids, size = self._words, self._ids, self._size
        if not size:
            return []
        queries = [_words(value) for value in ([bindings] if isinstance(bindings, str) else bindings)]
        # In chunks that stay in the CPU cache, with buffers reused, every query per chunk: the
        # array is read from memory once per lookup (docs/benchmarks.md).
        chunk = min(size, _SCAN_CHUNK)
        xored = np.empty(chunk, dtype=np.uint64)
        # uint16: 256 differing bits would wrap to 0 in a uint8 (a perfect "match").
        total, bits = np.empty(chunk, dtype=np.uint16), np.empty(chunk, dtype=np.uint8)
        best: dict[int, int] = {}
        for start in range(0, size, chunk):
            n = min(chunk, size - start)
            for query in queries:
                # The first two words (128 bits) already rule out nearly every row: two random
                # fingerprints differ there by 64 bits on average (a standard deviation of 6),
                # so only the few rows still within max_distance are finished.
                for word in range(min(2, self._width)):
                    np.bitwise_xor(words[word, start : start + n], query[word], out=xored[:n])
                    np.bitwise_count(xored[:n], out=total[:n] if word == 0 else bits[:n])
                    if word:
                        total[:n] += bits[:n]
                close = np.flatnonzero(total[:n] <= max_distance)
                if not len(close):
                    continue
                distances = total[close].astype(np.int64)
                for word in range(2, self._width):
                    distances += np.bitwise_count(words[word, start + close] ^ query[word])
                for offset, distance in zip(close.tolist(), distances.tolist(), strict=True):
                    if distance <= max_distance:
                        row = start + offset
                        best[row] = min(distance, best.get(row, distance))
        ranked = sorted(best.items(), key=lambda item: (item[1], item[0]))[:limit]
        return [(uuid.UUID(bytes=ids[row].tobytes()), distance) for row, distance in ranked]


_index = BindingIndex("fingerprint", 4)
_watermarks = BindingIndex("watermark", 1)
# The decoder flips a few of the 64 bits even on a lossless copy (1 to 5 seen); an unmarked
# image reads as noise, about 32 bits from any payload. Within 6 bits a noise payload matches
# a given asset's with probability 8.6e7 / 2^64 (a binomial tail): once in about 200,000
# lookups against a million watermarked assets.
WATERMARK_MAX_DISTANCE = 6
# The most assets one lookup names (nearest first).
_MAX_MATCHES = 5


@dataclass(frozen=True)
class SoftMatch:
    """A live asset found by a soft binding: ``method`` is ``watermark`` or ``fingerprint``;
    ``distance`` is the Hamming distance of the binding read to the one recorded."""

    asset_id: str
    method: str
    distance: int


def find(image: Image.Image) -> list[SoftMatch]:
    """The live assets ``image`` is a copy of, by watermark first, then by nearest fingerprint."""
    # Not read at all beyond WATERMARK_MAX_PIXELS: the work per upload stays bounded.
    payload = soft_binding.read_watermark(image) if soft_binding.may_read_watermark(image) else None
    if payload is not None:
        marked = _search(_watermarks, payload.hex(), WATERMARK_MAX_DISTANCE, "watermark")
        if marked:
            return marked
    # The image as it is, flipped and turned: a mirrored or rotated copy is still found.
    variants = soft_binding.fingerprint_variants(image)
    return _search(_index, variants, int(settings.HALLMARK_FINGERPRINT_MAX_DISTANCE), "fingerprint")


def _search(index: BindingIndex, bindings: str | list[str], max_distance: int, method: str) -> list[SoftMatch]:
    index.refresh()
    near = index.nearest(bindings, max_distance, limit=4 * _MAX_MATCHES)
    if not near:
        return []
    # The index may hold an asset deleted since it was loaded: the database has the last word.
    live = Asset.objects.live().filter(pk__in=[asset_id for asset_id, _ in near])
    still_live = set(live.values_list("id", flat=True))
    return [SoftMatch(str(a), method, d) for a, d in near if a in still_live][:_MAX_MATCHES]


@dataclass(frozen=True)
class BackfillCounts:
    """What one ``backfill`` run did: fingerprints recorded, files unreadable, and files whose
    bytes no longer hash to the asset's recorded sha256 (left without a fingerprint)."""

    recorded: int
    unreadable: int
    mismatched: list[str]


# The most mismatched asset ids one backfill event lists (its count says how many in all).
_AUDITED_MISMATCHES = 100


def backfill(batch_size: int = 200) -> BackfillCounts:
    """Record the fingerprint of every asset stored without one, from its stored file.

    A file is fingerprinted only if its bytes still hash to the sha256 recorded when the asset
    was made: a replaced or tampered file would bind its look-alikes to the asset. Such files,
    and those missing or that cannot be decoded (same guards as an upload), are counted and
    left without a fingerprint. The run is one audit event, ``asset.fingerprints_backfilled``,
    with its counts. Safe to run again.
    """
    recorded = unreadable = 0
    mismatched: list[str] = []
    last: uuid.UUID | None = None
    while True:
        page = Asset.objects.filter(fingerprint="").order_by("id")
        if last is not None:
            page = page.filter(Q(id__gt=last))
        assets = list(page.only("id", "file", "sha256")[:batch_size])
        if not assets:
            break
        for asset in assets:
            last = asset.id
            try:
                with asset.file.storage.open(str(asset.file.name), "rb") as handle:
                    data = handle.read()
                if hashlib.sha256(data).hexdigest() != asset.sha256:
                    mismatched.append(str(asset.pk))
                    continue
                image = open_image_safely(data)
            except (OSError, ValueError, ImageRefused):
                unreadable += 1
                continue
            fingerprint, _quality = soft_binding.fingerprint(image)
            Asset.objects.filter(pk=asset.pk, fingerprint="").update(fingerprint=fingerprint)
            recorded += 1
    with transaction.atomic():
        record_event(
            "asset.fingerprints_backfilled",
            acting_user=None,
            target=("command", "backfill_fingerprints"),
            data={
                "recorded": recorded,
                "unreadable": unreadable,
                "mismatched": len(mismatched),
                "mismatched_asset_ids": mismatched[:_AUDITED_MISMATCHES],
            },
            system_actor="backfill_fingerprints",
        )
    return BackfillCounts(recorded, unreadable, mismatched)
