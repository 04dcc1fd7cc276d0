"""The pages that caught up with the API, in a real headless Chromium: generate by tier with a
checklist and watch the job's check results arrive; promote an asset from its page and reach
the new job. Keyboard only where it matters (the target radios, submitting), every control
labelled, no console error.

Screenshots go to the test's tmp_path; with ``HALLMARK_SCREENSHOTS_DIR`` set, the generate form
by tier is also saved there as ``generate-tier.png`` (how docs/screenshots/ is refreshed).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image

from acceptance import services as acceptance_services
from assets.models import Asset
from generation import services
from generation.models import GenerationJob
from routing import policies
from tests.conftest import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

JOB_URL = re.compile(r"/jobs/(?P<id>[0-9a-f-]{36})/$")
UNLABELLED_CONTROLS = """() => Array.from(document.querySelectorAll(
    'input:not([type=hidden]), select, textarea')).filter(el =>
    !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby')
  ).map(el => el.outerHTML.slice(0, 160))"""


def _watch_console(page: Any) -> list[str]:
    """Console errors and uncaught exceptions of ``page`` (the browser's own /favicon.ico aside)."""
    errors: list[str] = []
    page.on(
        "console",
        lambda message: (
            errors.append(f"{message.text} {message.location.get('url')}")
            if message.type == "error" and not str(message.location.get("url")).endswith("/favicon.ico")
            else None
        ),
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def _shoot(page: Any, tmp_path: Path, name: str, *, for_docs: bool = False) -> None:
    """A full-page PNG in the test's folder; with ``for_docs``, also in
    ``HALLMARK_SCREENSHOTS_DIR`` when set, in 256 colours (a fraction of the size)."""
    data = page.screenshot(full_page=True, type="png")
    (tmp_path / name).write_bytes(data)
    shots = os.environ.get("HALLMARK_SCREENSHOTS_DIR", "").strip()
    if for_docs and shots:
        image = Image.open(io.BytesIO(data)).convert("RGB")
        image.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(Path(shots) / name, optimize=True)


@pytest.fixture
def studio(users: dict[str, Any], procedural: str) -> Any:
    """The default routing policy: procedural for both tiers."""
    return policies.create_policy(
        {"name": "studio", "tiers": {"draft": ["procedural"], "final": ["procedural"]}, "default": True},
        acting_user=users["admin"],
    )


def test_generate_by_tier_with_a_checklist_and_see_the_check_results(
    open_session: Callable[[], Any], celery_worker: Any, users: dict[str, Any], studio: Any, tmp_path: Path
) -> None:
    signs = acceptance_services.create_checklist(
        acting_user=users["creator"],
        name="Shop signs",
        checks=[{"type": "typography"}, {"type": "min_resolution", "width": 256, "height": 256}],
    )
    s = open_session()
    errors = _watch_console(s.page)
    s.login("carl")
    page = s.page
    s.goto("/generate/")
    # The keyboard moves between the radios; the change swaps in the tier's fields.
    page.get_by_label("A model", exact=True).focus()
    page.keyboard.press("ArrowRight")
    assert page.get_by_label("A tier", exact=True).is_checked()
    page.wait_for_selector('#plugin-fields input[name="fields_for"][value="tier:"]', state="attached")
    assert page.locator('#plugin-fields [name^="param."]').count() == 0
    page.get_by_label("Tier", exact=True).select_option("draft")
    page.get_by_label("Prompt", exact=True).fill("OPEN LATE")
    page.get_by_label("Width").fill("512")
    page.get_by_label("Height").fill("512")
    page.get_by_label("Seed").fill("4")
    page.get_by_label("Checklist").select_option(str(signs.pk))
    page.get_by_label("Expected text").fill("OPEN LATE")
    page.get_by_label("Attempts to pass").fill("2")
    assert page.evaluate(UNLABELLED_CONTROLS) == []
    _shoot(page, tmp_path, "generate-tier.png", for_docs=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Generate").click()

    match = JOB_URL.search(urlsplit(page.url).path)
    assert match, page.url
    job = GenerationJob.objects.get(pk=match["id"])
    assert (job.plugin_id, job.routing_policy, job.routing_tier) == ("procedural", "studio", "draft")
    assert "Routed by policy studio (draft tier)" in page.locator("main").inner_text()
    # The panel refreshes itself until the image is stored and checked.
    page.wait_for_selector('#job-progress section.checks[data-pending="false"]', timeout=90_000)
    checks = page.get_by_role("region", name="Acceptance checks")
    text = checks.inner_text()
    assert "Checklist Shop signs v1" in text and "expected text “OPEN LATE”" in text
    assert "typography" in text and "min_resolution" in text
    assert "Image 1: passed" in text and "Attempt 1 (this job)" in text
    _shoot(page, tmp_path, "job-checks.png")
    assert errors == []


def test_promote_an_asset_from_its_page_and_reach_the_new_job(
    open_session: Callable[[], Any], celery_worker: Any, users: dict[str, Any], studio: Any, tmp_path: Path
) -> None:
    job, _ = services.submit(
        acting_user=users["creator"],
        plugin_id="procedural",
        fields={"prompt": "a lighthouse sketch", "seed": 8, "width": 128, "height": 96},
    )
    wait_for(lambda: GenerationJob.objects.get(pk=job.pk).status == "succeeded", timeout=60)
    draft = Asset.objects.get(job=job)
    s = open_session()
    errors = _watch_console(s.page)
    s.login("carl")
    page = s.page
    s.goto(f"/assets/{draft.pk}/")
    form = page.get_by_role("region", name="Promote")
    form.wait_for()
    assert page.evaluate(UNLABELLED_CONTROLS) == []
    # A refused value comes back beside its field, the choices kept.
    form.get_by_label(re.compile(r"^Refine")).check()
    form.get_by_label("Strength").fill("3")
    with page.expect_navigation():
        form.get_by_label("Strength").press("Enter")  # the keyboard submits
    assert "between 0.05 and 1" in page.locator('[data-field="strength"]').inner_text()
    assert page.get_by_label(re.compile(r"^Refine")).is_checked()
    page.get_by_label("Strength").fill("0.4")
    assert page.get_by_label("Tier", exact=True).input_value() == "final"
    _shoot(page, tmp_path, "promote-refused.png")
    with page.expect_navigation():
        page.get_by_role("button", name="Promote").click()

    match = JOB_URL.search(urlsplit(page.url).path)
    assert match, page.url
    promoted = GenerationJob.objects.get(pk=match["id"])
    assert (promoted.source_asset_id, promoted.derivation, promoted.strength) == (draft.pk, "refine", 0.4)
    assert "Routed by policy studio (final tier)" in page.locator("main").inner_text()
    page.wait_for_selector('#job-progress[data-status="succeeded"]', timeout=60_000)
    page.get_by_role("img", name="Result 1").click()
    lineage = page.get_by_role("region", name="Lineage")
    assert "Promoted from" in lineage.inner_text() and "a lighthouse sketch" in lineage.inner_text()
    _shoot(page, tmp_path, "promoted-asset.png")
    # The one refused POST: Chromium reports the 400 page itself (the status the form answers
    # bad input with), which is not an error of the page.
    refused = f"status of 400 (Bad Request) {s.url(f'/assets/{draft.pk}/promote/')}"
    assert [e for e in errors if not e.endswith(refused)] == []
