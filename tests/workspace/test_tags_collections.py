"""Tags and collections through the API: who may change what, bad input, the audit trail."""

from __future__ import annotations

import pytest

from governance.models import AuditEvent
from tests.governance.audit_helpers import fast_passwords, make_asset  # noqa: F401
from workspace.models import AssetTag, Collection, CollectionItem


@pytest.fixture
def two_assets(users):
    return make_asset(users["creator"], prompt="red fox at dawn"), make_asset(users["creator2"], prompt="owl", seed=8)


def test_creators_tag_and_untag_any_live_asset_audited(client_for, two_assets) -> None:
    asset = two_assets[1]
    client = client_for("creator")
    response = client.post(f"/api/v1/assets/{asset.pk}/tags/", {"tags": ["Hero", "web", "hero"]}, format="json")
    assert response.status_code == 200 and response.json()["tags"] == ["hero", "web"]
    assert AuditEvent.objects.get(action="asset.tagged", target_id=str(asset.pk)).data["tags"] == ["hero", "web"]
    # Tagging again adds nothing and records nothing.
    client.post(f"/api/v1/assets/{asset.pk}/tags/", {"tags": ["hero"]}, format="json")
    assert AuditEvent.objects.filter(action="asset.tagged").count() == 1
    response = client.delete(f"/api/v1/assets/{asset.pk}/tags/", {"tags": ["web"]}, format="json")
    assert response.json()["tags"] == ["hero"]
    assert AuditEvent.objects.get(action="asset.untagged").data["tags"] == ["web"]
    listed = client_for("viewer").get("/api/v1/assets/?tag=hero").json()["results"]
    assert [row["id"] for row in listed] == [str(asset.pk)]


@pytest.mark.parametrize("role", ["viewer", "reviewer", "nobody"])
def test_only_creators_and_admins_tag(client_for, two_assets, role) -> None:
    response = client_for(role).post(f"/api/v1/assets/{two_assets[0].pk}/tags/", {"tags": ["x"]}, format="json")
    assert response.status_code == 403 and not AssetTag.objects.exists()


@pytest.mark.parametrize(
    "body", [{}, {"tags": []}, {"tags": "hero"}, {"tags": [""]}, {"tags": ["a b"]}, {"tags": ["x" * 65]}, {"tags": [7]}, {"tags": ["-x"]}, {"tags": ["ok"] * 51}]
)
def test_bad_tags_are_a_400_naming_tags(client_for, two_assets, body) -> None:
    response = client_for("admin").post(f"/api/v1/assets/{two_assets[0].pk}/tags/", body, format="json")
    assert response.status_code == 400 and "tags" in response.json()["errors"]


def test_collections_are_made_by_creators_and_changed_by_their_owner_or_an_admin(client_for, two_assets) -> None:
    a, b = two_assets
    assert client_for("viewer").post("/api/v1/collections/", {"name": "x"}, format="json").status_code == 403
    made = client_for("creator").post("/api/v1/collections/", {"name": " Spring ", "description": "picks"}, format="json")
    assert made.status_code == 201 and made.json()["name"] == "Spring" and made.json()["owner"] == "carl"
    cid = made.json()["id"]
    url = f"/api/v1/collections/{cid}/assets/"
    assert client_for("creator").post(url, {"assets": [str(a.pk), str(b.pk), str(a.pk)]}, format="json").json()["changed"] == 2
    assert client_for("creator").post(url, {"assets": [str(a.pk)]}, format="json").json()["changed"] == 0
    # Another creator may not change it; an admin may.
    assert client_for("creator2").delete(url, {"assets": [str(a.pk)]}, format="json").status_code == 403
    assert client_for("admin").delete(url, {"assets": [str(a.pk)]}, format="json").json()["changed"] == 1
    assert list(CollectionItem.objects.values_list("asset_id", flat=True)) == [b.pk]
    listed = client_for("viewer").get("/api/v1/collections/").json()["results"]
    assert [(c["id"], c["asset_count"]) for c in listed] == [(cid, 1)]
    shown = client_for("viewer").get(f"/api/v1/assets/?collection={cid}").json()["results"]
    assert [row["id"] for row in shown] == [str(b.pk)]
    actions = list(AuditEvent.objects.filter(target_id=cid).order_by("seq").values_list("action", "actor"))
    assert actions == [
        ("collection.created", "carl"),
        ("collection.assets_added", "carl"),
        ("collection.assets_removed", "ada"),
    ]


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "name"),
        ({"name": "  "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"name": "ok", "description": 5}, "description"),
        ({"name": "ok", "description": "x" * 2001}, "description"),
    ],
)
def test_bad_collections_are_a_400_naming_the_field(client_for, users, body, field) -> None:
    response = client_for("creator").post("/api/v1/collections/", body, format="json")
    assert response.status_code == 400 and field in response.json()["errors"]
    assert not Collection.objects.exists()


@pytest.mark.parametrize(
    "assets", [None, [], "x", ["not-a-uuid"], [5], ["00000000-0000-0000-0000-000000000000"]]
)
def test_bad_asset_lists_are_a_400_naming_assets(client_for, two_assets, assets) -> None:
    cid = client_for("creator").post("/api/v1/collections/", {"name": "c"}, format="json").json()["id"]
    response = client_for("creator").post(f"/api/v1/collections/{cid}/assets/", {"assets": assets}, format="json")
    assert response.status_code == 400 and "assets" in response.json()["errors"]


def test_unknown_collection_is_a_404(client_for, users) -> None:
    assert client_for("viewer").get("/api/v1/collections/00000000-0000-0000-0000-000000000000/").status_code == 404
    response = client_for("creator").post(
        "/api/v1/collections/00000000-0000-0000-0000-000000000000/assets/", {"assets": []}, format="json"
    )
    assert response.status_code == 404


@pytest.mark.parametrize("what", ["tags", "collection"])
def test_an_identical_request_racing_between_check_and_insert_is_not_a_500(client_for, users, two_assets, monkeypatch, what) -> None:
    """A racer's rows land after our read and before our insert: the unique constraint refuses
    ours once; the request still succeeds and each row exists once."""
    asset = two_assets[0]
    collection = Collection.objects.create(name="c", owner=users["creator"])
    model = AssetTag if what == "tags" else CollectionItem
    manager = model.objects
    original = manager.bulk_create
    raced: list[bool] = []

    def racing(objs, *args, **kwargs):
        if not raced:  # the first insert meets the racer's copy of its first row
            raced.append(True)
            first = objs[0]
            original([model(**{f.attname: getattr(first, f.attname) for f in model._meta.concrete_fields if not f.primary_key})])
        return original(objs, *args, **kwargs)

    monkeypatch.setattr(manager, "bulk_create", racing)
    client = client_for("creator")
    if what == "tags":
        response = client.post(f"/api/v1/assets/{asset.pk}/tags/", {"tags": ["hero", "web"]}, format="json")
        assert response.status_code == 200 and response.json()["tags"] == ["hero", "web"]
    else:
        response = client.post(f"/api/v1/collections/{collection.pk}/assets/", {"assets": [str(asset.pk)]}, format="json")
        assert response.status_code == 200, response.content
    assert raced
    assert model.objects.count() == (2 if what == "tags" else 1)
