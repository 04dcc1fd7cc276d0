"""Benchmarks: prompts x plugins x seeds through the normal job path, and the scorecard that
tells a plugin that renders the expected text from one that does not."""

from __future__ import annotations

import csv
import io

import pytest

from generation.models import GenerationJob
from governance.models import AuditEvent
from scorecards import prompt_sets
from scorecards.export import chart_svg, safe_cell, scorecard_csv
from scorecards.scorecard import percentile
from tests.conftest import wait_for


@pytest.fixture
def typography_checklist(client_for) -> int:
    response = client_for("creator").post(
        "/api/v1/checklists/",
        {
            "name": "Typography",
            "checks": [
                {"type": "typography", "min_accuracy": 0.9},
                {"type": "min_resolution", "width": 128, "height": 128},
            ],
        },
        format="json",
    )
    return int(response.json()["id"])


def test_the_built_in_prompt_set_loads() -> None:
    prompts = prompt_sets.available()["typography-v1"]
    assert len(prompts) >= 20
    assert all(p["expected_text"] and p["expected_text"] in p["prompt"] for p in prompts)
    assert len({p["expected_text"] for p in prompts}) == len(prompts)


@pytest.mark.integration
def test_a_typography_benchmark_tells_the_plugins_apart(
    celery_worker, client_for, procedural, enable_plugin, typography_checklist
) -> None:
    enable_plugin("dummy")
    client = client_for("creator")
    chosen = prompt_sets.available()["typography-v1"][:3]
    created = client.post(
        "/api/v1/benchmarks/",
        {
            "name": "Type test",
            "checklist": typography_checklist,
            "prompts": chosen,
            "plugins": ["procedural", "dummy"],
            "seeds": [11],
            "width": 256,
            "height": 256,
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    benchmark = created.json()
    assert benchmark["status"] == "running" and len(benchmark["scorecard"]) == 2
    assert GenerationJob.objects.filter(benchmark_cell__benchmark_id=benchmark["id"]).count() == 6
    url = f"/api/v1/benchmarks/{benchmark['id']}/"
    done = wait_for(lambda: (b := client.get(url).json())["status"] == "finished" and b, timeout=120)
    rows = {row["plugin"]: row for row in done["scorecard"]}
    good, bad = rows["procedural"], rows["dummy"]
    assert good["model"]["name"] == "hallmark-procedural" and good["model"]["weights_fingerprint"].startswith(
        "sha256:"
    )
    assert bad["model"]["name"] == "dummy-tiles"
    assert good["images"] == bad["images"] == 3
    assert good["typography_accuracy"]["mean"] >= 0.9 and good["pass_rate"] >= 2 / 3
    assert bad["typography_accuracy"]["mean"] == 0.0 and bad["typography_accuracy"]["worst"] == 0.0
    assert bad["pass_rate"] == 0.0 and bad["failures"] == {"check:typography": 3}
    assert good["cost_per_accepted_usd"] == 0.0 and bad["cost_per_accepted_usd"] is None
    assert good["p50_ms"] is not None and good["p95_ms"] >= good["p50_ms"]
    assert AuditEvent.objects.filter(action="benchmark.created", target_id=str(benchmark["id"])).exists()

    exported = client_for("viewer").get(f"/api/v1/benchmarks/{benchmark['id']}/scorecard.csv")
    assert exported.status_code == 200 and exported["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert [r["plugin"] for r in table] == ["procedural", "dummy"]
    assert table[1]["pass_rate"] == "0.0" and table[1]["failures"] == "check:typography=3"

    viewer = client_for("viewer")
    assert [b["id"] for b in viewer.get("/api/v1/benchmarks/").json()["results"]] == [benchmark["id"]]


@pytest.mark.django_db
def test_benchmark_pages(client, users, client_for, procedural, typography_checklist) -> None:
    created = (
        client_for("creator")
        .post(
            "/api/v1/benchmarks/",
            {
                "name": "Page <test>",
                "checklist": typography_checklist,
                "prompt_set": "typography-v1",
                "plugins": ["procedural"],
                "seeds": [1],
                "width": 128,
                "height": 128,
            },
            format="json",
        )
        .json()
    )
    assert len(created["scorecard"]) == 1 and created["scorecard"][0]["cells"] == len(
        prompt_sets.available()["typography-v1"]
    )
    client.force_login(users["viewer"])
    listed = client.get("/benchmarks/").content.decode()
    assert f"/benchmarks/{created['id']}/" in listed and "Page &lt;test&gt;" in listed
    page = client.get(f"/benchmarks/{created['id']}/").content.decode()
    assert "<svg" in page and "Pass rate against cost per accepted image" in page and "running" in page
    assert "OPEN LATE" in page and "scorecard.csv" in page
    client.force_login(users["nobody"])
    assert client.get(f"/benchmarks/{created['id']}/").status_code == 403


@pytest.mark.django_db
def test_bad_benchmarks_are_400s_naming_the_field(
    client_for, procedural, typography_checklist, settings
) -> None:
    client = client_for("creator")
    base = {
        "name": "b",
        "checklist": typography_checklist,
        "prompts": [{"prompt": "x", "expected_text": "x"}],
        "plugins": ["procedural"],
        "seeds": [1],
    }

    def errors(**changes):
        body = {**base, **changes}
        body = {k: v for k, v in body.items() if v is not None}
        response = client.post("/api/v1/benchmarks/", body, format="json")
        assert response.status_code == 400, response.json()
        return set(response.json()["errors"])

    assert errors(checklist=12345) == {"checklist"}
    assert errors(plugins=["procedural", "no-such-plugin"]) == {"plugins[1]"}
    assert errors(prompt_set="typography-v1") == {"prompts"}
    assert errors(prompts=None, prompt_set="nope") == {"prompt_set"}
    assert errors(prompts=[{"prompt": ""}]) == {"prompts[0].prompt"}
    assert errors(seeds=[1, 1]) == {"seeds"}
    assert errors(seeds=[-1]) == {"seeds"}
    assert errors(width=4000) == {"plugins[0]"}  # beyond what the plugin can make
    assert errors(width=9999) == {"width"}
    assert errors(colour="red") == {"colour"}
    settings.HALLMARK_BENCHMARK_MAX_CELLS = 4
    too_many = client.post("/api/v1/benchmarks/", {**base, "seeds": [1, 2, 3, 4, 5]}, format="json")
    assert too_many.status_code == 400 and "5 cells" in too_many.json()["errors"]["seeds"][0]
    assert client_for("viewer").post("/api/v1/benchmarks/", base, format="json").status_code == 403
    assert client_for("viewer").get("/api/v1/benchmarks/999/").status_code == 404


def test_csv_cells_cannot_start_a_formula() -> None:
    assert safe_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert [safe_cell(v) for v in ("+1", "-1", "@x", "\tx", "plain", None, 0.5, 3)] == [
        "'+1",
        "'-1",
        "'@x",
        "'\tx",
        "plain",
        "",
        "0.5",
        "3",
    ]
    row = {
        "plugin": "p",
        "model": {"name": "=cmd|' /C calc'!A0", "version": "1", "weights_fingerprint": "sha256:x"},
        "cells": 1,
        "images": 1,
        "accepted": 0,
        "pass_rate": 0.0,
        "typography_accuracy": {"mean": None, "worst": None},
        "p50_ms": 1.0,
        "p95_ms": 1.0,
        "failures": {"-bad": 1},
        "cost_per_image_usd": None,
        "cost_per_accepted_usd": None,
    }
    [parsed] = list(csv.DictReader(io.StringIO(scorecard_csv([row]))))
    assert parsed["model"].startswith("'=") and parsed["failures"] == "'-bad=1"


def test_chart_and_percentiles() -> None:
    assert percentile([], 0.5) is None
    assert (
        percentile([5.0, 1.0, 3.0], 0.5) == 3.0
        and percentile([float(i) for i in range(1, 101)], 0.95) == 95.0
    )
    rows = [
        {"plugin": "a", "model": {"name": "<b>"}, "pass_rate": 1.0, "cost_per_accepted_usd": 0.02},
        {"plugin": "b", "model": {"name": "m"}, "pass_rate": 0.0, "cost_per_accepted_usd": None},
    ]
    svg = chart_svg(rows)
    assert (
        svg.count("<circle") == 2 and "&lt;b&gt; (a)" in svg and "none accepted" in svg and "<b>" not in svg
    )
