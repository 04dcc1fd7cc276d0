"""Soft binding: a copy whose metadata and bytes are gone is still traced to its asset.

Assets are stored through the real path (``assets.services.prepare``, ``write_files``,
``create_assets_of_jobs``) from textured images (PDQ needs structure: a flat colour has no
reliable hash); copies are made the way the world makes them (re-encoded as JPEG without
metadata, edited) and looked up through the API.
"""

from __future__ import annotations

import base64
import io
import json
import uuid
from collections.abc import Iterator
from typing import Any

import c2pa
import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import transaction
from PIL import Image, ImageDraw

from assets import retention, soft_binding
from assets import services as asset_services
from assets.models import Asset
from generation.models import GenerationJob, JobStatus
from governance.models import AuditEvent
from governance.provenance import soft_binding as bindings
from plugins.builtin.procedural import ProceduralPlugin
from plugins.sdk import GeneratedImage, Plugin

VERIFY = "/api/v1/provenance/verify/"
BATCH = "/api/v1/provenance/verify/batch/"


@pytest.fixture(autouse=True)
def fresh_index(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test searches an index of its own database only."""
    monkeypatch.setattr(soft_binding, "_index", soft_binding.BindingIndex("fingerprint", 4))
    monkeypatch.setattr(soft_binding, "_watermarks", soft_binding.BindingIndex("watermark", 1))
    yield


def textured(seed: int, size: int = 320) -> Image.Image:
    """A photo-like image: a smooth random field plus grain, different for every seed."""
    import numpy as np

    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8), "RGB")
    smooth = np.asarray(coarse.resize((size, size), Image.Resampling.BICUBIC), dtype=np.float64)
    grain = rng.normal(0, 10, (size, size, 3))
    return Image.fromarray(np.clip(smooth + grain, 0, 255).astype(np.uint8), "RGB")


def store(user: Any, image: Image.Image, *, watermark: bool = False) -> Asset:
    """One asset stored through assets.services, as a worker stores a job's image."""
    plugin = ProceduralPlugin()
    job = GenerationJob.objects.create(
        plugin_id=plugin.id,
        plugin_version=plugin.version,
        status=JobStatus.SUCCEEDED,
        prompt="a field of poppies",
        width=image.width,
        height=image.height,
        seed=1,
        requested_by=user,
        queue="gen.procedural",
    )
    identity, license = plugin.identity().as_dict(), plugin.license.as_dict()
    prepared = asset_services.prepare(
        job,
        [GeneratedImage(image=image, seed=1, parameters={})],
        identity=identity,
        license=license,
        is_ai_model=False,
        watermark=watermark,
    )
    asset_services.write_files(prepared)
    with transaction.atomic():
        (asset,) = asset_services.create_assets_of_jobs(
            [asset_services.JobAssets(job, prepared, identity, license)]
        )
    return asset


def stored_bytes(asset: Asset) -> bytes:
    with default_storage.open(asset.file.name, "rb") as handle:
        return handle.read()


def jpeg_copy(data: bytes, quality: int = 75) -> bytes:
    """What a social network serves: decoded, re-encoded as JPEG, no metadata at all."""
    buffer = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def post(client: Any, data: bytes, name: str = "copy.jpg") -> Any:
    return client.post(VERIFY, data, content_type="image/jpeg" if name.endswith("jpg") else "image/png")


def test_fingerprint_is_recorded_and_declared_in_the_manifest(users) -> None:
    asset = store(users["creator"], textured(1))
    data = stored_bytes(asset)
    expected, quality = bindings.fingerprint(Image.open(io.BytesIO(data)))
    assert asset.fingerprint == expected and len(expected) == 64 and quality >= 50
    assert asset.watermark == ""
    # c2pa-python's own Reader sees the soft-binding assertion and the algorithm it names.
    manifests = json.loads(c2pa.Reader("image/png", io.BytesIO(data)).json())
    active = manifests["manifests"][manifests["active_manifest"]]
    found = [a["data"] for a in active["assertions"] if a["label"].startswith("c2pa.soft-binding")]
    assert [f["alg"] for f in found] == [bindings.FINGERPRINT_ALGORITHM]
    assert base64.b64decode(found[0]["blocks"][0]["value"]).hex() == asset.fingerprint


def test_a_stripped_jpeg_copy_is_found_through_the_api(users, client_for) -> None:
    asset = store(users["creator"], textured(2))
    copy = jpeg_copy(stored_bytes(asset))
    response = post(client_for("viewer"), copy)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["validation_state"] is None  # nothing of the manifest is left
    # A soft match finds the record but proves nothing: it is a likely copy, not "made by us".
    assert body["made_by_this_organisation"] is False and body["made_by_hallmark"] is False
    assert body["asset_matches"] == [] and body["likely_copy_of_this_organisation"] is True
    (match,) = body["likely_copy_of"]
    assert match["asset_id"] == str(asset.pk)
    assert match["method"] == "fingerprint" and 0 <= match["distance"] <= 31
    event = AuditEvent.objects.get(action="provenance.looked_up")
    assert event.target_id == str(asset.pk) and event.actor_id == users["viewer"].pk
    assert event.data["asset_shown"] is True and event.data["made_by_this_organisation"] is False
    assert event.data["matches"] == [match] and event.data["match_count"] == 1


def test_a_mirrored_copy_is_found_by_the_fingerprint_of_the_original(users, client_for) -> None:
    asset = store(users["creator"], textured(10))
    mirrored = Image.open(io.BytesIO(stored_bytes(asset))).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    buffer = io.BytesIO()
    mirrored.convert("RGB").save(buffer, format="JPEG", quality=85)
    (match,) = post(client_for("viewer"), buffer.getvalue()).json()["likely_copy_of"]
    assert match["asset_id"] == str(asset.pk) and match["method"] == "fingerprint"


def test_an_unrelated_image_is_not_found(users, client_for) -> None:
    store(users["creator"], textured(3))
    second = store(users["creator"], textured(4))
    unrelated = jpeg_copy(stored_bytes(second))
    # The second asset deleted: its copy must now match nothing (and not the first asset).
    retention.soft_delete(second.pk, acting_user=users["admin"])
    response = post(client_for("viewer"), unrelated)
    body = response.json()
    assert response.status_code == 200
    assert body["asset_matches"] == [] and body["made_by_this_organisation"] is False
    assert body["likely_copy_of"] == [] and body["likely_copy_of_this_organisation"] is False
    assert not AuditEvent.objects.filter(action="provenance.looked_up").exists()


def test_a_user_who_may_not_see_assets_learns_only_that_it_is_likely_ours(users, client_for) -> None:
    asset = store(users["creator"], textured(5))
    response = post(client_for("nobody"), jpeg_copy(stored_bytes(asset)))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["made_by_this_organisation"] is False and body["likely_copy_of_this_organisation"] is True
    (match,) = body["likely_copy_of"]
    assert match["asset_id"] is None and match["method"] == "fingerprint"
    assert str(asset.pk) not in response.content.decode()
    event = AuditEvent.objects.get(action="provenance.looked_up")
    assert event.target_id == str(asset.pk) and event.data["asset_shown"] is False
    # The exact file: made by this organisation, still without the asset.
    exact = client_for("nobody").post(VERIFY, stored_bytes(asset), content_type="image/png").json()
    assert exact["made_by_this_organisation"] is True and exact["likely_copy_of"] == []
    assert [m["asset_id"] for m in exact["asset_matches"]] == [None]


def test_a_watermarked_asset_is_found_by_its_watermark_after_an_edit(users, client_for) -> None:
    asset = store(users["creator"], textured(6, size=512), watermark=True)
    assert asset.watermark == asset.pk.bytes[:8].hex()
    data = stored_bytes(asset)
    image = Image.open(io.BytesIO(data)).convert("RGB")
    read = int.from_bytes(bindings.read_watermark(image) or b"", "big")
    assert (read ^ int.from_bytes(asset.pk.bytes[:8], "big")).bit_count() <= soft_binding.WATERMARK_MAX_DISTANCE
    # A small edit: the pixels (and so pixel_sha256) change, the watermark stays readable.
    ImageDraw.Draw(image).rectangle((10, 10, 40, 40), fill=(255, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    response = post(client_for("viewer"), buffer.getvalue(), name="copy.png")
    assert response.json()["made_by_hallmark"] is False  # a payload can be copied: no proof
    (match,) = response.json()["likely_copy_of"]
    assert match["asset_id"] == str(asset.pk) and match["method"] == "watermark"
    assert match["distance"] <= soft_binding.WATERMARK_MAX_DISTANCE
    # And the manifest declares the watermark beside the fingerprint.
    report = c2pa.Reader("image/png", io.BytesIO(data)).json()
    assert bindings.WATERMARK_ALGORITHM in report and bindings.FINGERPRINT_ALGORITHM in report


def test_batch_answers_each_file(users, client_for) -> None:
    asset = store(users["creator"], textured(7))
    files = [
        ("copy.jpg", jpeg_copy(stored_bytes(asset))),
        ("other.jpg", jpeg_copy(stored_bytes(store(users["creator"], textured(8))))),
        ("notes.txt", b"not an image"),
    ]
    from django.core.files.uploadedfile import SimpleUploadedFile

    uploads = [SimpleUploadedFile(name, data) for name, data in files]
    response = client_for("viewer").post(BATCH, {"file": uploads}, format="multipart")
    assert response.status_code == 200, response.content
    first, second, third = response.json()["results"]
    assert first["name"] == "copy.jpg" and first["likely_copy_of"][0]["asset_id"] == str(asset.pk)
    assert second["likely_copy_of"][0]["asset_id"] != str(asset.pk)
    assert "file" in third["errors"] and "asset_matches" not in third
    too_many = [SimpleUploadedFile(f"{i}.jpg", b"x") for i in range(21)]
    refused = client_for("viewer").post(BATCH, {"file": too_many}, format="multipart")
    assert refused.status_code == 400 and "file" in refused.json()["errors"]
    assert client_for("viewer").post(BATCH, {}, format="multipart").status_code == 400


def test_backfill_records_missing_fingerprints_from_untampered_files_only(users) -> None:
    asset = store(users["creator"], textured(9))
    tampered = store(users["creator"], textured(14))
    recorded = asset.fingerprint
    Asset.objects.filter(pk__in=[asset.pk, tampered.pk]).update(fingerprint="")
    # The second asset's stored file replaced by another image: its look-alikes must not be
    # bound to the asset, so it is skipped and reported.
    other = io.BytesIO()
    textured(15).save(other, format="PNG")
    with open(default_storage.path(tampered.file.name), "wb") as handle:
        handle.write(other.getvalue())
    out = io.StringIO()
    call_command("backfill_fingerprints", stdout=out)
    asset.refresh_from_db()
    tampered.refresh_from_db()
    assert asset.fingerprint == recorded and tampered.fingerprint == ""
    assert "1 fingerprints recorded, 0 files unreadable, 1 files not matching" in out.getvalue()
    assert f"{tampered.pk}: the stored file's sha256 differs" in out.getvalue()
    (event,) = AuditEvent.objects.filter(action="asset.fingerprints_backfilled")
    assert event.data == {
        "recorded": 1,
        "unreadable": 0,
        "mismatched": 1,
        "mismatched_asset_ids": [str(tampered.pk)],
    }


class _Declines(Plugin):
    is_ai_model = True
    watermark = False


class _Asks(Plugin):
    is_ai_model = False
    watermark = True


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("auto", {"ai": True, "procedural": False, "declines": False, "asks": True}),
        ("all", {"ai": True, "procedural": True, "declines": False, "asks": True}),
        ("off", {"ai": False, "procedural": False, "declines": False, "asks": False}),
    ],
)
def test_who_gets_a_watermark(settings: Any, mode: str, expected: dict[str, bool]) -> None:
    from plugins.builtin.sd35 import SD35MediumPlugin

    settings.HALLMARK_WATERMARK = mode
    plugins: dict[str, type[Plugin]] = {
        "ai": SD35MediumPlugin,
        "procedural": ProceduralPlugin,
        "declines": _Declines,
        "asks": _Asks,
    }
    assert {name: soft_binding.should_watermark(cls) for name, cls in plugins.items()} == expected


def test_the_index_is_brought_up_to_date_and_finds_the_nearest() -> None:
    index = soft_binding.BindingIndex()
    base = "0f" * 32
    near = format(int(base, 16) ^ 0b111, "064x")  # 3 bits apart
    far = format(int(base, 16) ^ ((1 << 40) - 1), "064x")  # 40 bits apart
    ids = [uuid.uuid4() for _ in range(3)]
    index.add([(ids[0], far), (ids[1], near)])
    index.add([(ids[2], base)] + [(uuid.uuid4(), "a5" * 32) for _ in range(2000)])  # grows
    assert len(index) == 2003
    assert index.nearest(base, 31) == [(ids[2], 0), (ids[1], 3)]
    assert index.nearest(base, 40, limit=5)[-1] == (ids[0], 40)
    # Every bit different is 256 bits away, not a match (no overflow), and sorts last.
    opposite = format(int(base, 16) ^ ((1 << 256) - 1), "064x")
    assert index.nearest(opposite, 31) == []
    assert index.nearest(opposite, 256, limit=3000)[-1][1] == 256


def test_large_images_are_hashed_reduced_and_not_read_for_a_watermark(monkeypatch) -> None:
    image = textured(11, size=512)
    big = image.resize((2048, 2048), Image.Resampling.BICUBIC)
    small_hash, _ = bindings.fingerprint(image)
    big_hash, _ = bindings.fingerprint(big)
    assert (int(small_hash, 16) ^ int(big_hash, 16)).bit_count() <= 16
    assert bindings.read_watermark(big) is None  # over WATERMARK_MAX_PIXELS: never decoded
    monkeypatch.setattr(bindings, "WATERMARK_MAX_PIXELS", 2048 * 2048)
    assert bindings.read_watermark(big) is not None


def test_the_index_picks_up_assets_stored_after_it_was_loaded(users, client_for) -> None:
    first = store(users["creator"], textured(12))
    viewer = client_for("viewer")
    assert post(viewer, jpeg_copy(stored_bytes(first))).json()["likely_copy_of"][0]["asset_id"] == str(first.pk)
    loaded = len(soft_binding._index)
    second = store(users["creator"], textured(13))
    (match,) = post(viewer, jpeg_copy(stored_bytes(second))).json()["likely_copy_of"]
    assert match["asset_id"] == str(second.pk)
    assert len(soft_binding._index) == loaded + 1  # added once, not reloaded or duplicated


def test_a_due_rebuild_runs_in_the_background_while_lookups_use_the_old_index(monkeypatch) -> None:
    import threading
    import time

    from django.utils import timezone

    index = soft_binding.BindingIndex()
    old, new = uuid.uuid4(), uuid.uuid4()
    started, release = threading.Event(), threading.Event()
    full_loads: list[bool] = []

    def rows(field: str, since: Any) -> Iterator[tuple[uuid.UUID, str, Any]]:
        if since is not None:
            return
        full_loads.append(True)
        if len(full_loads) == 1:
            yield old, "0f" * 32, timezone.now()
            return
        started.set()  # the rebuild: slow, as a million rows would be
        assert release.wait(10)
        yield new, "f0" * 32, timezone.now()

    monkeypatch.setattr(soft_binding, "_rows", rows)
    index.refresh()
    assert index.nearest("0f" * 32, 0) == [(old, 0)]
    index._built_at = time.monotonic() - 16 * 60  # the last build is 16 minutes old
    index.refresh()  # returns at once: the rebuild runs in its own thread
    assert started.wait(5) and not release.is_set()
    assert index.nearest("0f" * 32, 0) == [(old, 0)]  # lookups go on with the old index
    release.set()
    deadline = time.monotonic() + 5
    while index.nearest("f0" * 32, 0) != [(new, 0)] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert index.nearest("f0" * 32, 0) == [(new, 0)] and index.nearest("0f" * 32, 0) == []
    assert len(full_loads) == 2
