"""Finding assets: filters, prompt search, pagination, and the file download."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image

from assets.models import Asset
from generation import runner, services


def _make(users, who: str, prompt: str, plugin: str = "procedural") -> list[Asset]:
    job, _ = services.submit(
        acting_user=users[who], plugin_id=plugin, fields={"prompt": prompt, "width": 64, "height": 64}
    )
    runner.run(str(job.pk))
    return list(Asset.objects.filter(job=job))


@pytest.fixture
def library(users, procedural, enable_plugin) -> dict[str, Asset]:
    enable_plugin("dummy")
    return {
        "kite": _make(users, "creator", "a red kite over wheat fields")[0],
        "harbour": _make(users, "creator2", "a quiet harbour at night")[0],
        "tile": _make(users, "creator", "kite shaped tile", plugin="dummy")[0],
    }


def _ids(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {a["id"] for a in response.json()["results"]}


def test_filters_by_plugin_creator_and_time(client_for, library) -> None:
    client = client_for("viewer")
    assert _ids(client.get("/api/v1/assets/?plugin=dummy")) == {str(library["tile"].pk)}
    assert _ids(client.get("/api/v1/assets/?created_by=cleo")) == {str(library["harbour"].pk)}
    later = (timezone.now() + timedelta(minutes=1)).isoformat()
    earlier = (timezone.now() - timedelta(hours=1)).isoformat()
    assert _ids(client.get("/api/v1/assets/", {"created_after": later})) == set()
    assert len(_ids(client.get("/api/v1/assets/", {"created_after": earlier, "created_before": later}))) == 3
    assert client.get("/api/v1/assets/?created_after=yesterday").status_code == 400


def test_search_matches_prompt_words(client_for, library) -> None:
    client = client_for("viewer")
    assert _ids(client.get("/api/v1/assets/?search=kite")) == {
        str(library["kite"].pk),
        str(library["tile"].pk),
    }
    assert _ids(client.get("/api/v1/assets/?search=harbour night")) == {str(library["harbour"].pk)}
    assert _ids(client.get("/api/v1/assets/?search=submarine")) == set()


def test_list_is_paginated_newest_first(client_for, library) -> None:
    body = client_for("viewer").get("/api/v1/assets/?page_size=2").json()
    # Cursor pages: no count (a COUNT(*) over a million rows costs more than the page).
    assert "count" not in body and len(body["results"]) == 2 and body["next"] and body["previous"] is None
    assert body["results"][0]["id"] == str(library["tile"].pk)


def test_detail_carries_identity_licence_and_a_downloadable_file(client_for, library) -> None:
    client = client_for("viewer")
    asset = client.get(f"/api/v1/assets/{library['kite'].pk}/").json()
    assert {
        "id",
        "sha256",
        "width",
        "height",
        "mime_type",
        "prompt",
        "negative_prompt",
        "seed",
        "params",
        "plugin",
        "model",
        "license",
        "status",
        "created_by",
        "created_at",
        "file",
    } <= set(asset)
    assert asset["status"] == "draft" and asset["created_by"] == "carl" and asset["mime_type"] == "image/png"
    assert asset["model"]["name"] == "hallmark-procedural" and asset["model"]["fingerprint"].startswith(
        "sha256:"
    )
    download = client.get(asset["file"])
    assert download.status_code == 200 and download["Content-Type"] == "image/png"
    assert hashlib.sha256(b"".join(download.streaming_content)).hexdigest() == asset["sha256"]
    thumbnail = client.get(asset["thumbnail"])
    assert thumbnail.status_code == 200 and thumbnail["Content-Type"] == "image/webp"
    rendition = Image.open(io.BytesIO(b"".join(thumbnail.streaming_content)))
    assert rendition.format == "WEBP" and max(rendition.size) <= 256


def test_assets_need_a_role(client_for, library) -> None:
    from rest_framework.test import APIClient

    assert client_for("nobody").get("/api/v1/assets/").status_code == 403
    assert APIClient().get("/api/v1/assets/").status_code == 401
