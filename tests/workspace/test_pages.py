"""The library and collection pages, bulk actions, thumbnails' cache headers, the synthetic command."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from assets.models import Asset
from governance.models import AuditEvent
from tests.governance.audit_helpers import fast_passwords, make_asset  # noqa: F401
from workspace import synthetic
from workspace.models import AssetTag, Collection


def _page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_library_page_filters_pages_by_cursor_and_keeps_the_query_in_links(users) -> None:
    synthetic.build(120, seed=5, collections=2)
    client = _page_client(users["viewer"])
    first = client.get("/?plugin=ideogram-v2&page_size=10")
    assert first.status_code == 200
    shown = first.context["assets"]
    assert len(shown) == 10 and {a.plugin_id for a in shown} == {"ideogram-v2"}
    next_link = first.context["next_link"]
    assert "plugin=ideogram-v2" in next_link and "cursor=" in next_link and "page_size=10" in next_link
    second = client.get("/" + next_link)
    assert not {a.pk for a in second.context["assets"]} & {a.pk for a in shown}
    assert b'rel="next"' in first.content


def test_library_page_shows_bad_input_beside_a_400(users) -> None:
    response = _page_client(users["viewer"]).get("/?min_width=huge&q=a%00")
    assert response.status_code == 400
    assert set(response.context["errors"]) == {"min_width"}  # a NUL is dropped, not an error
    assert _page_client(users["viewer"]).get("/?q=sea%00").context["query"].q == "sea"
    # A forged cursor (an id that is a number) and a superscript digit are 400s, not 500s.
    forged = _page_client(users["viewer"]).get("/?cursor=eyJ0IjoiMjAyNi0wMS0wMVQwMDowMDowMCswMDowMCIsImkiOjEsImQiOiJuIn0&page_size=%C2%B2")
    assert forged.status_code == 400 and set(forged.context["errors"]) == {"cursor", "page_size"}


def test_bulk_tag_and_collect_from_the_library(users) -> None:
    asset = make_asset(users["creator"])
    collection = Collection.objects.create(name="c", owner=users["creator"])
    client = _page_client(users["creator"])
    response = client.post("/library/bulk/", {"action": "tag", "assets": [str(asset.pk)], "tags": "hero, web", "next": "/?q=x"})
    assert response.status_code == 302 and response["Location"] == "/?q=x"
    assert set(AssetTag.objects.values_list("tag__name", flat=True)) == {"hero", "web"}
    client.post("/library/bulk/", {"action": "collect", "assets": [str(asset.pk)], "collection": str(collection.pk)})
    assert collection.items.count() == 1
    page = _page_client(users["viewer"]).get(f"/collections/{collection.pk}/")
    assert page.status_code == 200 and [a.pk for a in page.context["assets"]] == [asset.pk]
    # A viewer cannot tag; an off-site "next" is not followed.
    refused = _page_client(users["viewer"]).post("/library/bulk/", {"action": "tag", "assets": [str(asset.pk)], "tags": "x"})
    assert refused.status_code == 403
    for off_site in ("//evil.example/", "/\\evil.example/", "/\\/evil.example/", "https://evil.example/", "/\t/evil.example/"):
        response = client.post("/library/bulk/", {"action": "tag", "assets": [str(asset.pk)], "tags": "y", "next": off_site})
        assert response["Location"] == "/", off_site
        refused = client.post("/library/bulk/", {"action": "bogus", "assets": [str(asset.pk)], "next": off_site})
        assert refused.status_code == 400 and refused.context["back"] == "/", off_site


def test_collections_page_creates_and_lists(users) -> None:
    client = _page_client(users["creator"])
    response = client.post("/collections/", {"name": "Autumn", "description": ""})
    made = Collection.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/collections/{made.pk}/"
    assert b"Autumn" in _page_client(users["viewer"]).get("/collections/").content
    assert client.post("/collections/", {"name": ""}).status_code == 400
    assert _page_client(users["viewer"]).post("/collections/", {"name": "v"}).status_code == 403
    assert client.get("/collections/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_thumbnails_carry_an_etag_and_answer_304(client_for, users) -> None:
    asset = make_asset(users["creator"])
    client = client_for("viewer")
    response = client.get(f"/api/v1/assets/{asset.pk}/thumbnail/")
    assert response.status_code == 200 and "immutable" in response["Cache-Control"]
    again = client.get(f"/api/v1/assets/{asset.pk}/thumbnail/", HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304 and again["ETag"] == response["ETag"]


def test_synthetic_library_refuses_real_assets_unless_forced(users) -> None:
    make_asset(users["creator"])
    with pytest.raises(CommandError, match="--force"):
        call_command("make_synthetic_library", count=5)
    assert Asset.objects.count() == 1
    call_command("make_synthetic_library", count=5, force=True, collections=1)
    assert Asset.objects.count() == 6
    assert AuditEvent.objects.filter(action="library.synthetic_loaded").count() == 1


def test_synthetic_library_refuses_a_used_database_without_assets(users) -> None:
    """A fresh install's users and groups are no obstacle; a real job or a real action is."""
    from generation.models import GenerationJob, JobStatus
    from governance.audit_trail import record_event

    synthetic.build(5, collections=1)  # users and their groups only (the fixture): allowed
    job = GenerationJob.objects.create(
        plugin_id="procedural", plugin_version="1", status=JobStatus.QUEUED, prompt="x", width=64, height=64, seed=1,
        requested_by=users["creator"], queue="gen.procedural",
    )  # fmt: skip
    with pytest.raises(CommandError, match="real generation jobs"):
        call_command("make_synthetic_library", count=5)
    job.delete()
    record_event("policy.updated", acting_user=users["admin"], target=("governance.policy", "org"), data={})
    with pytest.raises(CommandError, match="audit events"):
        call_command("make_synthetic_library", count=5)
    assert Asset.objects.count() == 5


def test_synthetic_rows_are_owned_by_inactive_synthetic_users(users) -> None:
    synthetic.build(200, seed=4, collections=3)
    owners = get_user_model().objects.filter(pk__in=Asset.objects.values("created_by"))
    assert owners.exists() and all(u.username.startswith("synthetic-") for u in owners)
    assert not any(u.is_active or u.has_usable_password() for u in owners)
    real = [u.pk for u in users.values()]
    assert not Collection.objects.filter(owner__in=real).exists()
    assert not AssetTag.objects.filter(tagged_by__in=real).exists()
    synthetic.build(10, seed=5, collections=1)  # the same users again, no new ones
    assert get_user_model().objects.filter(username__startswith="synthetic-").count() == synthetic.SYNTHETIC_USERS


def test_synthetic_library_is_realistic(users) -> None:
    report = synthetic.build(600, seed=2, collections=3)
    assert report.assets == 600 == Asset.objects.count()
    assert len(set(Asset.objects.values_list("plugin_id", flat=True))) >= 4
    assert len(set(Asset.objects.values_list("status", flat=True))) == 5
    assert len(set(Asset.objects.values_list("file", flat=True))) <= 12  # files shared among rows
    first, last = Asset.objects.order_by("created_at").first(), Asset.objects.order_by("created_at").last()
    assert (last.created_at - first.created_at).days >= 700
    assert AssetTag.objects.exists()


def test_a_small_synthetic_library_has_one_rare_word(users) -> None:
    report = synthetic.build(40, seed=1, collections=1)
    assert report.rare_words == {"axolotl": 1}
    assert Asset.objects.filter(prompt__contains="axolotl").count() == 1


def test_the_asset_page_shows_its_tags_and_collections_and_tags_it(users) -> None:
    asset = make_asset(users["creator"])
    collection = Collection.objects.create(name="Shortlist", owner=users["creator"])
    collection.items.create(asset=asset)
    client = _page_client(users["creator"])
    response = client.post("/library/bulk/", {"action": "tag", "assets": [str(asset.pk)], "tags": "hero", "next": f"/assets/{asset.pk}/"})
    assert response["Location"] == f"/assets/{asset.pk}/"
    page = client.get(f"/assets/{asset.pk}/").content.decode()
    assert "?tag=hero" in page and "Shortlist" in page and 'value="tag"' in page
    assert 'value="tag"' not in _page_client(users["viewer"]).get(f"/assets/{asset.pk}/").content.decode()


def test_the_content_credentials_panel_reads_the_stored_file(users) -> None:
    asset = make_asset(users["creator"])
    panel = _page_client(users["viewer"]).get(f"/assets/{asset.pk}/credentials/")
    assert panel.status_code == 200
    text = panel.content.decode()
    assert panel.context["state"] in ("Trusted", "Valid")
    assert "Same bytes as recorded" in text and "c2pa.actions" in text
    assert "hallmark-procedural" in text and "MIT" in text
    assert _page_client(users["nobody"]).get(f"/assets/{asset.pk}/credentials/").status_code == 403


def test_the_credentials_panel_checks_the_file_once_per_recorded_hash(users, monkeypatch) -> None:
    """Each check reads, hashes and validates the whole file: a viewer reloading the panel must
    not cost that every time. A new recorded sha256 is a new check."""
    from assets import views as asset_views

    asset = make_asset(users["creator"])
    checked: list[str] = []
    real = asset_views.check_stored_asset

    def counting(a):
        checked.append(str(a.pk))
        return real(a)

    monkeypatch.setattr(asset_views, "check_stored_asset", counting)
    client = _page_client(users["viewer"])
    first = client.get(f"/assets/{asset.pk}/credentials/").content
    second = client.get(f"/assets/{asset.pk}/credentials/").content
    assert first == second and b"Same bytes as recorded" in second and len(checked) == 1
    Asset.objects.filter(pk=asset.pk).update(sha256="0" * 64)
    changed = client.get(f"/assets/{asset.pk}/credentials/").content.decode()
    assert len(checked) == 2 and "Changed since it was stored" in changed
