"""Acceptance in a real headless Chromium: define a checklist in the UI, see an image's check
results on its page, and read a benchmark's scorecard and chart on a phone-sized screen."""

from __future__ import annotations

from typing import Any

import pytest

from acceptance.models import Checklist, CheckResult
from assets.models import Asset
from generation import services
from scorecards import services as scorecard_services
from tests.conftest import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_checklist_in_the_ui_then_results_on_the_asset_page(
    open_session: Any, users: dict[str, Any], celery_worker: Any, procedural: str
) -> None:
    s = open_session()
    s.login("carl")
    s.goto("/checklists/")
    s.page.get_by_label("Name").fill("Shop signs")
    s.page.get_by_label("Typography (OCR)").check()
    s.page.get_by_label("min_accuracy").fill("0.9")
    s.page.get_by_label("Minimum resolution").check()
    s.page.get_by_label("width (required)").fill("256")
    s.page.get_by_label("height (required)").fill("256")
    with s.page.expect_navigation():
        s.page.get_by_role("button", name="Create checklist").click()
    assert "Version 1" in s.page.locator("main").inner_text()
    checklist = Checklist.objects.get(name="Shop signs")
    job, _ = services.submit(
        acting_user=users["creator"],
        plugin_id="procedural",
        fields={
            "prompt": "OPEN LATE",
            "width": 512,
            "height": 512,
            "seed": 4,
            "checklist": checklist.pk,
            "expected_text": "OPEN LATE",
        },
    )
    wait_for(lambda: CheckResult.objects.filter(asset__job=job).count() == 2, timeout=60)
    asset = Asset.objects.get(job=job)
    s.goto(f"/assets/{asset.pk}/")
    panel = s.page.get_by_role("region", name="Acceptance checks")
    panel.wait_for()
    text = panel.inner_text()
    assert "Shop signs v1" in text and "passed" in text and "typography" in text


def test_benchmark_page_on_a_phone(open_session: Any, users: dict[str, Any], procedural: str) -> None:
    from acceptance import services as acceptance_services

    made = acceptance_services.create_checklist(
        acting_user=users["creator"], name="Type", checks=[{"type": "typography"}]
    )
    benchmark = scorecard_services.create_benchmark(
        acting_user=users["creator"],
        body={
            "name": "Phone",
            "checklist": made.pk,
            "prompt_set": "typography-v1",
            "plugins": ["procedural"],
            "seeds": [1, 2],
            "width": 64,
            "height": 64,
        },
    )
    s = open_session()
    s.page.set_viewport_size({"width": 390, "height": 844})
    s.login("vera")
    s.goto(f"/benchmarks/{benchmark.pk}/")
    assert s.page.get_by_role(
        "img", name="Pass rate against cost per accepted image, one point per model"
    ).is_visible()
    assert s.page.get_by_role("table", name="Scorecard, one row per plugin").is_visible()
    # The page itself does not scroll sideways; the wide table scrolls in its own box.
    assert s.page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
