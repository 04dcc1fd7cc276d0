"""Compare two models in a real headless Chromium: submit the form, watch both cells finish,
slide one image over the other, mark a winner.

Screenshots go to the test's tmp_path; with ``HALLMARK_SCREENSHOTS_DIR`` set, the comparison
is also saved there as ``compare.png`` (how docs/screenshots/ is refreshed).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from governance.models import AuditEvent
from workspace.models import Experiment

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

EXPERIMENT_URL = re.compile(r"/experiments/(?P<id>[0-9a-f-]{36})/$")


def test_compare_two_models_slide_and_mark_a_winner(
    open_session: Any, celery_worker: Any, users: dict[str, Any], enable_plugin: Any, tmp_path: Path
) -> None:
    enable_plugin("procedural")
    enable_plugin("dummy", config={"label": "compare"})
    s = open_session()
    errors: list[str] = []
    # The browser asks for /favicon.ico by itself (the app has none): that 404 is not the page's.
    s.page.on(
        "console",
        lambda message: (
            errors.append(f"{message.text} {message.location.get('url')}")
            if message.type == "error" and not str(message.location.get("url")).endswith("/favicon.ico")
            else None
        ),
    )
    s.page.on("pageerror", lambda error: errors.append(str(error)))
    s.login("carl")
    page = s.page
    s.goto("/")
    page.get_by_role("link", name="Compare").click()
    page.get_by_label("Prompt", exact=True).fill("a lantern in a pine forest")
    page.get_by_label("procedural").check()
    page.get_by_label("dummy").check()
    page.get_by_label("Seeds").fill("7")
    page.get_by_label("Width").fill("128")
    page.get_by_label("Height").fill("128")
    page.get_by_label("Parameters per model (JSON)").fill('{"procedural": {"steps": 3, "step_delay": 0.3}}')
    with page.expect_navigation():
        page.get_by_role("button", name="Compare").click()
    match = EXPERIMENT_URL.search(urlsplit(page.url).path)
    assert match, page.url
    experiment = Experiment.objects.get(pk=match["id"])
    assert sorted(experiment.cells.values_list("plugin_id", flat=True)) == ["dummy", "procedural"]

    # Both cells poll until their images are in; the page itself is never reloaded.
    page.evaluate("window.notReloaded = true")
    cells = page.locator(".experiment-grid article.cell")
    assert cells.count() == 2
    page.wait_for_function(
        "document.querySelectorAll('.experiment-grid img[data-compare]').length === 2", timeout=90_000
    )
    for index in range(2):
        width = (
            cells.nth(index)
            .locator("img")
            .evaluate(
                "img => img.complete ? img.naturalWidth : new Promise(ok => { img.onload = () => ok(img.naturalWidth); img.onerror = () => ok(0); })"
            )
        )
        assert width == 128
    assert page.evaluate("window.notReloaded") is True
    assert "ms" in cells.first.locator("dd").first.inner_text()

    # The slider: two images chosen, and the range clips the top one.
    left, right = page.get_by_label("Left image", exact=True), page.get_by_label("Right image", exact=True)
    assert left.input_value() != right.input_value()
    slider = page.get_by_role("slider", name="Divider position")
    slider.fill("20")
    assert page.locator("#slider-top").evaluate("img => img.style.clipPath") == "inset(0px 80% 0px 0px)"
    slider.focus()
    page.keyboard.press("ArrowRight")
    assert page.locator("#slider-top").evaluate("img => img.style.clipPath") == "inset(0px 79% 0px 0px)"
    assert page.locator("#experiment-status").inner_text() == "succeeded"
    assert page.locator("#slider-empty").is_hidden()
    page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)
    shots = os.environ.get("HALLMARK_SCREENSHOTS_DIR")
    if shots:
        page.screenshot(path=str(Path(shots) / "compare.png"), full_page=True)

    with page.expect_navigation():
        page.get_by_role("button", name="Mark winner: dummy, seed 7").click()
    assert page.locator(".winner").inner_text() == "★ Winner"
    experiment.refresh_from_db()
    assert experiment.winner is not None and experiment.winner.plugin_id == "dummy"
    assert AuditEvent.objects.filter(action="experiment.winner", target_id=str(experiment.pk)).count() == 1

    # Readable on a phone: nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(tmp_path / "compare-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    # The history lists it and reopens it.
    page.get_by_role("link", name="Experiments", exact=True).click()
    page.get_by_role("link", name="a lantern in a pine forest").click()
    assert urlsplit(page.url).path == f"/experiments/{experiment.pk}/"
    assert errors == []
