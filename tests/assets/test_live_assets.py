"""A soft-deleted asset is gone from every list: ``Asset.objects.live()`` is what they show."""

from __future__ import annotations

from assets import retention
from assets.models import Asset
from tests.governance.audit_helpers import fast_passwords, make_asset  # noqa: F401


def test_live_leaves_out_soft_deleted_assets(users) -> None:
    kept = make_asset(users["creator"], prompt="kept")
    gone = make_asset(users["creator"], prompt="gone")
    retention.soft_delete(gone.pk, acting_user=users["creator"])
    assert list(Asset.objects.live()) == [kept]
    assert set(Asset.objects.all()) == {kept, gone}  # the row stays until the purge


def test_a_deleted_asset_leaves_its_jobs_page_and_api(client_for, client, users) -> None:
    asset = make_asset(users["creator"])
    job_url = f"/api/v1/generations/{asset.job_id}/"
    assert client_for("viewer").get(job_url).json()["assets"] == [str(asset.pk)]
    retention.soft_delete(asset.pk, acting_user=users["creator"])

    assert client_for("viewer").get(job_url).json()["assets"] == []
    client.force_login(users["viewer"])
    for page in (f"/jobs/{asset.job_id}/", f"/jobs/{asset.job_id}/progress/"):
        response = client.get(page)
        assert response.status_code == 200
        assert str(asset.pk) not in response.content.decode()


def test_the_library_offers_no_plugin_whose_assets_are_all_deleted(client, users) -> None:
    asset = make_asset(users["creator"])
    client.force_login(users["viewer"])
    assert list(client.get("/").context["plugins"]) == ["procedural"]
    retention.soft_delete(asset.pk, acting_user=users["creator"])
    assert list(client.get("/").context["plugins"]) == []
