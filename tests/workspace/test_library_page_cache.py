"""The asset list's page cache (``workspace.page_cache``): a change through each writer of a
list row is seen by the very next request; a page is never served for another query or host."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from acceptance import services as acceptance_services
from acceptance.checks import CheckContext
from assets import retention, review
from assets.models import Asset
from generation import runner
from generation import services as generation_services
from generation.derivation import DerivedFrom
from workspace import library, page_cache, services
from workspace.library import LibraryQuery
from workspace.page_cache import PageCache, RenderedPage


@pytest.fixture
def stored(users, procedural) -> Callable[..., Asset]:
    """``stored(prompt, parent=None)``: an asset made through the real job path (its audited
    writer); with ``parent``, promoted from that asset."""
    seeds = iter(range(1, 1000))

    def make(prompt: str, parent: Asset | None = None) -> Asset:
        job, _ = generation_services.submit(
            acting_user=users["creator"],
            plugin_id="procedural",
            fields={"prompt": prompt, "width": 64, "height": 64, "seed": next(seeds), "params": {"steps": 1}},
            derived_from=DerivedFrom(str(parent.pk), "rerender", None) if parent is not None else None,
        )
        runner.run(str(job.pk))
        return Asset.objects.get(job=job, index_in_job=0)

    return make


def _rows(client, url: str = "/api/v1/assets/") -> dict[str, dict[str, Any]]:
    response = client.get(url)
    assert response.status_code == 200, response.content
    return {row["id"]: row for row in response.json()["results"]}


def test_a_second_request_is_served_from_the_cache(client_for, stored) -> None:
    stored("a lighthouse")
    viewer = client_for("viewer")
    first = viewer.get("/api/v1/assets/")
    with CaptureQueriesContext(connection) as captured:
        again = viewer.get("/api/v1/assets/")
    assert again.content == first.content
    # The token with its user and roles (one statement), the library's version: no page query.
    assert len(captured.captured_queries) == 2, [q["sql"] for q in captured.captured_queries]
    assert again["Content-Type"] == "application/json"
    assert again["Cache-Control"] == "private, no-cache"
    assert again["ETag"] == first["ETag"]


def test_every_writer_of_a_row_is_seen_by_the_next_request(client_for, users, stored, make_checklist) -> None:
    viewer = client_for("viewer")
    creator, admin, reviewer = users["creator"], users["admin"], users["reviewer"]
    first = stored("a lighthouse at dusk")
    assert set(_rows(viewer)) == {str(first.pk)}

    second = stored("a harbour at dawn")  # a new asset
    assert set(_rows(viewer)) == {str(first.pk), str(second.pk)}

    review.submit_for_review(first.pk, acting_user=creator)  # review status
    assert _rows(viewer)[str(first.pk)]["status"] == "in_review"
    assert set(_rows(viewer, "/api/v1/assets/?status=in_review")) == {str(first.pk)}

    retention.set_legal_hold(second.pk, acting_user=reviewer, hold=True, reason="a claim")  # legal hold
    assert _rows(viewer)[str(second.pk)]["legal_hold"] is True

    assert _rows(viewer, "/api/v1/assets/?tag=hero") == {}
    services.add_tags([first.pk], ["hero"], acting_user=creator)  # tags
    assert _rows(viewer)[str(first.pk)]["tags"] == ["hero"]
    assert set(_rows(viewer, "/api/v1/assets/?tag=hero")) == {str(first.pk)}
    services.remove_tags([first.pk], ["hero"], acting_user=creator)
    assert _rows(viewer)[str(first.pk)]["tags"] == []
    assert _rows(viewer, "/api/v1/assets/?tag=hero") == {}

    collection = services.create_collection("picks", "", acting_user=creator)  # collections
    in_collection = f"/api/v1/assets/?collection={collection.pk}"
    assert _rows(viewer, in_collection) == {}
    services.add_to_collection(collection.pk, [second.pk], acting_user=creator)
    assert set(_rows(viewer, in_collection)) == {str(second.pk)}
    services.remove_from_collection(collection.pk, [second.pk], acting_user=creator)
    assert _rows(viewer, in_collection) == {}

    assert _rows(viewer, "/api/v1/assets/?checks=failed") == {}
    too_big = make_checklist([{"type": "min_resolution", "width": 4096, "height": 64}]).latest
    acceptance_services.run_checks(too_big, CheckContext(asset=first))  # check results
    assert set(_rows(viewer, "/api/v1/assets/?checks=failed")) == {str(first.pk)}

    creator.username = "carla"  # the creator's name, on every row (an audited rename)
    creator.save()
    assert {row["created_by"] for row in _rows(viewer).values()} == {"carla"}

    retention.set_legal_hold(second.pk, acting_user=reviewer, hold=False)
    retention.soft_delete(second.pk, acting_user=admin)  # deletion
    assert set(_rows(viewer)) == {str(first.pk)}


@pytest.fixture
def make_checklist(users) -> Callable[..., Any]:
    counter = iter(range(1000))

    def make(checks: list[dict[str, Any]]) -> Any:
        return acceptance_services.create_checklist(
            acting_user=users["creator"], name=f"list-{next(counter)}", checks=checks
        )

    return make


def test_a_page_is_not_served_for_another_query_or_host(client_for, stored) -> None:
    for n in range(3):
        stored(f"image {n}")
    viewer = client_for("viewer")
    whole = viewer.get("/api/v1/assets/").json()
    one = viewer.get("/api/v1/assets/?page_size=1").json()
    assert len(whole["results"]) == 3 and len(one["results"]) == 1
    following = viewer.get(one["next"]).json()
    assert following["results"][0]["id"] == whole["results"][1]["id"]
    assert viewer.get("/api/v1/assets/?q=nothing-matches-this").json()["results"] == []
    # Another host: the rows' links name it, not the host of the page kept first.
    other = viewer.get("/api/v1/assets/", HTTP_HOST="localhost").json()
    assert other["results"][0]["file"].startswith("http://localhost/")
    assert whole["results"][0]["file"].startswith("http://testserver/")
    # Older names of the same query share its page; bad input is still refused.
    assert viewer.get("/api/v1/assets/?search=image").json() == viewer.get("/api/v1/assets/?q=image").json()
    bad = viewer.get("/api/v1/assets/?page_size=0")
    assert bad.status_code == 400 and "page_size" in bad.json()["errors"]


def test_permissions_still_apply_to_a_cached_page(client_for, client, stored) -> None:
    stored("a lighthouse")
    assert client_for("viewer").get("/api/v1/assets/").status_code == 200
    assert client_for("nobody").get("/api/v1/assets/").status_code == 403
    assert client.get("/api/v1/assets/").status_code in (401, 403)


def test_rate_limits_and_a_deactivated_session_still_apply(client_for, users, stored, settings) -> None:
    stored("a lighthouse")
    viewer = client_for("viewer")
    settings.HALLMARK_API_THROTTLE_USER = "2/min"
    assert [viewer.get("/api/v1/assets/").status_code for _ in range(3)] == [200, 200, 429]
    settings.HALLMARK_API_THROTTLE_USER = None
    browser = Client()
    browser.force_login(users["reviewer"])
    assert browser.get("/api/v1/assets/").status_code == 200
    users["reviewer"].is_active = False
    users["reviewer"].save()
    assert browser.get("/api/v1/assets/").status_code in (401, 403)


def test_a_promotion_and_the_deletion_of_a_child_are_seen_in_the_parents_row(
    client_for, users, stored
) -> None:
    parent = stored("a lighthouse")
    viewer = client_for("viewer")
    assert _rows(viewer)[str(parent.pk)]["children"] == []
    child = stored("a lighthouse, again", parent=parent)
    rows = _rows(viewer)
    assert rows[str(parent.pk)]["children"] == [str(child.pk)]
    assert rows[str(child.pk)]["parent"] == str(parent.pk)
    retention.soft_delete(child.pk, acting_user=users["admin"])
    assert _rows(viewer)[str(parent.pk)]["children"] == []


def test_etag_answers_not_modified_until_the_library_changes(client_for, users, stored) -> None:
    asset = stored("a lighthouse")
    viewer = client_for("viewer")
    etag = viewer.get("/api/v1/assets/")["ETag"]
    unchanged = viewer.get("/api/v1/assets/", HTTP_IF_NONE_MATCH=etag)
    assert unchanged.status_code == 304 and unchanged.content == b""
    services.add_tags([asset.pk], ["hero"], acting_user=users["creator"])
    changed = viewer.get("/api/v1/assets/", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag


def test_if_none_match_compares_weakly(client_for, stored) -> None:
    # A proxy that compresses the body weakens the ETag it passes on (W/"..."); If-None-Match
    # is compared weakly (RFC 9110, 13.1.2), so the weakened tag still earns a 304.
    stored("a lighthouse")
    viewer = client_for("viewer")
    etag = viewer.get("/api/v1/assets/")["ETag"]
    weak = viewer.get("/api/v1/assets/", HTTP_IF_NONE_MATCH=f'"other", W/{etag}')
    assert weak.status_code == 304 and weak["ETag"] == etag
    assert viewer.get("/api/v1/assets/", HTTP_IF_NONE_MATCH='W/"other"').status_code == 200


def test_the_browsable_api_and_the_cache_switched_off_give_the_same_rows(
    client_for, settings, stored
) -> None:
    stored("a lighthouse")
    viewer = client_for("viewer")
    cached = viewer.get("/api/v1/assets/").json()
    html = viewer.get("/api/v1/assets/?format=api")
    assert html.status_code == 200 and html["Content-Type"].startswith("text/html")
    settings.HALLMARK_LIBRARY_PAGE_CACHE = False
    page_cache.PAGES.clear()
    with CaptureQueriesContext(connection) as captured:
        uncached = viewer.get("/api/v1/assets/")
    assert uncached.json() == cached
    assert len(page_cache.PAGES) == 0
    assert not any("auditchainhead" in q["sql"] for q in captured.captured_queries)


def test_the_cache_is_bounded_and_keeps_one_version() -> None:
    pages = PageCache(max_bytes=8 * 1300)  # 8 pages of 900 bytes with their keys and overhead
    page = RenderedPage(b"x" * 900, '"e"')
    for n in range(20):
        pages.put(bytes([n]) * 32, (5, "h"), page)
    assert 0 < len(pages) <= 8
    assert pages.get(bytes([19]) * 32, (5, "h")) is page
    assert pages.get(bytes([0]) * 32, (5, "h")) is None  # least recently used, dropped
    # A page bigger than an eighth of the budget is not kept.
    pages.put(b"k" * 32, (5, "h"), RenderedPage(b"x" * 2000, '"e"'))
    assert pages.get(b"k" * 32, (5, "h")) is None
    # A newer version (or the same seq with another hash: another history) drops every page,
    # and a page read under an older version is neither served nor kept.
    pages.put(b"a" * 32, (6, "h"), page)
    assert len(pages) == 1
    pages.put(b"b" * 32, (5, "h"), page)
    assert pages.get(b"b" * 32, (5, "h")) is None and pages.get(b"a" * 32, (6, "h")) is page
    assert pages.get(b"a" * 32, (6, "other")) is None and len(pages) == 0


def test_the_bound_counts_at_least_the_memory_of_many_small_pages() -> None:
    # Distinct queries that match nothing (a client can make any number) each keep a tiny
    # page: what the bound counts per page must not fall below what the page really holds.
    pages = PageCache(max_bytes=64 * 1024 * 1024)
    empty = {"next": None, "previous": None, "results": []}
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        for n in range(5000):
            key = page_cache.page_key(LibraryQuery(q=f"nothing {n}"), "http://testserver/api/v1/assets/")
            pages.put(key, (1, "h"), page_cache.render(empty))
        held = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert len(pages) == 5000
    assert pages._bytes >= held  # what the bound counts


def test_a_change_committed_while_a_page_is_read_is_seen_by_the_next_request(
    client_for, users, stored, monkeypatch
) -> None:
    # The version is read before the rows: a change that commits after the rows were read
    # moves the version past the one the page is kept under, so the page is not served again.
    asset = stored("a lighthouse")
    viewer = client_for("viewer")
    real_fetch = library.fetch

    def fetch_then_submit(query: LibraryQuery) -> library.LibraryPage:
        page = real_fetch(query)
        monkeypatch.setattr(library, "fetch", real_fetch)
        review.submit_for_review(asset.pk, acting_user=users["creator"])
        return page

    monkeypatch.setattr(library, "fetch", fetch_then_submit)
    assert _rows(viewer)[str(asset.pk)]["status"] == "draft"  # read before the change
    assert _rows(viewer)[str(asset.pk)]["status"] == "in_review"
