"""Licence policy: the pure check, the organisation profile API, and where the policy bites
(submitting for review, approving, exporting for use)."""

from __future__ import annotations

import pytest

from assets import review
from assets.models import Asset
from governance import organisation, policy
from governance.models import AuditEvent, OrganisationProfile
from governance.policy import Profile
from plugins.builtin.procedural import ProceduralPlugin
from tests.governance.audit_helpers import NON_COMMERCIAL, SD35_COMMUNITY, fast_passwords, make_asset  # noqa: F401

SD35 = SD35_COMMUNITY.as_dict()
MIT = ProceduralPlugin.license.as_dict()
NC = NON_COMMERCIAL.as_dict()


@pytest.mark.parametrize(
    ("license", "profile", "purpose", "rules"),
    [
        (SD35, Profile(True, "under_1m"), "commercial", []),
        (SD35, Profile(True, "1m_to_10m"), "commercial", ["revenue_ceiling_exceeded"]),
        (SD35, Profile(True, "over_10m"), "commercial", ["revenue_ceiling_exceeded"]),
        (SD35, Profile(True, "over_10m", frozenset({"LicenseRef-Stability-AI-Community"})), "commercial", []),
        (
            SD35,
            Profile(True, "over_10m", frozenset({"LicenseRef-Other"})),
            "commercial",
            ["revenue_ceiling_exceeded"],
        ),
        (SD35, Profile(False, "over_10m"), "non_commercial", []),
        (SD35, Profile(True, "under_1m"), "training", ["training_not_allowed"]),
        (MIT, Profile(True, "over_10m"), "commercial", []),
        (MIT, Profile(True, "over_10m"), "training", []),
        (NC, Profile(True, "under_1m"), "commercial", ["commercial_use_not_allowed"]),
        (NC, Profile(True, "under_1m", frozenset({"CC-BY-NC-4.0"})), "commercial", []),
        (NC, Profile(False, "under_1m"), "non_commercial", []),
        (MIT, Profile(False, "under_1m"), "commercial", ["organisation_non_commercial"]),
        ({}, Profile(True, "under_1m"), "non_commercial", ["license_missing"]),
        ({**SD35, "revenue_ceiling_usd": 10_000_000}, Profile(True, "1m_to_10m"), "commercial", []),
        (
            {**SD35, "revenue_ceiling_usd": 5_000_000},
            Profile(True, "1m_to_10m"),
            "commercial",
            ["revenue_ceiling_exceeded"],
        ),
    ],
)
def test_check_names_each_broken_rule(license, profile, purpose, rules) -> None:
    violations = policy.check(license, profile, purpose)
    assert [v.rule for v in violations] == rules
    for violation in violations:
        assert violation.message


def test_revenue_ceiling_message_says_what_is_needed() -> None:
    (violation,) = policy.check(SD35, Profile(True, "1m_to_10m"), "commercial")
    assert "US$1M" in violation.message and "enterprise licence" in violation.message


def test_unknown_purpose_is_an_error() -> None:
    with pytest.raises(ValueError, match="purpose"):
        policy.check(MIT, Profile(), "resale")


# --- the profile ------------------------------------------------------------------------------


def test_everyone_with_a_role_reads_the_profile_defaults(client_for) -> None:
    body = client_for("viewer").get("/api/v1/policy/").json()
    assert body["commercial_use"] is True and body["revenue_band"] == "under_1m"
    assert body["enterprise_licenses"] == [] and body["updated_by"] is None
    assert client_for("nobody").get("/api/v1/policy/").status_code == 403


def test_admin_replaces_the_profile_and_it_is_audited(client_for) -> None:
    new = {
        "commercial_use": True,
        "revenue_band": "over_10m",
        "enterprise_licenses": ["LicenseRef-Stability-AI-Community"],
    }
    response = client_for("admin").put("/api/v1/policy/", new, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["updated_by"] == "ada"
    assert OrganisationProfile.objects.get().revenue_band == "over_10m"
    (event,) = AuditEvent.objects.filter(action="policy.updated")
    assert event.actor == "ada"
    assert event.data["before"]["revenue_band"] == "under_1m"
    assert event.data["after"] == new
    assert event.data["changed"] == ["enterprise_licenses", "revenue_band"]
    # The same profile again changes nothing and records nothing.
    client_for("admin").put("/api/v1/policy/", new, format="json")
    assert AuditEvent.objects.filter(action="policy.updated").count() == 1


@pytest.mark.parametrize("role", ["viewer", "creator", "reviewer", "nobody"])
def test_only_admins_change_the_profile(client_for, role) -> None:
    body = {"commercial_use": False, "revenue_band": "under_1m", "enterprise_licenses": []}
    assert client_for(role).put("/api/v1/policy/", body, format="json").status_code == 403
    assert not OrganisationProfile.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"revenue_band": "under_1m", "enterprise_licenses": []}, "commercial_use"),
        ({"commercial_use": "yes", "revenue_band": "under_1m"}, "commercial_use"),
        ({"commercial_use": True, "revenue_band": "lots"}, "revenue_band"),
        (
            {"commercial_use": True, "revenue_band": "under_1m", "enterprise_licenses": "MIT"},
            "enterprise_licenses",
        ),
        (
            {
                "commercial_use": True,
                "revenue_band": "under_1m",
                "enterprise_licenses": ["no spaces allowed"],
            },
            "enterprise_licenses",
        ),
        (
            {"commercial_use": True, "revenue_band": "under_1m", "enterprise_licenses": [7]},
            "enterprise_licenses",
        ),
        ({"commercial_use": True, "revenue_band": "under_1m", "extra": 1}, "extra"),
    ],
)
def test_invalid_profile_is_400_naming_the_field(client_for, body, field) -> None:
    response = client_for("admin").put("/api/v1/policy/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_profile_saved_in_django_admin_is_audited(client, users) -> None:
    users["admin"].is_staff = users["admin"].is_superuser = True
    users["admin"].save()
    client.force_login(users["admin"])
    response = client.post(
        "/admin/governance/organisationprofile/add/",
        {"commercial_use": "on", "revenue_band": "1m_to_10m", "enterprise_licenses": '["MIT"]'},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert organisation.get_profile().revenue_band == "1m_to_10m"
    assert AuditEvent.objects.get(action="policy.updated").actor == "ada"


# --- where the policy bites -------------------------------------------------------------------


def set_profile(users, **values) -> None:
    organisation.update_profile(
        {"commercial_use": True, "revenue_band": "under_1m", "enterprise_licenses": [], **values},
        acting_user=users["admin"],
    )


def test_sd35_community_licence_above_1m_revenue_cannot_be_submitted(client_for, users) -> None:
    asset = make_asset(users["creator"], license=SD35_COMMUNITY)
    set_profile(users, revenue_band="1m_to_10m")
    response = client_for("creator").post(f"/api/v1/assets/{asset.pk}/submit-for-review/")
    assert response.status_code == 422
    body = response.json()
    assert [v["rule"] for v in body["violations"]] == ["revenue_ceiling_exceeded"]
    assert "revenue_ceiling_exceeded" in body["errors"]["policy"][0]
    assert Asset.objects.get(pk=asset.pk).status == "draft"
    assert not AuditEvent.objects.filter(action="asset.submitted_for_review").exists()

    set_profile(users, revenue_band="1m_to_10m", enterprise_licenses=["LicenseRef-Stability-AI-Community"])
    assert client_for("creator").post(f"/api/v1/assets/{asset.pk}/submit-for-review/").status_code == 200


def test_non_commercial_licence_is_refused_for_a_commercial_organisation(client_for, users) -> None:
    asset = make_asset(users["creator"], license=NON_COMMERCIAL)
    response = client_for("creator").post(f"/api/v1/assets/{asset.pk}/submit-for-review/")
    assert response.status_code == 422
    assert [v["rule"] for v in response.json()["violations"]] == ["commercial_use_not_allowed"]
    set_profile(users, commercial_use=False)
    assert client_for("creator").post(f"/api/v1/assets/{asset.pk}/submit-for-review/").status_code == 200


def test_approval_checks_the_policy_again(client_for, users) -> None:
    asset = make_asset(users["creator"], license=SD35_COMMUNITY)
    review.submit_for_review(asset.pk, acting_user=users["creator"])
    set_profile(users, revenue_band="over_10m")  # the organisation grew meanwhile
    response = client_for("reviewer").post(f"/api/v1/assets/{asset.pk}/approve/")
    assert response.status_code == 422
    assert response.json()["violations"][0]["rule"] == "revenue_ceiling_exceeded"
    assert Asset.objects.get(pk=asset.pk).status == "in_review"


def approved(users, license=None) -> Asset:
    asset = make_asset(users["creator"], license=license)
    review.submit_for_review(asset.pk, acting_user=users["creator"])
    return review.approve(asset.pk, acting_user=users["reviewer"])


def test_export_for_use_carries_licence_and_attribution_and_is_audited(client_for, users) -> None:
    asset = approved(users, SD35_COMMUNITY)
    response = client_for("viewer").get(f"/api/v1/assets/{asset.pk}/export/")
    assert response.status_code == 200
    assert response["X-Attribution"] == "Powered by Stability AI"
    assert response["X-License"] == "LicenseRef-Stability-AI-Community"
    assert "attachment" in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == asset.file.storage.open(asset.file.name).read()
    (event,) = AuditEvent.objects.filter(action="asset.exported")
    assert event.actor == "vera" and event.data["purpose"] == "commercial"


def test_export_for_a_forbidden_purpose_is_refused_naming_the_rule(client_for, users) -> None:
    asset = approved(users, SD35_COMMUNITY)
    response = client_for("reviewer").get(f"/api/v1/assets/{asset.pk}/export/", {"purpose": "training"})
    assert response.status_code == 422
    assert response.json()["violations"][0]["rule"] == "training_not_allowed"
    set_profile(users, revenue_band="over_10m")
    response = client_for("creator").get(f"/api/v1/assets/{asset.pk}/export/")
    assert (
        response.status_code == 422 and response.json()["violations"][0]["rule"] == "revenue_ceiling_exceeded"
    )
    assert not AuditEvent.objects.filter(action="asset.exported").exists()


def test_export_needs_an_approved_asset_and_a_known_purpose(client_for, users) -> None:
    draft = make_asset(users["creator"])
    response = client_for("creator").get(f"/api/v1/assets/{draft.pk}/export/")
    assert response.status_code == 409 and "approved" in response.json()["detail"]
    asset = approved(users)
    response = client_for("creator").get(f"/api/v1/assets/{asset.pk}/export/", {"purpose": "resale"})
    assert response.status_code == 400 and "purpose" in response.json()["errors"]


def test_review_panel_shows_the_broken_rule_instead_of_the_approve_button(client, users) -> None:
    asset = make_asset(users["creator"], license=SD35_COMMUNITY)
    review.submit_for_review(asset.pk, acting_user=users["creator"])
    client.force_login(users["reviewer"])
    assert b">Approve<" in client.get(f"/assets/{asset.pk}/review/").content
    set_profile(users, revenue_band="over_10m")
    panel = client.get(f"/assets/{asset.pk}/review/").content
    assert b"revenue_ceiling_exceeded" in panel and b">Approve<" not in panel
    assert b">Reject<" in panel  # rejecting is still possible


# --- malformed licence snapshots fail closed ------------------------------------------------


@pytest.mark.parametrize(
    ("ceiling", "band", "rules"),
    [
        (1_000_000.0, "1m_to_10m", ["revenue_ceiling_exceeded"]),  # a float is a ceiling too
        (1e6, "under_1m", []),
        ("1000000", "1m_to_10m", ["revenue_ceiling_exceeded"]),
        ("2.5e7", "1m_to_10m", []),
        ("lots", "under_1m", ["license_malformed"]),
        (float("nan"), "under_1m", ["license_malformed"]),
        (-5, "under_1m", ["license_malformed"]),
        (True, "under_1m", ["license_malformed"]),
        ([1_000_000], "under_1m", ["license_malformed"]),
        (None, "over_10m", []),
    ],
)
def test_revenue_ceilings_are_coerced_or_refused_never_skipped(ceiling, band, rules) -> None:
    snapshot = {**SD35, "revenue_ceiling_usd": ceiling}
    assert [v.rule for v in policy.check(snapshot, Profile(True, band), "commercial")] == rules
    # An enterprise licence lifts the licence's own limits, malformed or not.
    assert policy.check(snapshot, Profile(True, band, {SD35["spdx_id"]}), "commercial") == []


def test_training_and_commercial_use_need_an_explicit_true() -> None:
    no_training_field = {k: v for k, v in MIT.items() if k != "allows_training"}
    assert [v.rule for v in policy.check(no_training_field, Profile(), "training")] == [
        "training_not_allowed"
    ]
    assert policy.check({**MIT, "allows_training": True}, Profile(), "training") == []
    assert [v.rule for v in policy.check({**MIT, "allows_training": "yes"}, Profile(), "training")] == [
        "training_not_allowed"
    ]
    assert [v.rule for v in policy.check({**MIT, "commercial_use": "false"}, Profile(), "commercial")] == [
        "commercial_use_not_allowed"
    ]


def test_purpose_strictness() -> None:
    assert policy.is_less_strict("non_commercial", "commercial")
    assert policy.is_less_strict("training", "commercial")
    assert not policy.is_less_strict("commercial", "commercial")
    assert not policy.is_less_strict("commercial", "non_commercial")
    assert not policy.is_less_strict("training", "non_commercial")


# --- who may choose the export purpose --------------------------------------------------------


def approved_non_commercial(users) -> Asset:
    """A CC BY-NC asset approved while the organisation was non-commercial; it is commercial now."""
    set_profile(users, commercial_use=False)
    asset = approved(users, NON_COMMERCIAL)
    set_profile(users, commercial_use=True)
    return asset


@pytest.mark.parametrize("role", ["viewer", "creator"])
@pytest.mark.parametrize("purpose", ["non_commercial", "training"])
def test_only_reviewers_and_admins_choose_a_less_strict_export_purpose(
    client_for, users, role, purpose
) -> None:
    asset = approved_non_commercial(users)
    response = client_for(role).get(f"/api/v1/assets/{asset.pk}/export/", {"purpose": purpose})
    assert response.status_code == 403 and "reviewers and admins" in response.json()["detail"]
    assert not AuditEvent.objects.filter(action="asset.exported").exists()
    # The organisation's own purpose (or none) is still anyone's to ask for: here refused by policy.
    response = client_for(role).get(f"/api/v1/assets/{asset.pk}/export/", {"purpose": "commercial"})
    assert response.status_code == 422


@pytest.mark.parametrize("role", ["reviewer", "admin"])
def test_a_reviewer_may_export_for_a_less_strict_purpose_and_it_is_audited(client_for, users, role) -> None:
    asset = approved_non_commercial(users)
    response = client_for(role).get(f"/api/v1/assets/{asset.pk}/export/", {"purpose": "non_commercial"})
    assert response.status_code == 200
    (event,) = AuditEvent.objects.filter(action="asset.exported")
    assert event.data["purpose"] == "non_commercial"
    assert event.data["organisation_purpose"] == "commercial"
    assert event.data["purpose_chosen_by_caller"] is True


def test_a_non_commercial_organisation_lets_anyone_pick_any_purpose(client_for, users) -> None:
    set_profile(users, commercial_use=False)
    asset = approved(users)
    response = client_for("viewer").get(f"/api/v1/assets/{asset.pk}/export/", {"purpose": "training"})
    assert response.status_code == 200
    (event,) = AuditEvent.objects.filter(action="asset.exported")
    assert event.data["purpose"] == "training" and event.data["organisation_purpose"] == "non_commercial"
