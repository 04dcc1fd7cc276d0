"""The library list (``GET /api/v1/assets/``): filters, search, ordering, cursor pages, bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

import pytest

from assets.models import Asset
from workspace import library, services, synthetic
from workspace.models import Collection


@pytest.fixture
def synthetic_library(users) -> list[Asset]:
    synthetic.build(300, seed=3, collections=5)
    return list(Asset.objects.live().order_by("-created_at", "-id"))


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def _walk(client, url: str) -> list[str]:
    seen: list[str] = []
    while url:
        body = client.get(url).json()
        assert "count" not in body  # never a COUNT(*)
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    return seen


def test_default_page_is_newest_first_and_cursor_pages_cover_every_live_asset_once(client_for, synthetic_library) -> None:
    client = client_for("viewer")
    expected = [str(a.pk) for a in synthetic_library]
    assert _ids(client.get("/api/v1/assets/?page_size=50")) == expected[:50]
    assert _walk(client, "/api/v1/assets/?page_size=70") == expected
    # Deleted assets stay out (the synthetic library deletes about one in 200).
    assert Asset.objects.filter(deleted_at__isnull=False).exclude(pk__in=expected).count() == Asset.objects.exclude(
        deleted_at=None
    ).count()


def test_previous_link_returns_to_the_page_before(client_for, synthetic_library) -> None:
    client = client_for("viewer")
    first = client.get("/api/v1/assets/?page_size=20").json()
    assert first["previous"] is None
    second = client.get(first["next"]).json()
    back = client.get(second["previous"]).json()
    assert [r["id"] for r in back["results"]] == [r["id"] for r in first["results"]]
    assert back["previous"] is None or client.get(back["previous"]).json()["results"] == []


def test_oldest_first(client_for, synthetic_library) -> None:
    expected = [str(a.pk) for a in reversed(synthetic_library)]
    assert _walk(client_for("viewer"), "/api/v1/assets/?ordering=created_at&page_size=100") == expected


def test_each_filter_keeps_only_matching_assets(client_for, synthetic_library) -> None:
    client = client_for("viewer")
    live = Asset.objects.live()
    sample = synthetic_library[7]
    cases = {
        f"plugin={sample.plugin_id}&status={sample.status}": live.filter(plugin_id=sample.plugin_id, status=sample.status),
        f"model_version={sample.model_identity['version']}": live.filter(model_identity__version=sample.model_identity["version"]),
        f"license={sample.license['spdx_id']}": live.filter(license__spdx_id=sample.license["spdx_id"]),
        "min_width=1300": live.filter(width__gte=1300),
        f"creator={sample.created_by.username}": live.filter(created_by=sample.created_by),
        "tag=hero": live.filter(tag_links__tag__name="hero"),
    }
    moment = sample.created_at
    cases[f"created_after={moment.isoformat().replace('+00:00', 'Z')}"] = live.filter(created_at__gte=moment)
    collection = Collection.objects.filter(items__isnull=False).first()
    cases[f"collection={collection.pk}"] = live.filter(collection_items__collection=collection)
    for params, expected in cases.items():
        want = {str(pk) for pk in expected.values_list("pk", flat=True)}
        got = set(_walk(client, f"/api/v1/assets/?page_size=200&{params.replace('+', '%2B')}"))
        assert got == want and want, params


def test_search_matches_words_and_relevance_needs_a_search(client_for, synthetic_library) -> None:
    client = client_for("viewer")
    want = {str(a.pk) for a in synthetic_library if "lighthouse" in a.prompt}
    assert want
    assert set(_walk(client, "/api/v1/assets/?q=lighthouse&page_size=200")) == want
    assert set(_walk(client, "/api/v1/assets/?q=lighthouse&ordering=relevance&page_size=7")) == want
    response = client.get("/api/v1/assets/?ordering=relevance")
    assert response.status_code == 400 and "ordering" in response.json()["errors"]


@pytest.mark.parametrize(
    "params, field",
    [
        ("status=finished", "status"),
        ("min_width=-1", "min_width"),
        ("min_width=wide", "min_width"),
        ("page_size=0", "page_size"),
        ("page_size=201", "page_size"),
        ("collection=not-a-uuid", "collection"),
        ("ordering=prompt", "ordering"),
        ("cursor=bm90LWpzb24", "cursor"),
        ("cursor=%00", "cursor"),
        ("q=a%00b", "q"),
        # Forged cursors whose moment or id is not a string (a number, a list).
        ("cursor=eyJ0IjoiMjAyNi0wMS0wMVQwMDowMDowMCswMDowMCIsImkiOjEsImQiOiJuIn0", "cursor"),
        ("cursor=eyJ0IjpbIngiXSwiaSI6IjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMCIsImQiOiJuIn0", "cursor"),
        # "²".isdigit() is True but int() refuses it; a run of digits too long to convert.
        ("page_size=%C2%B2", "page_size"),
        ("min_width=%C2%B2", "min_width"),
        ("min_width=" + "9" * 5000, "min_width"),
        ("created_after=yesterday", "created_after"),
        ("tag=" + "x" * 65, "tag"),
        # A cursor whose moment cannot be shifted to UTC (year 1 at +23:59).
        ("cursor=eyJ0IjoiMDAwMS0wMS0wMVQwMDowMDowMCsyMzo1OSIsImkiOiIwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDAiLCJkIjoibiJ9", "cursor"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client_for, users, params, field) -> None:
    response = client_for("viewer").get(f"/api/v1/assets/?{params}")
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_a_relevance_cursor_is_not_a_date_cursor(client_for, synthetic_library) -> None:
    client = client_for("viewer")
    ranked = client.get("/api/v1/assets/?q=lighthouse&ordering=relevance&page_size=2").json()
    cursor = parse_qs(urlparse(ranked["next"]).query)["cursor"][0]
    assert client.get(f"/api/v1/assets/?cursor={cursor}").status_code == 400


def test_tags_show_in_results(client_for, synthetic_library, users) -> None:
    asset = synthetic_library[0]
    services.add_tags([asset.pk], ["zz-first"], acting_user=users["creator"])
    row = client_for("viewer").get("/api/v1/assets/?page_size=1").json()["results"][0]
    assert row["id"] == str(asset.pk) and "zz-first" in row["tags"]


def test_query_round_trips_through_its_url_parameters(users) -> None:
    query = library.parse(
        {"q": "fox", "tag": "Hero", "min_width": "512", "created_before": "2026-01-01T00:00:00+02:00", "ordering": "relevance"}
    )
    assert query.tag == "hero" and query.created_before == datetime(2025, 12, 31, 22, tzinfo=UTC)
    assert library.parse(query.params()) == query


@pytest.mark.parametrize("small_set", [0, 2000])
def test_both_query_shapes_give_the_same_pages(client_for, synthetic_library, monkeypatch, small_set) -> None:
    """SMALL_SET 0 forces the shapes for common words (the covering-index walk, the ranked
    window) that a 300-asset library would otherwise never take on PostgreSQL."""
    monkeypatch.setattr(library, "SMALL_SET", small_set)
    client = client_for("viewer")
    want = {str(a.pk) for a in synthetic_library if "lighthouse" in a.prompt}
    newest = [str(a.pk) for a in synthetic_library if "lighthouse" in a.prompt]
    assert _walk(client, "/api/v1/assets/?q=lighthouse&page_size=3") == newest
    assert set(_walk(client, "/api/v1/assets/?q=lighthouse&ordering=relevance&page_size=3")) == want
    tagged = [str(a.pk) for a in synthetic_library if a.tag_links.filter(tag__name="hero").exists()]
    assert _walk(client, "/api/v1/assets/?tag=hero&page_size=40") == tagged
