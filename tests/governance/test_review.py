"""The review workflow: states, who may move them (four eyes), audit, and the review pages."""

from __future__ import annotations

import pytest

from assets import review
from assets.models import Asset
from governance.audit_trail import verify_audit_chain
from governance.models import AuditEvent
from tests.governance.audit_helpers import fast_passwords, make_asset  # noqa: F401


@pytest.fixture
def asset(users) -> Asset:
    """A draft asset requested by the creator (carl)."""
    return make_asset(users["creator"])


def post(client, asset: Asset, action: str, body: dict | None = None):
    return client.post(f"/api/v1/assets/{asset.pk}/{action}/", body or {}, format="json")


def events_for(asset: Asset, action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(target_type="assets.asset", target_id=str(asset.pk), action=action))


def test_submit_approve_archive_each_audited_with_the_actor(client_for, asset) -> None:
    response = post(client_for("creator"), asset, "submit-for-review")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "in_review"
    (submitted,) = events_for(asset, "asset.submitted_for_review")
    assert submitted.actor == "carl"
    assert submitted.data["from"] == "draft" and submitted.data["to"] == "in_review"
    assert submitted.data["policy"] == {"purpose": "commercial", "violations": []}

    response = post(client_for("reviewer"), asset, "approve")
    assert response.status_code == 200 and response.json()["status"] == "approved"
    (approved,) = events_for(asset, "asset.approved")
    assert approved.actor == "rita" and approved.data["from"] == "in_review"

    response = post(client_for("reviewer"), asset, "archive")
    assert response.status_code == 200 and response.json()["status"] == "archived"
    assert events_for(asset, "asset.archived")[0].actor == "rita"
    assert verify_audit_chain().ok


def test_reject_needs_a_reason_and_allows_resubmission(client_for, asset) -> None:
    post(client_for("creator"), asset, "submit-for-review")
    reviewer = client_for("reviewer")
    for body in ({}, {"reason": ""}, {"reason": "   "}, {"reason": 42}, {"reason": "x" * 1001}):
        response = post(reviewer, asset, "reject", body)
        assert response.status_code == 400, body
        assert "reason" in response.json()["errors"]
    assert Asset.objects.get(pk=asset.pk).status == "in_review"

    response = post(reviewer, asset, "reject", {"reason": "  Logo too close to a real brand.  "})
    assert response.status_code == 200 and response.json()["status"] == "rejected"
    (rejected,) = events_for(asset, "asset.rejected")
    assert rejected.data["reason"] == "Logo too close to a real brand."
    assert rejected.actor == "rita"

    # Resubmission: rejected -> in_review, by the creator again.
    response = post(client_for("creator"), asset, "submit-for-review")
    assert response.status_code == 200 and response.json()["status"] == "in_review"
    assert [e.data["from"] for e in events_for(asset, "asset.submitted_for_review")] == ["draft", "rejected"]


def test_four_eyes_applies_to_admins_too(client_for, users) -> None:
    own = make_asset(users["admin"])
    admin = client_for("admin")
    assert post(admin, own, "submit-for-review").status_code == 200
    for action, body in (("approve", {}), ("reject", {"reason": "no"})):
        response = post(admin, own, action, body)
        assert response.status_code == 403
        assert "Four eyes" in response.json()["detail"]
    assert Asset.objects.get(pk=own.pk).status == "in_review"
    # Another person may.
    assert post(client_for("reviewer"), own, "approve").status_code == 200


def test_reviewer_cannot_approve_an_asset_they_requested(client_for, users) -> None:
    from django.contrib.auth.models import Group

    # A user with both roles (only creators may submit their own assets) requested this asset.
    users["reviewer"].groups.add(Group.objects.get_or_create(name="creator")[0])
    own = make_asset(users["reviewer"])  # the requester the asset records is the reviewer
    assert post(client_for("reviewer"), own, "submit-for-review").status_code == 200
    response = post(client_for("reviewer"), own, "approve")
    assert response.status_code == 403 and "you requested this asset" in response.json()["detail"]


def test_who_may_submit(client_for, asset) -> None:
    assert post(client_for("creator2"), asset, "submit-for-review").status_code == 403
    assert post(client_for("viewer"), asset, "submit-for-review").status_code == 403
    assert post(client_for("reviewer"), asset, "submit-for-review").status_code == 403
    assert post(client_for("nobody"), asset, "submit-for-review").status_code == 403
    assert post(client_for("admin"), asset, "submit-for-review").status_code == 200


@pytest.mark.parametrize("role", ["creator", "viewer", "creator2", "nobody"])
def test_only_reviewers_and_admins_approve_reject_archive(client_for, asset, role) -> None:
    post(client_for("creator"), asset, "submit-for-review")
    client = client_for(role)
    assert post(client, asset, "approve").status_code == 403
    assert post(client, asset, "reject", {"reason": "no"}).status_code == 403
    assert post(client, asset, "archive").status_code == 403
    assert Asset.objects.get(pk=asset.pk).status == "in_review"


@pytest.mark.parametrize(
    ("setup", "action", "body"),
    [
        ([], "approve", {}),
        ([], "reject", {"reason": "no"}),
        ([], "archive", {}),
        (["submit"], "submit-for-review", {}),
        (["submit"], "archive", {}),
        (["submit", "approve"], "approve", {}),
        (["submit", "approve"], "submit-for-review", {}),
        (["submit", "approve", "archive"], "archive", {}),
        (["submit", "approve", "archive"], "submit-for-review", {}),
    ],
)
def test_invalid_transitions_are_409_and_change_nothing(
    client_for, users, asset, setup, action, body
) -> None:
    for step in setup:
        {"submit": review.submit_for_review, "approve": review.approve, "archive": review.archive}[step](
            asset.pk, acting_user=users["reviewer" if step != "submit" else "creator"]
        )
    client = client_for("creator" if action == "submit-for-review" else "reviewer")  # makes a token: audited
    before = Asset.objects.get(pk=asset.pk).status
    count = AuditEvent.objects.count()
    response = post(client, asset, action, body)
    assert response.status_code == 409, response.content
    assert before in response.json()["detail"]
    assert Asset.objects.get(pk=asset.pk).status == before
    assert AuditEvent.objects.count() == count


def test_status_and_audit_event_commit_together(monkeypatch, users, asset) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("audit unavailable")

    monkeypatch.setattr(review, "record_event", broken)
    with pytest.raises(RuntimeError):
        review.submit_for_review(asset.pk, acting_user=users["creator"])
    assert Asset.objects.get(pk=asset.pk).status == "draft"


def test_unknown_asset_is_404(client_for) -> None:
    response = client_for("reviewer").post("/api/v1/assets/00000000-0000-0000-0000-000000000000/approve/")
    assert response.status_code == 404


# --- pages -----------------------------------------------------------------------------------


def page_client(client, user):
    client.force_login(user)
    return client


def test_review_queue_lists_waiting_assets_for_reviewers(client, users, asset) -> None:
    other = make_asset(users["creator2"], prompt="a second one")
    review.submit_for_review(asset.pk, acting_user=users["creator"])
    page = page_client(client, users["reviewer"]).get("/review/")
    assert page.status_code == 200
    html = page.content.decode()
    assert str(asset.pk) in html and str(other.pk) not in html  # drafts are not waiting
    assert "Approve" in html and "Reject" in html


@pytest.mark.parametrize("role", ["viewer", "creator", "nobody"])
def test_review_queue_is_refused_to_others(client, users, role) -> None:
    assert page_client(client, users[role]).get("/review/").status_code == 403


def test_anonymous_is_sent_to_login(client) -> None:
    response = client.get("/review/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_htmx_buttons_approve_and_show_four_eyes_refusals(client, users, asset) -> None:
    review.submit_for_review(asset.pk, acting_user=users["creator"])
    htmx = {"HTTP_HX_REQUEST": "true"}
    page_client(client, users["creator"])
    refused = client.post(f"/assets/{asset.pk}/review/approve/", **htmx)
    assert refused.status_code == 403
    assert b"reviewer role" in refused.content

    page_client(client, users["reviewer"])
    response = client.post(f"/assets/{asset.pk}/review/approve/", **htmx)
    assert response.status_code == 200
    assert b'data-status="approved"' in response.content
    assert Asset.objects.get(pk=asset.pk).status == "approved"


def test_reject_button_without_reason_shows_the_error(client, users, asset) -> None:
    review.submit_for_review(asset.pk, acting_user=users["creator"])
    page_client(client, users["reviewer"])
    response = client.post(f"/assets/{asset.pk}/review/reject/", {"reason": ""}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400 and b"A reason is required" in response.content
    plain = client.post(f"/assets/{asset.pk}/review/reject/", {"reason": "off-brand"})
    assert plain.status_code == 302 and plain["Location"] == f"/assets/{asset.pk}/"
    assert Asset.objects.get(pk=asset.pk).status == "rejected"


def test_asset_page_loads_the_panel_with_the_buttons_the_user_may_use(client, users, asset) -> None:
    page_client(client, users["creator"])
    detail = client.get(f"/assets/{asset.pk}/")
    assert f"/assets/{asset.pk}/review/".encode() in detail.content
    panel = client.get(f"/assets/{asset.pk}/review/")
    assert b"Submit for review" in panel.content and b"Approve" not in panel.content

    review.submit_for_review(asset.pk, acting_user=users["creator"])
    page_client(client, users["reviewer"])
    panel = client.get(f"/assets/{asset.pk}/review/").content
    assert b"Approve" in panel and b"Reject" in panel and b"Place legal hold" in panel


def test_nav_links_follow_roles(client, users) -> None:
    reviewer_page = page_client(client, users["reviewer"]).get("/").content
    assert b'href="/review/"' in reviewer_page and b'href="/audit/"' in reviewer_page
    creator_page = page_client(client, users["creator"]).get("/").content
    assert b'href="/audit/"' not in creator_page
