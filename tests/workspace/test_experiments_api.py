"""``/api/v1/experiments/``: one prompt across two plugins and seeds on a real worker,
validation that names the field and submits nothing, permissions, the winner, extending, and
comparing existing assets."""

from __future__ import annotations

from typing import Any

import pytest

from assets.models import Asset
from generation.models import GenerationJob
from governance.models import AuditEvent
from tests.conftest import wait_for
from tests.governance.audit_helpers import make_asset
from workspace.models import Experiment, ExperimentCell


@pytest.fixture
def two_plugins(enable_plugin: Any) -> list[str]:
    """The procedural plugin and the test distribution's ``dummy``, both enabled."""
    enable_plugin("procedural")
    enable_plugin("dummy", config={"label": "compare"})
    return ["procedural", "dummy"]


def _body(**extra: Any) -> dict[str, Any]:
    return {"prompt": "a red kite over dunes", "plugins": ["procedural", "dummy"], "seeds": [1, 2],
            "width": 64, "height": 64, **extra}  # fmt: skip


def _done(client: Any, experiment_id: str) -> dict[str, Any] | None:
    data = client.get(f"/api/v1/experiments/{experiment_id}/").json()
    return data if data["status"] != "running" else None


@pytest.mark.integration
def test_experiment_runs_every_plugin_and_seed_then_takes_a_winner(
    celery_worker, client_for, users, two_plugins
) -> None:
    creator = client_for("creator")
    response = creator.post("/api/v1/experiments/", _body(params={"procedural": {"steps": 2}}), format="json")
    assert response.status_code == 201, response.json()
    made = response.json()
    assert [(c["plugin"], c["seed"]) for c in made["cells"]] == [
        ("procedural", 1),
        ("procedural", 2),
        ("dummy", 1),
        ("dummy", 2),
    ]
    jobs = GenerationJob.objects.filter(pk__in=[c["job"] for c in made["cells"]])
    assert jobs.count() == 4 and {j.requested_by_id for j in jobs} == {users["creator"].pk}
    assert {j.params.get("steps") for j in jobs if j.plugin_id == "procedural"} == {2}
    # Each job went the normal path: one generation.requested event each, and one for the experiment.
    assert (
        AuditEvent.objects.filter(
            action="generation.requested", target_id__in=[str(j.pk) for j in jobs]
        ).count()
        == 4
    )
    created = AuditEvent.objects.get(action="experiment.created", target_id=made["id"])
    assert len(created.data["cells"]) == 4

    data = wait_for(lambda: _done(creator, made["id"]), timeout=90)
    assert data["status"] == "succeeded"
    for cell in data["cells"]:
        job = GenerationJob.objects.get(pk=cell["job"])
        asset = Asset.objects.get(pk=cell["asset"])
        assert (asset.plugin_id, asset.seed, asset.job_id) == (cell["plugin"], cell["seed"], job.pk)
        assert cell["latency_ms"] == round((job.finished_at - job.started_at).total_seconds() * 1000)
        assert cell["cost_usd"] == (None if job.cost is None else str(job.cost))
        assert cell["model"]["fingerprint"] == asset.model_identity["fingerprint"]
    assert data["cells"][2]["model"]["name"] == "dummy-tiles"

    # The winner must be one of the cells' assets.
    stranger = make_asset(users["creator"])
    refused = creator.post(
        f"/api/v1/experiments/{made['id']}/winner/", {"asset": str(stranger.pk)}, format="json"
    )
    assert refused.status_code == 400 and set(refused.json()["errors"]) == {"asset"}
    assert (
        creator.post(
            f"/api/v1/experiments/{made['id']}/winner/", {"asset": "nope"}, format="json"
        ).status_code
        == 400
    )
    # Only its creator or an admin picks it.
    pick = {"asset": data["cells"][3]["asset"]}
    assert (
        client_for("creator2")
        .post(f"/api/v1/experiments/{made['id']}/winner/", pick, format="json")
        .status_code
        == 403
    )
    assert (
        client_for("viewer")
        .post(f"/api/v1/experiments/{made['id']}/winner/", pick, format="json")
        .status_code
        == 403
    )
    won = creator.post(f"/api/v1/experiments/{made['id']}/winner/", pick, format="json")
    assert (
        won.status_code == 200 and won.json()["winner"] == pick["asset"] and won.json()["winner_by"] == "carl"
    )
    event = AuditEvent.objects.get(action="experiment.winner", target_id=made["id"])
    assert event.data == {"asset": pick["asset"]} and event.actor == "carl"
    admin_pick = {"asset": data["cells"][0]["asset"]}
    assert (
        client_for("admin")
        .post(f"/api/v1/experiments/{made['id']}/winner/", admin_pick, format="json")
        .json()["winner"]
        == admin_pick["asset"]
    )

    # Extend with a seed: the new cells are every plugin with it.
    extended = creator.post(f"/api/v1/experiments/{made['id']}/cells/", {"seeds": [3]}, format="json")
    assert extended.status_code == 201, extended.json()
    assert [(c["plugin"], c["seed"]) for c in extended.json()["cells"][4:]] == [
        ("procedural", 3),
        ("dummy", 3),
    ]
    assert AuditEvent.objects.filter(action="experiment.extended", target_id=made["id"]).count() == 1
    again = wait_for(lambda: _done(creator, made["id"]), timeout=90)
    assert again["status"] == "succeeded" and len(again["cells"]) == 6
    nothing_new = creator.post(f"/api/v1/experiments/{made['id']}/cells/", {"seeds": [3]}, format="json")
    assert nothing_new.status_code == 400 and "plugins" in nothing_new.json()["errors"]


def test_invalid_experiments_name_the_field_and_submit_nothing(client_for, two_plugins) -> None:
    creator = client_for("creator")
    cases = {
        "plugins": _body(plugins=["procedural", "no-such-model"]),
        "seeds": _body(seeds=[1, "two"]),
        "params.sd35-medium": _body(params={"sd35-medium": {"steps": 4}}),
        "params.procedural.steps": _body(params={"procedural": {"steps": 999}}),
        "width": _body(width=72),  # a multiple of 8 for procedural, not of 16 for dummy
        "prompt": _body(prompt=""),
    }
    for field, body in cases.items():
        response = creator.post("/api/v1/experiments/", body, format="json")
        assert response.status_code == 400, (field, response.json())
        assert field in response.json()["errors"], (field, response.json())
    # Repeated and out-of-range lists, and the wrong shapes.
    for body, field in [
        (_body(plugins=["dummy", "dummy"]), "plugins"),
        (_body(plugins=[]), "plugins"),
        (_body(seeds=[-1]), "seeds"),
        (_body(seeds=list(range(9))), "seeds"),
        (_body(params=["procedural"]), "params"),
        (_body(assets=["x"]), "plugins"),
    ]:
        response = creator.post("/api/v1/experiments/", body, format="json")
        assert response.status_code == 400 and field in response.json()["errors"], (body, response.json())
    assert creator.post("/api/v1/experiments/", ["a"], format="json").status_code == 400
    assert not GenerationJob.objects.exists() and not Experiment.objects.exists()
    assert not AuditEvent.objects.filter(action__in=["generation.requested", "experiment.created"]).exists()


def test_an_experiment_over_the_queue_cap_submits_nothing(client_for, users, two_plugins, settings) -> None:
    settings.HALLMARK_MAX_QUEUED_PER_USER = 5
    creator = client_for("creator")
    first = creator.post("/api/v1/experiments/", _body(), format="json")  # 4 jobs, none run (no worker)
    assert first.status_code == 201
    second = creator.post("/api/v1/experiments/", _body(), format="json")
    assert second.status_code == 429 and second.json()["limit"] == 5
    too_big = creator.post("/api/v1/experiments/", _body(seeds=[1, 2, 3]), format="json")  # 6 > 5 ever
    assert too_big.status_code == 400 and "seeds" in too_big.json()["errors"]
    assert GenerationJob.objects.count() == 4 and Experiment.objects.count() == 1


def test_roles_list_filters_and_detail(client_for, users, two_plugins) -> None:
    assert client_for("viewer").post("/api/v1/experiments/", _body(), format="json").status_code == 403
    assert client_for("nobody").get("/api/v1/experiments/").status_code == 403
    kite = (
        client_for("creator")
        .post("/api/v1/experiments/", _body(plugins=["dummy"], seeds=[5]), format="json")
        .json()
    )
    lamp = (
        client_for("creator2")
        .post(
            "/api/v1/experiments/",
            _body(prompt="a brass lamp", plugins=["procedural"], seeds=[5]),
            format="json",
        )
        .json()
    )
    viewer = client_for("viewer")
    everything = viewer.get("/api/v1/experiments/").json()
    assert [e["id"] for e in everything["results"]] == [lamp["id"], kite["id"]]
    assert [e["id"] for e in viewer.get("/api/v1/experiments/?q=KITE").json()["results"]] == [kite["id"]]
    assert [e["id"] for e in viewer.get("/api/v1/experiments/?plugin=procedural").json()["results"]] == [
        lamp["id"]
    ]
    assert [e["id"] for e in viewer.get("/api/v1/experiments/?created_by=carl").json()["results"]] == [
        kite["id"]
    ]
    assert viewer.get("/api/v1/experiments/?q=%00").status_code == 200
    one = viewer.get(f"/api/v1/experiments/{kite['id']}/").json()
    assert (
        one["status"] == "running"
        and one["cells"][0]["asset"] is None
        and one["cells"][0]["job_status"] == "queued"
    )
    assert viewer.get("/api/v1/experiments/00000000-0000-0000-0000-000000000000/").status_code == 404
    # Extending is for its creator or an admin.
    assert (
        client_for("creator2")
        .post(f"/api/v1/experiments/{kite['id']}/cells/", {"seeds": [6]}, format="json")
        .status_code
        == 403
    )
    bad = client_for("creator").post(
        f"/api/v1/experiments/{kite['id']}/cells/", {"seeds": ["x"]}, format="json"
    )
    assert bad.status_code == 400 and "seeds" in bad.json()["errors"]
    added = client_for("admin").post(
        f"/api/v1/experiments/{kite['id']}/cells/", {"plugins": ["procedural"]}, format="json"
    )
    assert added.status_code == 201 and [c["plugin"] for c in added.json()["cells"]] == [
        "dummy",
        "procedural",
    ]


def test_existing_assets_are_compared_as_they_are(client_for, users) -> None:
    first, second = make_asset(users["creator"]), make_asset(users["creator2"])
    creator = client_for("creator")
    response = creator.post(
        "/api/v1/experiments/", {"assets": [str(first.pk), str(second.pk)]}, format="json"
    )
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["origin"] == "assets" and data["prompt"] == first.prompt and data["status"] == "succeeded"
    assert [c["asset"] for c in data["cells"]] == [str(first.pk), str(second.pk)]
    assert not GenerationJob.objects.exclude(
        pk__in=[first.job_id, second.job_id]
    ).exists()  # nothing generated
    assert (
        creator.post(
            f"/api/v1/experiments/{data['id']}/winner/", {"asset": str(second.pk)}, format="json"
        ).status_code
        == 200
    )
    one = creator.post("/api/v1/experiments/", {"assets": [str(first.pk)]}, format="json")
    assert one.status_code == 400 and "assets" in one.json()["errors"]
    mixed = creator.post(
        "/api/v1/experiments/", {"assets": [str(first.pk), str(second.pk)], "seeds": [1]}, format="json"
    )
    assert mixed.status_code == 400 and "seeds" in mixed.json()["errors"]
    assert ExperimentCell.objects.count() == 2


def test_experiments_are_in_the_openapi_schema(client_for) -> None:
    schema = client_for("viewer").get("/api/schema/?format=json").json()
    for path in (
        "/api/v1/experiments/",
        "/api/v1/experiments/{id}/",
        "/api/v1/experiments/{id}/winner/",
        "/api/v1/experiments/{id}/cells/",
    ):
        assert path in schema["paths"], path
    assert {"ExperimentCreateRequest", "Experiment", "WinnerRequest"} <= set(schema["components"]["schemas"])


def test_a_compared_asset_deleted_and_purged_leaves_a_failed_cell(client_for, users) -> None:
    from assets import retention

    first, second = make_asset(users["creator"]), make_asset(users["creator"], seed=8)
    creator = client_for("creator")
    made = creator.post(
        "/api/v1/experiments/", {"assets": [str(first.pk), str(second.pk)]}, format="json"
    ).json()
    retention.soft_delete(second.pk, acting_user=users["creator"])
    shown = creator.get(f"/api/v1/experiments/{made['id']}/").json()
    assert shown["status"] == "partial" and shown["cells"][1]["asset"] is None
    assert shown["cells"][1]["job_status"] == "failed"
    # The experiment does not keep the deleted asset from being purged.
    report = retention.purge_deleted(retention_days=0)
    assert report.purged == [str(second.pk)] and not report.skipped
    assert creator.get(f"/api/v1/experiments/{made['id']}/").json()["cells"][1]["asset"] is None


def test_the_list_reads_cells_and_assets_in_a_fixed_number_of_queries(client_for, users) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    viewer = client_for("viewer")
    creator = client_for("creator")

    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert viewer.get("/api/v1/experiments/").status_code == 200
        return len(captured.captured_queries)

    pair = [str(make_asset(users["creator"]).pk), str(make_asset(users["creator"], seed=8).pk)]
    creator.post("/api/v1/experiments/", {"assets": pair}, format="json")
    one = queries_for_list()
    for _ in range(3):
        creator.post("/api/v1/experiments/", {"assets": pair}, format="json")
    assert len(viewer.get("/api/v1/experiments/").json()["results"]) == 4
    assert queries_for_list() == one
