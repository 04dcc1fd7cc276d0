"""The compare, experiments and experiment pages, and the asset page's re-run and "try this
prompt with another model" actions, through Django's test client."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from generation.models import GenerationJob
from governance.models import AuditEvent
from tests.governance.audit_helpers import make_asset
from workspace.models import Experiment


@pytest.fixture
def two_plugins(enable_plugin: Any) -> list[str]:
    enable_plugin("procedural")
    enable_plugin("dummy", config={"label": "compare"})
    return ["procedural", "dummy"]


def _page_client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_compare_form_is_prefilled_from_the_query_and_makes_an_experiment(users, two_plugins) -> None:
    client = _page_client(users["creator"])
    form = client.get("/compare/?prompt=a%20paper%20crane&plugins=dummy&seed=42")
    assert form.status_code == 200
    values = form.context["values"]
    assert (values["prompt"], values["plugins"], values["seeds"]) == ("a paper crane", ["dummy"], "42")
    html = form.content.decode()
    assert 'value="dummy" checked' in html and 'value="procedural">' in html
    assert '<label for="f-seeds">Seeds</label>' in html

    made = client.post(
        "/compare/",
        {
            "prompt": "a paper crane",
            "plugins": ["dummy", "procedural"],
            "seeds": "42, 43",
            "width": "64",
            "height": "64",
        },
    )
    experiment = Experiment.objects.get()
    assert made.status_code == 302 and made["Location"] == f"/experiments/{experiment.pk}/"
    assert sorted(experiment.cells.values_list("plugin_id", "seed")) == [
        ("dummy", 42),
        ("dummy", 43),
        ("procedural", 42),
        ("procedural", 43),
    ]
    page = client.get(made["Location"])
    assert page.status_code == 200 and page.context["status"] == "running"
    html = page.content.decode()
    # Every cell polls for itself while its job runs; the slider and extend form are there.
    assert html.count('hx-trigger="every 1s"') == 4
    assert 'type="range"' in html and "js/compare.js" in html and "Add seeds" in html
    assert f'action="/experiments/{experiment.pk}/extend/"' in html
    cell = experiment.cells.first()
    partial = client.get(f"/experiments/{experiment.pk}/cells/{cell.pk}/")
    assert partial.status_code == 200 and f'id="cell-{cell.pk}"' in partial.content.decode()
    assert client.get(f"/experiments/{experiment.pk}/cells/999999/").status_code == 404

    # Extend from the page: a new seed for both models.
    extended = client.post(f"/experiments/{experiment.pk}/extend/", {"seeds": "44"})
    assert extended.status_code == 302 and experiment.cells.count() == 6


def test_compare_form_shows_errors_beside_fields_and_submits_nothing(users, two_plugins) -> None:
    client = _page_client(users["creator"])
    response = client.post(
        "/compare/", {"prompt": "", "plugins": ["procedural", "nope"], "seeds": "x", "params": "{"}
    )
    assert response.status_code == 400
    assert set(response.context["errors"]) == {"params"}  # unreadable JSON is reported before the rest
    response = client.post(
        "/compare/", {"prompt": "kite", "plugins": ["procedural", "dummy"], "seeds": "1, x"}
    )
    assert response.status_code == 400 and set(response.context["errors"]) == {"seeds"}
    response = client.post("/compare/", {"prompt": "kite", "plugins": ["procedural", "nope"], "seeds": "1"})
    assert response.status_code == 400 and set(response.context["errors"]) == {"plugins"}
    assert 'data-field="plugins"' in response.content.decode()
    steps = client.post(
        "/compare/",
        {"prompt": "kite", "plugins": ["procedural"], "seeds": "1", "params": '{"procedural": {"steps": 0}}'},
    )
    assert steps.status_code == 400 and "params.procedural.steps" in steps.content.decode()
    assert not GenerationJob.objects.exists() and not Experiment.objects.exists()
    # Comparing runs jobs: a creator's (or an admin's) page.
    assert _page_client(users["viewer"]).get("/compare/").status_code == 403
    assert _page_client(users["nobody"]).get("/compare/").status_code == 403


def test_comparing_assets_history_and_winner_from_pages(users) -> None:
    first, second = make_asset(users["creator"], prompt="a tin robot"), make_asset(users["creator"], seed=8)
    client = _page_client(users["creator"])
    # Ticked in the library, they open the compare form.
    ticked = client.post("/library/bulk/", {"action": "compare", "assets": [str(first.pk), str(second.pk)]})
    assert ticked.status_code == 302 and ticked["Location"] == f"/compare/?assets={first.pk}%2C{second.pk}"
    form = client.get(ticked["Location"])
    assert [a.pk for a in form.context["compared"]] == [first.pk, second.pk]
    made = client.post("/compare/", {"assets": [str(first.pk), str(second.pk)]})
    experiment = Experiment.objects.get()
    assert made["Location"] == f"/experiments/{experiment.pk}/"
    page = client.get(made["Location"]).content.decode()
    assert page.count("Mark winner</button>") == 2 and "hx-trigger" not in page
    assert f'action="/experiments/{experiment.pk}/winner/"' in page
    assert client.post(f"/experiments/{experiment.pk}/winner/", {"asset": str(second.pk)}).status_code == 302
    experiment.refresh_from_db()
    assert experiment.winner_id == second.pk and experiment.winner_by_id == users["creator"].pk
    assert "★ Winner" in client.get(made["Location"]).content.decode()
    # Another creator may not pick the winner (the refusal page carries the status).
    assert (
        _page_client(users["creator2"])
        .post(f"/experiments/{experiment.pk}/winner/", {"asset": str(first.pk)})
        .status_code
        == 403
    )

    viewer = _page_client(users["viewer"])
    history = viewer.get("/experiments/?q=robot")
    assert history.status_code == 200 and [e.pk for e, _ in history.context["rows"]] == [experiment.pk]
    assert f'href="/experiments/{experiment.pk}/"' in history.content.decode()
    assert viewer.get("/experiments/?q=submarine").context["rows"] == []
    assert viewer.get("/experiments/?created_by=cleo").context["rows"] == []
    assert "Mark winner" not in viewer.get(f"/experiments/{experiment.pk}/").content.decode()
    assert viewer.get("/experiments/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_asset_page_reruns_the_same_request_and_links_to_compare(users, procedural) -> None:
    from generation import runner
    from generation import services as generation_services

    made, _ = generation_services.submit(
        acting_user=users["creator2"],
        plugin_id="procedural",
        fields={"prompt": "a glass whale", "seed": 11, "width": 64, "height": 64, "params": {"steps": 2}},
    )
    runner.run(str(made.pk))
    asset = made.assets.get()
    assert set(asset.params) > {"steps"}  # the plugin reported more than was asked
    client = _page_client(users["creator"])
    html = client.get(f"/assets/{asset.pk}/").content.decode()
    assert f'action="/assets/{asset.pk}/rerun/"' in html
    assert f"/compare/?from_asset={asset.pk}" in html
    response = client.post(f"/assets/{asset.pk}/rerun/")
    job = GenerationJob.objects.exclude(pk=asset.job_id).get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    assert (job.prompt, job.seed, job.width, job.height, job.plugin_id) == (
        "a glass whale",
        11,
        64,
        64,
        "procedural",
    )
    assert job.params == made.params and job.requested_by_id == users["creator"].pk
    assert AuditEvent.objects.filter(action="generation.requested", target_id=str(job.pk)).exists()
    # Viewers see neither action and may not re-run.
    assert "rerun" not in _page_client(users["viewer"]).get(f"/assets/{asset.pk}/").content.decode()
    assert _page_client(users["viewer"]).post(f"/assets/{asset.pk}/rerun/").status_code == 403
