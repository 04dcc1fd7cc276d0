"""``/api/v1/checklists/``, ``/api/v1/assets/{id}/checks/``, the library filter and the panel."""

from __future__ import annotations

import pytest

from acceptance import services
from acceptance.checks import CheckContext
from governance.models import AuditEvent

pytestmark = pytest.mark.django_db

ALL_CHECKS = [
    {"type": "min_resolution", "width": 256, "height": 256},
    {"type": "aspect_ratio", "ratio": "16:9"},
    {"type": "typography", "min_accuracy": 0.9},
    {"type": "max_seconds", "seconds": 60},
    {"type": "max_cost", "usd": 0.05},
    {"type": "provider_safe"},
    {"type": "provenance_intact"},
]


def test_create_list_and_show(client_for) -> None:
    created = client_for("creator").post(
        "/api/v1/checklists/", {"name": "Posters", "checks": ALL_CHECKS}, format="json"
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["version"] == 1 and [c["type"] for c in body["checks"]] == [c["type"] for c in ALL_CHECKS]
    assert body["checks"][1] == {"type": "aspect_ratio", "ratio": "16:9", "tolerance": 0.01}
    listed = client_for("viewer").get("/api/v1/checklists/").json()
    assert [c["name"] for c in listed["results"]] == ["Posters"]
    assert client_for("viewer").get(f"/api/v1/checklists/{body['id']}/").json()["checks"] == body["checks"]
    assert AuditEvent.objects.filter(action="checklist.created", target_id=str(body["id"])).exists()


@pytest.mark.parametrize(
    ("checks", "field"),
    [
        (
            [
                {"type": "min_resolution", "width": 1, "height": 1},
                {"type": "min_resolution", "width": 1, "height": 1},
                {"type": "aspect_ratio"},
            ],
            "checks[2].ratio",
        ),
        ([{"type": "aspect_ratio", "ratio": "wide"}], "checks[0].ratio"),
        ([{"type": "teleport"}], "checks[0].type"),
        ([{"width": 3}], "checks[0].type"),
        ([{"type": "min_resolution", "width": "big", "height": 1}], "checks[0].width"),
        ([{"type": "max_cost", "usd": -1}], "checks[0].usd"),
        ([{"type": "typography", "min_accuracy": True}], "checks[0].min_accuracy"),
        ([], "checks"),
        ("min_resolution", "checks"),
        ([7], "checks[0]"),
    ],
)
def test_bad_checks_are_a_400_naming_the_field(client_for, checks, field) -> None:
    response = client_for("creator").post(
        "/api/v1/checklists/", {"name": "x", "checks": checks}, format="json"
    )
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()


def test_other_bad_bodies(client_for) -> None:
    client = client_for("creator")
    assert (
        "name" in client.post("/api/v1/checklists/", {"checks": ALL_CHECKS}, format="json").json()["errors"]
    )
    assert (
        "colour"
        in client.post(
            "/api/v1/checklists/", {"name": "a", "checks": ALL_CHECKS, "colour": 1}, format="json"
        ).json()["errors"]
    )
    assert client.post("/api/v1/checklists/", [1], format="json").status_code == 400
    client.post("/api/v1/checklists/", {"name": "dup", "checks": ALL_CHECKS}, format="json")
    again = client.post("/api/v1/checklists/", {"name": "dup", "checks": ALL_CHECKS}, format="json")
    assert again.status_code == 400 and "name" in again.json()["errors"]


def test_roles(client_for) -> None:
    assert (
        client_for("viewer")
        .post("/api/v1/checklists/", {"name": "v", "checks": ALL_CHECKS}, format="json")
        .status_code
        == 403
    )
    made = (
        client_for("creator")
        .post("/api/v1/checklists/", {"name": "c", "checks": ALL_CHECKS}, format="json")
        .json()
    )
    # Another creator may read but not revise; an admin may.
    other = client_for("creator2").patch(
        f"/api/v1/checklists/{made['id']}/", {"checks": ALL_CHECKS[:1]}, format="json"
    )
    assert other.status_code == 403
    assert (
        client_for("admin")
        .patch(f"/api/v1/checklists/{made['id']}/", {"checks": ALL_CHECKS[:1]}, format="json")
        .status_code
        == 200
    )


def test_editing_makes_a_new_version_and_old_results_keep_theirs(client_for, stored) -> None:
    client = client_for("creator")
    made = client.post(
        "/api/v1/checklists/",
        {"name": "v", "checks": [{"type": "min_resolution", "width": 64, "height": 64}]},
        format="json",
    ).json()
    from acceptance.models import Checklist

    v1 = Checklist.objects.get(pk=made["id"]).latest
    asset = stored("a sign")
    services.run_checks(v1, CheckContext(asset=asset))
    edited = client.put(
        f"/api/v1/checklists/{made['id']}/",
        {"name": "v", "checks": [{"type": "min_resolution", "width": 4096, "height": 4096}]},
        format="json",
    ).json()
    assert edited["version"] == 2 and [v["number"] for v in edited["versions"]] == [2, 1]
    # Same checks again: no new version; a rename only renames.
    same = client.patch(f"/api/v1/checklists/{made['id']}/", {"name": "renamed"}, format="json").json()
    assert same["version"] == 2 and same["name"] == "renamed"
    bad = client.put(f"/api/v1/checklists/{made['id']}/", {"name": "v"}, format="json")
    assert bad.status_code == 400 and "checks" in bad.json()["errors"]
    services.run_checks(Checklist.objects.get(pk=made["id"]).latest, CheckContext(asset=asset))
    results = client_for("viewer").get(f"/api/v1/assets/{asset.pk}/checks/").json()
    assert {(r["version"], r["check"], r["passed"]) for r in results} == {
        (1, "min_resolution", True),
        (2, "min_resolution", False),
    }
    assert all(r["checklist"] == made["id"] for r in results)
    assert AuditEvent.objects.filter(action="checklist.revised", target_id=str(made["id"])).count() == 2


def test_library_filter_and_asset_page(client_for, client, users, stored, make_checklist) -> None:
    passing, failing, unchecked = stored("a", seed=1), stored("b", seed=2), stored("c", seed=3)
    ok = make_checklist([{"type": "min_resolution", "width": 64, "height": 64}]).latest
    too_big = make_checklist([{"type": "min_resolution", "width": 4096, "height": 64}]).latest
    services.run_checks(ok, CheckContext(asset=passing))
    services.run_checks(ok, CheckContext(asset=failing))
    services.run_checks(too_big, CheckContext(asset=failing))
    viewer = client_for("viewer")

    def ids(verdict: str) -> set[str]:
        return {a["id"] for a in viewer.get(f"/api/v1/assets/?checks={verdict}").json()["results"]}

    assert ids("passed") == {str(passing.pk)}
    assert ids("failed") == {str(failing.pk)}
    assert len(viewer.get("/api/v1/assets/").json()["results"]) == 3
    bad = viewer.get("/api/v1/assets/?checks=maybe")
    assert bad.status_code == 400 and "checks" in bad.json()["errors"]
    client.force_login(users["viewer"])
    assert str(failing.pk) in client.get("/?checks=failed").content.decode()
    panel = client.get(f"/assets/{failing.pk}/checks/").content.decode()
    assert "min_resolution" in panel and "failed" in panel and "4096" in panel
    assert "No checklist has judged" in client.get(f"/assets/{unchecked.pk}/checks/").content.decode()
    assert (
        "asset-checks-panel" not in client.get(f"/assets/{unchecked.pk}/").content.decode()
    )  # the URL, not the name
    assert f"/assets/{unchecked.pk}/checks/" in client.get(f"/assets/{unchecked.pk}/").content.decode()
    assert viewer.get("/api/v1/assets/00000000-0000-0000-0000-000000000000/checks/").status_code == 404


def test_an_idempotency_key_replays_only_the_same_acceptance_request(
    users, procedural, make_checklist
) -> None:
    """A key sent again with another checklist, text or attempts is a conflict, not the first job."""
    from generation import services as generation

    first_list = make_checklist([{"type": "min_resolution", "width": 64, "height": 64}])
    other_list = make_checklist([{"type": "min_resolution", "width": 32, "height": 32}])
    asked = {"prompt": "a red kite", "seed": 3, "checklist": first_list.pk, "max_attempts_to_pass": 2}

    job, created = generation.submit(
        acting_user=users["creator"], plugin_id="procedural", fields=asked, idempotency_key="k-1"
    )
    assert created
    again, created_again = generation.submit(
        acting_user=users["creator"], plugin_id="procedural", fields=dict(asked), idempotency_key="k-1"
    )
    assert (again.pk, created_again) == (job.pk, False)

    for changed in (
        {"checklist": other_list.pk},
        {"max_attempts_to_pass": 3},
        {"expected_text": "KITE"},
        {"checklist": None, "max_attempts_to_pass": None},
    ):
        fields = {k: v for k, v in {**asked, **changed}.items() if v is not None}
        with pytest.raises(generation.IdempotencyConflict):
            generation.submit(
                acting_user=users["creator"], plugin_id="procedural", fields=fields, idempotency_key="k-1"
            )
