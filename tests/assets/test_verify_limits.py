"""The verify endpoints' bounds on work: no watermark read on a large image, a pixel allowance
per batch, and a rate of their own that counts each batch file (security review entry 2).

Bounds, not timings: the tests check what is (not) done and what is refused.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from governance.provenance import soft_binding as bindings

VERIFY = "/api/v1/provenance/verify/"
BATCH = "/api/v1/provenance/verify/batch/"


def flat_png(width: int, height: int) -> bytes:
    """A flat image: a few hundred bytes however large (the review's cheap, costly upload)."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (120, 80, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_an_image_over_the_watermark_size_is_never_read_for_one(users, client_for, monkeypatch) -> None:
    reads: list[tuple[int, int]] = []
    original = bindings.read_watermark

    def recording(image: Image.Image) -> bytes | None:
        reads.append(image.size)
        return original(image)

    monkeypatch.setattr(bindings, "read_watermark", recording)
    viewer = client_for("viewer")
    large = flat_png(1600, 1600)  # 2.56 MP, over WATERMARK_MAX_PIXELS
    assert bindings.WATERMARK_MAX_PIXELS < 1600 * 1600
    assert viewer.post(VERIFY, large, content_type="image/png").status_code == 200
    assert reads == []
    assert viewer.post(VERIFY, flat_png(1024, 1024), content_type="image/png").status_code == 200
    assert reads == [(1024, 1024)]
    # Called directly, the reader refuses too.
    assert original(Image.new("RGB", (1600, 1600))) is None


def test_a_batch_decodes_at_most_the_pixel_allowance(users, client_for, settings: Any) -> None:
    settings.HALLMARK_MAX_IMAGE_PIXELS = 2 * 300 * 300
    files = [SimpleUploadedFile(f"{i}.png", flat_png(300, 300)) for i in range(3)]
    response = client_for("viewer").post(BATCH, {"file": files}, format="multipart")
    assert response.status_code == 200, response.content
    first, second, third = response.json()["results"]
    assert "errors" not in first and "errors" not in second
    assert "file" in third["errors"] and "image" not in third


@pytest.fixture
def verify_rate(settings: Any) -> Any:
    cache.clear()
    settings.HALLMARK_VERIFY_RATE = "3/min"
    yield
    cache.clear()


def test_the_verify_rate_counts_each_batch_file(verify_rate, users, client_for) -> None:
    viewer = client_for("viewer")
    files = [SimpleUploadedFile(f"{i}.png", flat_png(64, 64)) for i in range(2)]
    assert viewer.post(BATCH, {"file": files}, format="multipart").status_code == 200  # 2 counted
    assert viewer.post(VERIFY, flat_png(64, 64), content_type="image/png").status_code == 200  # 3
    refused = viewer.post(VERIFY, flat_png(64, 64), content_type="image/png")
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    # Another user has an allowance of their own, and a batch larger than what is left is refused.
    other = client_for("nobody")
    four = [SimpleUploadedFile(f"{i}.png", flat_png(64, 64)) for i in range(4)]
    assert other.post(BATCH, {"file": four}, format="multipart").status_code == 429
    assert other.post(VERIFY, flat_png(64, 64), content_type="image/png").status_code == 200


def test_a_file_shared_by_many_assets_is_one_capped_audit_event(users, client_for) -> None:
    """Many rows may share one file (same-seed duplicates, a synthetic library): the lookup
    names at most MAX_EXACT_MATCHES and writes one event listing at most AUDITED_MATCHES."""
    from assets.models import Asset
    from assets.provenance_lookup import AUDITED_MATCHES
    from assets.verification import MAX_EXACT_MATCHES
    from governance.models import AuditEvent
    from tests.assets.test_soft_binding import store, stored_bytes, textured

    asset = store(users["creator"], textured(21))
    fields = {f.attname: getattr(asset, f.attname) for f in Asset._meta.concrete_fields if f.attname != "id"}
    Asset.objects.bulk_create([Asset(**{**fields, "index_in_job": i}) for i in range(1, 30)])
    response = client_for("viewer").post(VERIFY, stored_bytes(asset), content_type="image/png")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["made_by_this_organisation"] is True
    # 20 by the bytes, and the asset the trusted manifest names if it was not among them.
    assert MAX_EXACT_MATCHES <= len(body["asset_matches"]) <= MAX_EXACT_MATCHES + 1
    (event,) = AuditEvent.objects.filter(action="provenance.looked_up")
    assert event.data["match_count"] == len(body["asset_matches"])
    assert len(event.data["matches"]) == AUDITED_MATCHES
    assert {m["method"] for m in event.data["matches"]} <= {"sha256", "manifest"}
