"""The roles matrix: every API action and page called as every role (docs/roles.md).

``MATRIX`` is the single table the parametrised test is driven from; ``test_docs_mirror_the_matrix``
fails when docs/roles.md says anything else. Allowed means a 2xx answer (the setup makes each
call valid); refused means 403 (API, and pages for a logged-in user without the role). A user
with no role is refused everything but the public rows and the verify rows (``SIGNED_IN``); anonymous callers get 401/403 from the
API and a redirect to the login page from pages.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from assets import retention, review
from generation import services as generation_services
from governance.audit_trail import record_event
from routing import budgets as routing_budgets
from routing import policies as routing_policies
from tests.conftest import ROOT
from tests.governance.audit_helpers import fast_passwords, make_asset  # noqa: F401
from workspace import experiments
from workspace import services as workspace_services

Y, N = True, False
ROLES = ("viewer", "creator", "reviewer", "admin")

# action, method, path, setup, body, viewer, creator, reviewer, admin, public
# setup: which objects the call needs; {asset}/{job}/{seq} in the path are filled from it.
MATRIX = [
    ("list generations", "GET", "/api/v1/generations/", None, None, Y, Y, Y, Y),
    (
        "submit a generation",
        "POST",
        "/api/v1/generations/",
        None,
        {"plugin": "procedural", "prompt": "matrix"},
        N,
        Y,
        N,
        Y,
    ),
    ("show a generation", "GET", "/api/v1/generations/{job}/", "job", None, Y, Y, Y, Y),
    ("cancel a generation", "POST", "/api/v1/generations/{job}/cancel/", "job", None, N, Y, N, Y),
    ("list assets", "GET", "/api/v1/assets/", "draft", None, Y, Y, Y, Y),
    ("show an asset", "GET", "/api/v1/assets/{asset}/", "draft", None, Y, Y, Y, Y),
    ("download an asset's file", "GET", "/api/v1/assets/{asset}/file/", "draft", None, Y, Y, Y, Y),
    ("download an asset's thumbnail", "GET", "/api/v1/assets/{asset}/thumbnail/", "draft", None, Y, Y, Y, Y),
    ("check an asset's provenance", "GET", "/api/v1/assets/{asset}/provenance/", "draft", None, Y, Y, Y, Y),
    (
        "export an approved asset for use",
        "GET",
        "/api/v1/assets/{asset}/export/",
        "approved",
        None,
        Y,
        Y,
        Y,
        Y,
    ),
    ("download an evidence pack", "GET", "/api/v1/assets/{asset}/evidence/", "draft", None, N, N, Y, Y),
    (
        "submit an asset for review",
        "POST",
        "/api/v1/assets/{asset}/submit-for-review/",
        "draft",
        None,
        N,
        Y,
        N,
        Y,
    ),
    ("approve an asset", "POST", "/api/v1/assets/{asset}/approve/", "in_review", None, N, N, Y, Y),
    (
        "reject an asset",
        "POST",
        "/api/v1/assets/{asset}/reject/",
        "in_review",
        {"reason": "matrix"},
        N,
        N,
        Y,
        Y,
    ),
    ("archive an asset", "POST", "/api/v1/assets/{asset}/archive/", "approved", None, N, N, Y, Y),
    (
        "place or release a legal hold",
        "POST",
        "/api/v1/assets/{asset}/legal-hold/",
        "draft",
        {"hold": True, "reason": "matrix"},
        N,
        N,
        Y,
        Y,
    ),
    ("delete an asset", "DELETE", "/api/v1/assets/{asset}/", "draft", None, N, Y, N, Y),
    ("list plugins", "GET", "/api/v1/plugins/", None, None, Y, Y, Y, Y),
    ("show a plugin", "GET", "/api/v1/plugins/procedural/", None, None, Y, Y, Y, Y),
    (
        "enable, disable or configure a plugin",
        "PATCH",
        "/api/v1/plugins/procedural/",
        None,
        {"enabled": True},
        N,
        N,
        N,
        Y,
    ),
    ("list audit events", "GET", "/api/v1/audit/", "event", None, N, N, Y, Y),
    ("show an audit event", "GET", "/api/v1/audit/{seq}/", "event", None, N, N, Y, Y),
    ("export the audit trail", "GET", "/api/v1/audit/export/", "event", None, N, N, Y, Y),
    ("read the licence policy", "GET", "/api/v1/policy/", None, None, Y, Y, Y, Y),
    (
        "change the licence policy",
        "PUT",
        "/api/v1/policy/",
        None,
        {"commercial_use": True, "revenue_band": "1m_to_10m", "enterprise_licenses": []},
        N,
        N,
        N,
        Y,
    ),
    ("verify any image's provenance", "POST", "/api/v1/provenance/verify/", "upload", None, Y, Y, Y, Y),
    (
        "verify several images at once",
        "POST",
        "/api/v1/provenance/verify/batch/",
        "upload",
        None,
        Y,
        Y,
        Y,
        Y,
    ),
    ("OpenAPI schema", "GET", "/api/schema/", None, None, Y, Y, Y, Y),
    ("liveness probe", "GET", "/healthz", None, None, Y, Y, Y, Y),
    ("readiness probe", "GET", "/readyz", None, None, Y, Y, Y, Y),
    ("tag an asset", "POST", "/api/v1/assets/{asset}/tags/", "draft", {"tags": ["matrix"]}, N, Y, N, Y),
    ("untag an asset", "DELETE", "/api/v1/assets/{asset}/tags/", "draft", {"tags": ["matrix"]}, N, Y, N, Y),
    (
        "promote an asset",
        "POST",
        "/api/v1/assets/{asset}/promote/",
        "draft",
        {"plugin": "procedural", "mode": "rerender"},
        N,
        Y,
        N,
        Y,
    ),
    ("list collections", "GET", "/api/v1/collections/", "collection", None, Y, Y, Y, Y),
    ("make a collection", "POST", "/api/v1/collections/", None, {"name": "matrix"}, N, Y, N, Y),
    ("show a collection", "GET", "/api/v1/collections/{collection}/", "collection", None, Y, Y, Y, Y),
    (
        "add assets to a collection",
        "POST",
        "/api/v1/collections/{collection}/assets/",
        "collection",
        {"assets": ["{asset}"]},
        N,
        Y,
        N,
        Y,
    ),
    (
        "remove assets from a collection",
        "DELETE",
        "/api/v1/collections/{collection}/assets/",
        "collection",
        {"assets": ["{asset}"]},
        N,
        Y,
        N,
        Y,
    ),
    ("export a collection as a zip", "POST", "/api/v1/collections/{collection}/export/", "collection", {}, Y, Y, Y, Y),
    ("export assets as a zip", "POST", "/api/v1/exports/", "draft", {"assets": ["{asset}"]}, Y, Y, Y, Y),
    ("list routing policies", "GET", "/api/v1/routing-policies/", "policy", None, Y, Y, Y, Y),
    ("show a routing policy", "GET", "/api/v1/routing-policies/{policy}/", "policy", None, Y, Y, Y, Y),
    (
        "make a routing policy",
        "POST",
        "/api/v1/routing-policies/",
        None,
        {"name": "made", "tiers": {"draft": ["procedural"]}},
        N,
        N,
        N,
        Y,
    ),
    (
        "replace a routing policy",
        "PUT",
        "/api/v1/routing-policies/{policy}/",
        "policy",
        {"name": "matrix", "tiers": {"final": ["procedural"]}},
        N,
        N,
        N,
        Y,
    ),
    (
        "change a routing policy",
        "PATCH",
        "/api/v1/routing-policies/{policy}/",
        "policy",
        {"default": True},
        N,
        N,
        N,
        Y,
    ),
    ("delete a routing policy", "DELETE", "/api/v1/routing-policies/{policy}/", "policy", None, N, N, N, Y),
    ("list circuit breakers", "GET", "/api/v1/routing/breakers/", None, None, Y, Y, Y, Y),
    ("list budgets", "GET", "/api/v1/budgets/", "budget", None, N, N, N, Y),
    (
        "set a budget",
        "POST",
        "/api/v1/budgets/",
        None,
        {"user": "carl", "monthly_limit_usd": "10"},
        N,
        N,
        N,
        Y,
    ),
    ("remove a budget", "DELETE", "/api/v1/budgets/{budget}/", "budget", None, N, N, N, Y),
    ("read spend per user and plugin", "GET", "/api/v1/spend/", None, None, N, N, N, Y),
    ("list experiments", "GET", "/api/v1/experiments/", "experiment", None, Y, Y, Y, Y),
    (
        "run an experiment",
        "POST",
        "/api/v1/experiments/",
        None,
        {"prompt": "matrix", "plugins": ["procedural"], "seeds": [1]},
        N,
        Y,
        N,
        Y,
    ),
    ("show an experiment", "GET", "/api/v1/experiments/{experiment}/", "experiment", None, Y, Y, Y, Y),
    (
        "extend an experiment",
        "POST",
        "/api/v1/experiments/{experiment}/cells/",
        "experiment",
        {"seeds": [2]},
        N,
        Y,
        N,
        Y,
    ),
    (
        "mark an experiment's winner",
        "POST",
        "/api/v1/experiments/{experiment}/winner/",
        "experiment",
        {"asset": "{asset}"},
        N,
        Y,
        N,
        Y,
    ),
    ("library page", "GET", "/", "draft", None, Y, Y, Y, Y),
    ("collections page", "GET", "/collections/", None, None, Y, Y, Y, Y),
    ("collection page", "GET", "/collections/{collection}/", "collection", None, Y, Y, Y, Y),
    ("compare page", "GET", "/compare/", None, None, N, Y, N, Y),
    ("experiments page", "GET", "/experiments/", "experiment", None, Y, Y, Y, Y),
    ("experiment page", "GET", "/experiments/{experiment}/", "experiment", None, Y, Y, Y, Y),
    (
        "experiment cell panel",
        "GET",
        "/experiments/{experiment}/cells/{cell}/",
        "experiment",
        None,
        Y,
        Y,
        Y,
        Y,
    ),
    ("asset page", "GET", "/assets/{asset}/", "draft", None, Y, Y, Y, Y),
    ("asset review panel", "GET", "/assets/{asset}/review/", "draft", None, Y, Y, Y, Y),
    ("asset content-credentials panel", "GET", "/assets/{asset}/credentials/", "draft", None, Y, Y, Y, Y),
    ("asset promote page", "GET", "/assets/{asset}/promote/", "draft", None, N, Y, N, Y),
    ("asset promote panel", "GET", "/assets/{asset}/promote/panel/", "draft", None, N, Y, N, Y),
    ("generate page", "GET", "/generate/", None, None, N, Y, N, Y),
    ("generate form fields", "GET", "/generate/fields/", None, None, N, Y, N, Y),
    ("job page", "GET", "/jobs/{job}/", "job", None, Y, Y, Y, Y),
    ("job progress panel", "GET", "/jobs/{job}/progress/", "job", None, Y, Y, Y, Y),
    ("plugins page", "GET", "/plugins/", None, None, N, N, N, Y),
    ("plugin page", "GET", "/plugins/procedural/", None, None, N, N, N, Y),
    ("review queue page", "GET", "/review/", "in_review", None, N, N, Y, Y),
    ("audit log page", "GET", "/audit/", "event", None, N, N, Y, Y),
    ("verify the chain from the audit page", "POST", "/audit/verify/", "event", None, N, N, Y, Y),
    ("API docs page", "GET", "/api/docs/", None, None, Y, Y, Y, Y),
    # Acceptance checklists and benchmarks (docs/acceptance.md).
    ("list checklists", "GET", "/api/v1/checklists/", "checklist", None, Y, Y, Y, Y),
    ("make a checklist", "POST", "/api/v1/checklists/", None, {"name": "matrix", "checks": [{"type": "provider_safe"}]}, N, Y, N, Y),
    ("show a checklist", "GET", "/api/v1/checklists/{checklist}/", "checklist", None, Y, Y, Y, Y),
    ("revise a checklist", "PATCH", "/api/v1/checklists/{checklist}/", "checklist", {"checks": [{"type": "provenance_intact"}]}, N, Y, N, Y),
    ("read an asset's check results", "GET", "/api/v1/assets/{asset}/checks/", "draft", None, Y, Y, Y, Y),
    ("list benchmarks", "GET", "/api/v1/benchmarks/", "benchmark", None, Y, Y, Y, Y),
    (
        "run a benchmark",
        "POST",
        "/api/v1/benchmarks/",
        "checklist",
        {"name": "matrix", "checklist": "{checklist}", "prompts": [{"prompt": "x"}], "plugins": ["procedural"], "seeds": [1], "width": 64, "height": 64},
        N,
        Y,
        N,
        Y,
    ),
    ("show a benchmark and its scorecard", "GET", "/api/v1/benchmarks/{benchmark}/", "benchmark", None, Y, Y, Y, Y),
    ("download a scorecard as CSV", "GET", "/api/v1/benchmarks/{benchmark}/scorecard.csv", "benchmark", None, Y, Y, Y, Y),
    ("asset checks panel", "GET", "/assets/{asset}/checks/", "draft", None, Y, Y, Y, Y),
    ("checklists page", "GET", "/checklists/", "checklist", None, Y, Y, Y, Y),
    ("checklist page", "GET", "/checklists/{checklist}/", "checklist", None, Y, Y, Y, Y),
    ("benchmarks page", "GET", "/benchmarks/", None, None, Y, Y, Y, Y),
    ("benchmark page", "GET", "/benchmarks/{benchmark}/", "benchmark", None, Y, Y, Y, Y),
]
# Rows anyone may call, even without logging in.
PUBLIC = {"OpenAPI schema", "API docs page", "liveness probe", "readiness probe"}
# Rows any signed-in user may call, with no role: "did we make this?" (a match is answered
# without the asset, see docs/provenance.md).
SIGNED_IN = {"verify any image's provenance", "verify several images at once"}
# The web pages (session login); every other row is the API (token).
PAGES = {
    "/",
    "/collections/",
    "/collections/{collection}/",
    "/compare/",
    "/experiments/",
    "/experiments/{experiment}/",
    "/experiments/{experiment}/cells/{cell}/",
    "/assets/{asset}/",
    "/assets/{asset}/review/",
    "/assets/{asset}/credentials/",
    "/assets/{asset}/promote/",
    "/assets/{asset}/promote/panel/",
    "/generate/",
    "/generate/fields/",
    "/jobs/{job}/",
    "/jobs/{job}/progress/",
    "/review/",
    "/audit/",
    "/audit/verify/",
    "/plugins/",
    "/plugins/procedural/",
    "/assets/{asset}/checks/",
    "/benchmarks/",
    "/benchmarks/{benchmark}/",
    "/checklists/",
    "/checklists/{checklist}/",
}


def cells():
    for row in MATRIX:
        action, method, path, setup, body, *allowed = row
        for role, ok in zip(ROLES, allowed, strict=True):
            yield pytest.param(action, method, path, setup, body, role, ok, id=f"{action} | {role}")
        for role in ("nobody", "anonymous"):
            allowed_here = action in PUBLIC or (role == "nobody" and action in SIGNED_IN)
            yield pytest.param(
                action, method, path, setup, body, role, allowed_here, id=f"{action} | {role}"
            )


def prepare(setup: str | None, users) -> dict[str, object]:
    """The objects a call needs; assets are requested by the creator (carl)."""
    values: dict[str, object] = {}
    if setup in ("draft", "in_review", "approved"):
        asset = make_asset(users["creator"])
        if setup in ("in_review", "approved"):
            review.submit_for_review(asset.pk, acting_user=users["creator"])
        if setup == "approved":
            review.approve(asset.pk, acting_user=users["reviewer"])
        values.update(asset=asset.pk, job=asset.job_id)
    elif setup == "collection":
        asset = make_asset(users["creator"])
        collection = workspace_services.create_collection("matrix", "", acting_user=users["creator"])
        workspace_services.add_to_collection(collection.pk, [asset.pk], acting_user=users["creator"])
        values.update(asset=asset.pk, collection=collection.pk)
    elif setup == "experiment":
        asset = make_asset(users["creator"])
        other = make_asset(users["creator"], seed=8)
        experiment = experiments.create_experiment(
            {"assets": [str(asset.pk), str(other.pk)]}, acting_user=users["creator"]
        )
        values.update(asset=asset.pk, experiment=experiment.pk, cell=experiment.cells.first().pk)
    elif setup == "job":
        job, _ = generation_services.submit(
            acting_user=users["creator"], plugin_id="procedural", fields={"prompt": "queued"}
        )
        values["job"] = job.pk
    elif setup == "event":
        values["seq"] = record_event(
            "test.event", acting_user=users["admin"], target=("tests.thing", "1")
        ).seq
    elif setup == "policy":
        routing_policies.create_policy(
            {"name": "matrix", "tiers": {"draft": ["procedural"]}}, acting_user=users["admin"]
        )
        values["policy"] = "matrix"
    elif setup == "budget":
        budget, _ = routing_budgets.set_budget(
            acting_user=users["admin"], limit=Decimal("10"), user=users["creator"]
        )
        values["budget"] = budget.pk
    elif setup == "upload":
        values["upload"] = make_asset(users["creator"])
    elif setup in ("checklist", "benchmark"):
        from acceptance import services as acceptance_services
        from scorecards import services as scorecard_services

        checklist = acceptance_services.create_checklist(
            acting_user=users["creator"], name="matrix list", checks=[{"type": "provider_safe"}]
        )
        values["checklist"] = checklist.pk
        if setup == "benchmark":
            body = {"name": "m", "checklist": checklist.pk, "prompts": [{"prompt": "x"}], "plugins": ["procedural"], "seeds": [1], "width": 64, "height": 64}
            values["benchmark"] = scorecard_services.create_benchmark(acting_user=users["creator"], body=body).pk
    return values


def call(client, method: str, url: str, body, values):
    if "upload" in values:
        asset = values["upload"]
        data = asset.file.storage.open(asset.file.name).read()
        upload = SimpleUploadedFile("image.png", data, "image/png")
        return client.post(url, {"file": upload}, format="multipart")
    if body is None:
        return getattr(client, method.lower())(url)
    if "asset" in values:
        body = json.loads(json.dumps(body).replace("{asset}", str(values["asset"])))
    if "checklist" in values:
        body = json.loads(json.dumps(body).replace('"{checklist}"', str(values["checklist"])))
    return getattr(client, method.lower())(url, body, format="json")


@pytest.mark.parametrize(("action", "method", "path", "setup", "body", "role", "allowed"), list(cells()))
def test_roles_matrix(
    action, method, path, setup, body, role, allowed, users, client_for, procedural
) -> None:
    values = prepare(setup, users)
    url = path.format(**{k: v for k, v in values.items() if k != "upload"})
    page = path in PAGES
    if role == "anonymous":
        client = Client() if page else APIClient()
    elif page:
        client = Client()
        client.force_login(users[role])
    else:
        client = client_for(role)
    response = call(client, method, url, body, values)
    status = response.status_code
    if allowed:
        assert 200 <= status < 300, (
            f"{role} should be allowed to {action}: {status} {response.content[:300]!r}"
        )
    elif role == "anonymous":
        if page:
            assert status == 302 and response["Location"].startswith("/accounts/login/"), status
        else:
            assert status in (401, 403), status
    else:
        assert status == 403, f"{role} should be refused {action}: {status} {response.content[:300]!r}"


def test_docs_mirror_the_matrix() -> None:
    """docs/roles.md's table and MATRIX say the same, row for row and cell for cell."""
    text = (ROOT / "docs" / "roles.md").read_text(encoding="utf-8")
    documented = []
    for line in text.splitlines():
        cols = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cols) == 7 and cols[1].startswith("`") and cols[2] in ("✓", "✗"):
            method, _, path = cols[1].strip("`").partition(" ")
            documented.append((cols[0], method, path, *[c == "✓" for c in cols[2:6]]))
    expected = [(a, m, p, *allowed) for a, m, p, _setup, _body, *allowed in MATRIX]
    assert documented == expected
    assert len({row[0] for row in MATRIX}) == len(MATRIX)  # action names are unique


def test_every_route_is_in_the_matrix() -> None:
    """A new API route or page must be added to the matrix (and docs/roles.md)."""
    from django.urls import get_resolver

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                yield prefix + str(pattern.pattern)

    # The matrix calls the procedural plugin; the route takes any plugin id.
    covered = {re.sub(r"\{\w+\}", "X", p).replace("/procedural/", "/X/") for _, _, p, *_ in MATRIX}
    missing = []
    for route in walk(get_resolver().url_patterns):
        if (
            route.startswith(("admin/", "accounts/"))
            or "(?P<format>" in route
            or route.endswith("<drf_format_suffix:format>")
            # Not a role's: a bearer token and/or networks an operator sets (tests/operations).
            or route == "metrics"
        ):
            continue
        normal = "/" + route.replace("^", "").replace("$", "")
        normal = re.sub(r"\(\?P<\w+>[^)]*\)|<[^>]+>", "X", normal)
        # The API root; the page buttons' targets (review, the library's bulk actions, an
        # experiment's winner and extend buttons, an asset's re-run, cancel a job, enable a
        # plugin: each calls a service whose rules the rows above cover;
        # tests/workspace/test_pages.py).
        if normal in (
            "/api/v1/",
            "/assets/X/review/X/",
            "/library/bulk/",
            "/experiments/X/winner/",  # tests/workspace/test_experiments_pages.py
            "/experiments/X/extend/",
            "/assets/X/rerun/",
            "/jobs/X/cancel/",  # tests/generation/test_generate_form.py
            "/plugins/X/enabled/",  # tests/plugins/test_plugins_pages.py
        ):
            continue
        if normal not in covered:
            missing.append(normal)
    assert missing == []


# --- the statements the roles promise, spelled out ---------------------------------------------


def test_viewers_cannot_generate_or_change_plugins(client_for, procedural) -> None:
    viewer = client_for("viewer")
    assert (
        viewer.post(
            "/api/v1/generations/", {"plugin": "procedural", "prompt": "x"}, format="json"
        ).status_code
        == 403
    )
    assert viewer.patch("/api/v1/plugins/procedural/", {"enabled": False}, format="json").status_code == 403


def test_creators_cannot_approve_their_own_assets_even_as_reviewers(client_for, users) -> None:
    from django.contrib.auth.models import Group

    asset = make_asset(users["creator"])
    review.submit_for_review(asset.pk, acting_user=users["creator"])
    assert client_for("creator").post(f"/api/v1/assets/{asset.pk}/approve/").status_code == 403
    users["creator"].groups.add(Group.objects.get_or_create(name="reviewer")[0])  # now both roles
    response = client_for("creator").post(f"/api/v1/assets/{asset.pk}/approve/")
    assert response.status_code == 403 and "Four eyes" in response.json()["detail"]


def test_reviewers_approve_other_peoples_assets(client_for, users) -> None:
    asset = make_asset(users["creator"])
    review.submit_for_review(asset.pk, acting_user=users["creator"])
    response = client_for("reviewer").post(f"/api/v1/assets/{asset.pk}/approve/")
    assert response.status_code == 200 and response.json()["status"] == "approved"


def test_only_admins_change_plugins(client_for, procedural) -> None:
    for role in ("viewer", "creator", "reviewer", "nobody"):
        assert (
            client_for(role)
            .patch("/api/v1/plugins/procedural/", {"enabled": False}, format="json")
            .status_code
            == 403
        )
    response = client_for("admin").patch("/api/v1/plugins/procedural/", {"enabled": False}, format="json")
    assert response.status_code == 200 and response.json()["enabled"] is False


def test_viewers_cannot_read_the_audit_log(client, client_for, users) -> None:
    record_event("test.event", acting_user=users["admin"], target=("tests.thing", "1"))
    viewer = client_for("viewer")
    assert viewer.get("/api/v1/audit/").status_code == 403
    assert viewer.get("/api/v1/audit/1/").status_code == 403
    assert viewer.get("/api/v1/audit/export/").status_code == 403
    client.force_login(users["viewer"])
    assert client.get("/audit/").status_code == 403
    assert b'href="/audit/"' not in client.get("/").content


def _demote_to_viewer(user) -> None:
    from django.contrib.auth.models import Group

    user.groups.clear()
    user.groups.add(Group.objects.get_or_create(name="viewer")[0])


def test_a_creator_demoted_to_viewer_can_no_longer_submit_or_delete_own_drafts(client_for, users) -> None:
    from django.contrib.auth.models import User

    asset = make_asset(users["creator"])
    _demote_to_viewer(users["creator"])
    client = client_for("creator")
    response = client.post(f"/api/v1/assets/{asset.pk}/submit-for-review/")
    assert response.status_code == 403 and "creator role" in response.json()["detail"]
    response = client.delete(f"/api/v1/assets/{asset.pk}/")
    assert response.status_code == 403 and "creator role" in response.json()["detail"]
    demoted = User.objects.get(pk=users["creator"].pk)  # a fresh object: roles are cached per object
    with pytest.raises(review.NotPermitted):
        review.submit_for_review(asset.pk, acting_user=demoted)
    with pytest.raises(review.NotPermitted):
        retention.soft_delete(asset.pk, acting_user=demoted)
    assert review.allowed_actions(asset, demoted) == set()
    asset.refresh_from_db()
    assert asset.status == "draft" and asset.deleted_at is None


def test_the_organisation_profile_in_django_admin_needs_the_admin_role(client, users) -> None:
    from django.contrib.auth.models import Permission

    staff = users["reviewer"]
    staff.is_staff = True
    staff.save()
    staff.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="governance", codename__endswith="organisationprofile"
        )
    )
    client.force_login(staff)
    form = {"commercial_use": "on", "revenue_band": "over_10m", "enterprise_licenses": "[]"}
    assert client.post("/admin/governance/organisationprofile/add/", form).status_code == 403
    from governance import organisation

    organisation.update_profile(
        {"commercial_use": True, "revenue_band": "under_1m", "enterprise_licenses": []},
        acting_user=users["admin"],
    )
    profile = organisation.get_profile()
    assert client.post(f"/admin/governance/organisationprofile/{profile.pk}/change/", form).status_code == 403
    assert organisation.get_profile().revenue_band == "under_1m"
