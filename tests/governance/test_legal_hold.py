"""Legal hold, soft deletion and the retention purge."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from assets import retention, review
from assets.models import Asset
from governance.audit_trail import verify_audit_chain
from governance.models import AuditEvent
from tests.governance.audit_helpers import fast_passwords, make_asset  # noqa: F401


@pytest.fixture
def asset(users) -> Asset:
    return make_asset(users["creator"])


def hold(client, asset, body):
    return client.post(f"/api/v1/assets/{asset.pk}/legal-hold/", body, format="json")


def approved(users) -> Asset:
    asset = make_asset(users["creator"], prompt="approved one")
    review.submit_for_review(asset.pk, acting_user=users["creator"])
    return review.approve(asset.pk, acting_user=users["reviewer"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"hold": True}, "reason"),
        ({"hold": True, "reason": "  "}, "reason"),
        ({"hold": True, "reason": "x" * 501}, "reason"),
        ({"hold": "yes", "reason": "litigation"}, "hold"),
        ({"reason": "litigation"}, "hold"),
    ],
)
def test_hold_needs_a_boolean_and_a_reason(client_for, asset, body, field) -> None:
    response = hold(client_for("reviewer"), asset, body)
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_reviewer_places_and_releases_a_hold_audited(client_for, asset) -> None:
    response = hold(client_for("reviewer"), asset, {"hold": True, "reason": "Case 2026-17"})
    assert response.status_code == 200
    assert response.json()["legal_hold"] is True and response.json()["legal_hold_reason"] == "Case 2026-17"
    assert hold(client_for("admin"), asset, {"hold": True, "reason": "again"}).status_code == 409

    response = hold(client_for("admin"), asset, {"hold": False, "reason": "Case closed"})
    assert response.status_code == 200 and response.json()["legal_hold"] is False
    actions = list(
        AuditEvent.objects.filter(target_id=str(asset.pk), action__startswith="asset.legal_hold").values_list(
            "action", "actor", "data"
        )
    )
    assert actions == [
        ("asset.legal_hold_set", "rita", {"reason": "Case 2026-17"}),
        ("asset.legal_hold_released", "ada", {"reason": "Case closed"}),
    ]
    assert hold(client_for("admin"), asset, {"hold": False}).status_code == 409


@pytest.mark.parametrize("role", ["viewer", "creator", "nobody"])
def test_others_cannot_hold(client_for, asset, role) -> None:
    assert hold(client_for(role), asset, {"hold": True, "reason": "x"}).status_code == 403
    assert not Asset.objects.get(pk=asset.pk).legal_hold


def test_held_assets_cannot_be_deleted_or_archived(client_for, users) -> None:
    asset = approved(users)
    hold(client_for("reviewer"), asset, {"hold": True, "reason": "Case 2026-17"})
    response = client_for("admin").delete(f"/api/v1/assets/{asset.pk}/")
    assert response.status_code == 409 and "legal hold" in response.json()["detail"]
    response = client_for("reviewer").post(f"/api/v1/assets/{asset.pk}/archive/")
    assert response.status_code == 409 and "legal hold" in response.json()["detail"]
    assert Asset.objects.get(pk=asset.pk).deleted_at is None

    hold(client_for("reviewer"), asset, {"hold": False})
    assert client_for("reviewer").post(f"/api/v1/assets/{asset.pk}/archive/").status_code == 200


def test_creator_deletes_own_draft_and_it_leaves_every_list(client_for, client, users, asset) -> None:
    keep = make_asset(users["creator"], prompt="kept")
    response = client_for("creator").delete(f"/api/v1/assets/{asset.pk}/")
    assert response.status_code == 204
    row = Asset.objects.get(pk=asset.pk)  # still in the database
    assert row.deleted_at is not None and row.deleted_by == users["creator"]
    event = AuditEvent.objects.get(action="asset.deleted", target_id=str(asset.pk))
    assert event.actor == "carl" and event.data["sha256"] == asset.sha256

    api = client_for("viewer")
    listed = [a["id"] for a in api.get("/api/v1/assets/").json()["results"]]
    assert listed == [str(keep.pk)]
    assert api.get(f"/api/v1/assets/{asset.pk}/").status_code == 404
    assert api.get(f"/api/v1/assets/{asset.pk}/file/").status_code == 404
    assert client_for("creator").delete(f"/api/v1/assets/{asset.pk}/").status_code == 404
    client.force_login(users["viewer"])
    assert str(asset.pk) not in client.get("/").content.decode()
    assert client.get(f"/assets/{asset.pk}/").status_code == 404


def test_who_may_delete(client_for, users, asset) -> None:
    assert client_for("creator2").delete(f"/api/v1/assets/{asset.pk}/").status_code == 403
    assert client_for("reviewer").delete(f"/api/v1/assets/{asset.pk}/").status_code == 403
    assert client_for("viewer").delete(f"/api/v1/assets/{asset.pk}/").status_code == 403
    review.submit_for_review(asset.pk, acting_user=users["creator"])
    response = client_for("creator").delete(f"/api/v1/assets/{asset.pk}/")
    assert response.status_code == 403 and "draft" in response.json()["detail"]
    assert client_for("admin").delete(f"/api/v1/assets/{asset.pk}/").status_code == 204


@pytest.fixture
def purge(django_capture_on_commit_callbacks):
    """Run purge_deleted; files go after each asset's transaction commits, so the test runs the
    on-commit callbacks its own enclosing transaction would otherwise hold back."""

    def run(**kwargs) -> str:
        out = io.StringIO()
        with django_capture_on_commit_callbacks(execute=True):
            call_command("purge_deleted", stdout=out, **kwargs)
        return out.getvalue()

    return run


def age_deletion(asset: Asset, days: int) -> None:
    Asset.objects.filter(pk=asset.pk).update(deleted_at=timezone.now() - timedelta(days=days))


def test_purge_removes_old_deletions_leaving_a_tombstone(settings, users, asset, purge) -> None:
    settings.HALLMARK_RETENTION_DAYS = 30
    recent = make_asset(users["creator"], prompt="recent")
    retention.soft_delete(asset.pk, acting_user=users["creator"])
    retention.soft_delete(recent.pk, acting_user=users["creator"])
    age_deletion(asset, 31)
    age_deletion(recent, 29)
    storage, name = asset.file.storage, asset.file.name
    assert storage.exists(name)

    output = purge()
    assert f"purged {asset.pk}" in output and "1 purged" in output and "0 kept" in output
    assert not Asset.objects.filter(pk=asset.pk).exists()
    assert not storage.exists(name)
    assert Asset.objects.filter(pk=recent.pk).exists() and recent.file.storage.exists(recent.file.name)

    tombstone = AuditEvent.objects.get(action="asset.purged", target_id=str(asset.pk))
    assert tombstone.actor == "system:retention"
    assert tombstone.data["sha256"] == asset.sha256
    assert tombstone.data["model"] == asset.model_identity
    assert tombstone.data["deleted_by"] == "carl" and tombstone.data["file_deleted"] is True
    # Audit rows name assets by id only: the chain is intact without the row.
    assert verify_audit_chain().ok


def test_purge_keeps_a_file_another_asset_still_uses(users, asset, purge) -> None:
    twin = make_asset(users["creator"], prompt="twin")
    Asset.objects.filter(pk=twin.pk).update(file=asset.file.name)  # same bytes, same content address
    retention.soft_delete(asset.pk, acting_user=users["creator"])
    age_deletion(asset, 400)
    purge()
    assert not Asset.objects.filter(pk=asset.pk).exists()
    assert asset.file.storage.exists(asset.file.name)
    assert AuditEvent.objects.get(action="asset.purged").data["file_deleted"] is False

    retention.soft_delete(twin.pk, acting_user=users["creator"])
    age_deletion(twin, 400)
    assert "1 purged" in purge()
    assert not asset.file.storage.exists(asset.file.name)


def test_a_hold_placed_after_deletion_stops_the_purge(client_for, users, asset, purge) -> None:
    retention.soft_delete(asset.pk, acting_user=users["creator"])
    age_deletion(asset, 400)
    # The asset left the lists, but a reviewer can still put it on hold before it is purged.
    assert hold(client_for("reviewer"), asset, {"hold": True, "reason": "Subpoena"}).status_code == 200
    assert f"kept {asset.pk}: under legal hold" in purge()
    assert Asset.objects.filter(pk=asset.pk).exists()
    assert asset.file.storage.exists(asset.file.name)


def test_purge_days_option_overrides_the_setting(users, asset, purge) -> None:
    retention.soft_delete(asset.pk, acting_user=users["creator"])
    age_deletion(asset, 2)
    assert "0 purged" in purge()
    assert "1 purged" in purge(days=1)
