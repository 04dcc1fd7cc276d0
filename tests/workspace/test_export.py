"""Zip export: original bytes, sidecars, index.csv, the licence policy, one audit event."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile

import pytest
from django.test import Client

from governance.models import AuditEvent
from hallmark.sdk import License
from tests.governance.audit_helpers import fast_passwords, make_asset  # noqa: F401
from workspace.models import Collection

NON_COMMERCIAL = License(spdx_id="CC-BY-NC-4.0", name="CC BY-NC", url="https://example.org", commercial_use=False)


@pytest.fixture
def assets(users):
    allowed = make_asset(users["creator"], prompt="=HYPERLINK(\"http://x\") fox")
    refused = make_asset(users["creator"], prompt="owl", license=NON_COMMERCIAL, seed=9)
    return allowed, refused


def _zip(response) -> zipfile.ZipFile:
    assert response.status_code == 200, response.content
    assert response.streaming and response["Content-Type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_export_holds_original_bytes_sidecars_and_an_index_with_the_refused(client_for, assets) -> None:
    allowed, refused = assets
    response = client_for("viewer").post(
        "/api/v1/exports/", {"assets": [str(allowed.pk), str(refused.pk)]}, format="json"
    )
    archive = _zip(response)
    assert sorted(archive.namelist()) == sorted([f"assets/{allowed.pk}.png", f"assets/{allowed.pk}.json", "index.csv"])
    data = archive.read(f"assets/{allowed.pk}.png")
    assert hashlib.sha256(data).hexdigest() == allowed.sha256
    with allowed.file.open("rb") as stored:
        assert data == stored.read()
    sidecar = json.loads(archive.read(f"assets/{allowed.pk}.json"))
    assert sidecar["sha256"] == allowed.sha256 and sidecar["license"]["spdx_id"] == "MIT"
    assert sidecar["review_status"] == "draft" and sidecar["model"]["name"] == "hallmark-procedural"
    rows = {r["asset"]: r for r in csv.DictReader(io.StringIO(archive.read("index.csv").decode()))}
    assert rows[str(allowed.pk)]["included"] == "yes" and rows[str(allowed.pk)]["prompt"].startswith("'=")
    assert rows[str(refused.pk)]["included"] == "no"
    assert rows[str(refused.pk)]["excluded_by"] == "commercial_use_not_allowed"
    (event,) = AuditEvent.objects.filter(action="assets.bundle_exported")
    assert event.actor == "vera" and event.data["included"] == [{"id": str(allowed.pk), "sha256": allowed.sha256}]
    assert event.data["excluded"] == [{"id": str(refused.pk), "rules": ["commercial_use_not_allowed"]}]


def test_a_less_strict_purpose_is_for_reviewers(client_for, assets) -> None:
    body = {"assets": [str(a.pk) for a in assets], "purpose": "non_commercial"}
    assert client_for("creator").post("/api/v1/exports/", body, format="json").status_code == 403
    archive = _zip(client_for("reviewer").post("/api/v1/exports/", body, format="json"))
    assert len([n for n in archive.namelist() if n.endswith(".png")]) == 2


def test_collection_export(client_for, assets) -> None:
    cid = client_for("creator").post("/api/v1/collections/", {"name": "c"}, format="json").json()["id"]
    client_for("creator").post(f"/api/v1/collections/{cid}/assets/", {"assets": [str(assets[0].pk)]}, format="json")
    # A GET (a cross-site <img> in a signed-in browser) neither exports nor writes an event.
    assert client_for("viewer").get(f"/api/v1/collections/{cid}/export/?purpose=non_commercial").status_code == 405
    assert not AuditEvent.objects.filter(action="assets.bundle_exported").exists()
    archive = _zip(client_for("viewer").post(f"/api/v1/collections/{cid}/export/", {}, format="json"))
    assert f"assets/{assets[0].pk}.png" in archive.namelist()
    assert AuditEvent.objects.get(action="assets.bundle_exported").target_id == cid
    assert client_for("creator").post(f"/api/v1/collections/{cid}/export/", {"purpose": "non_commercial"}, format="json").status_code == 403


def test_collection_page_exports_by_a_csrf_checked_form(users, assets) -> None:
    collection = Collection.objects.create(name="c", owner=users["creator"])
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(users["viewer"])
    page = browser.get(f"/collections/{collection.pk}/")
    url = f"/api/v1/collections/{collection.pk}/export/"
    assert f'<form method="post" action="{url}"' in page.content.decode()
    assert browser.post(url).status_code == 403  # no CSRF token: what a cross-site form sends
    token = page.context["csrf_token"]
    response = browser.post(url, {"csrfmiddlewaretoken": str(token)})
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert AuditEvent.objects.filter(action="assets.bundle_exported", target_id=str(collection.pk)).count() == 1


@pytest.mark.parametrize(
    "body, field",
    [({"assets": ["x"]}, "assets"), ({"assets": []}, "assets"), ({"assets": ["00000000-0000-0000-0000-000000000000"], "purpose": "resale"}, "purpose")],
)
def test_bad_export_requests_are_a_400(client_for, users, body, field) -> None:
    response = client_for("viewer").post("/api/v1/exports/", body, format="json")
    assert response.status_code == 400 and field in response.json()["errors"]
    assert not AuditEvent.objects.filter(action="assets.bundle_exported").exists()


def test_export_limit(client_for, assets, settings) -> None:
    settings.HALLMARK_EXPORT_MAX_ASSETS = 1
    response = client_for("viewer").post("/api/v1/exports/", {"assets": [str(a.pk) for a in assets]}, format="json")
    assert response.status_code == 400 and "assets" in response.json()["errors"]


def test_exports_are_rate_limited_per_user_on_the_api_and_the_page(settings, client_for, users, assets) -> None:
    """Each export holds a web worker while it streams: HALLMARK_EXPORT_RATE per user, counted
    once across /api/v1/exports/, a collection's export and the library page's bulk export."""
    settings.HALLMARK_EXPORT_RATE = "3/hour"
    body = {"assets": [str(assets[0].pk)]}
    collection = Collection.objects.create(name="c", owner=users["creator"])
    viewer = client_for("viewer")
    assert viewer.post("/api/v1/exports/", body, format="json").status_code == 200
    assert viewer.post(f"/api/v1/collections/{collection.pk}/export/", {}, format="json").status_code == 200
    page = Client()
    page.force_login(users["viewer"])
    assert page.post("/library/bulk/", {"action": "export", "assets": body["assets"]}).status_code == 200
    refused = viewer.post("/api/v1/exports/", body, format="json")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert viewer.post(f"/api/v1/collections/{collection.pk}/export/", {}, format="json").status_code == 429
    refused_page = page.post("/library/bulk/", {"action": "export", "assets": body["assets"]})
    assert refused_page.status_code == 429 and b"Too many exports" in refused_page.content
    assert AuditEvent.objects.filter(action="assets.bundle_exported").count() == 3
    # Another user has an allowance of their own; other API calls are not counted against it.
    assert client_for("reviewer").post("/api/v1/exports/", body, format="json").status_code == 200
    assert viewer.get("/api/v1/assets/").status_code == 200
