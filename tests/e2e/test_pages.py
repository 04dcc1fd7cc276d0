"""The web pages in a real headless Chromium: generate with live progress, provenance, library
search, form errors, roles, and no request leaving the app.

The app runs under ``live_server``; a real Celery worker (in this process) runs the jobs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from assets.models import Asset
from generation.models import GenerationJob
from tests.conftest import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

JOB_URL = re.compile(r"/jobs/(?P<id>[0-9a-f-]{36})/$")


def _image_loaded(page: Any, selector: str) -> int:
    """The natural width of the first image matching ``selector`` once it has loaded (0 if broken)."""
    return page.locator(selector).first.evaluate(
        "img => img.complete ? img.naturalWidth : new Promise(ok => { img.onload = () => ok(img.naturalWidth); img.onerror = () => ok(0); })"
    )


def _provenance(page: Any) -> dict[str, str]:
    """The provenance panel as ``{term: description}``."""
    panel = page.get_by_role("region", name="Provenance")
    # Its own list only: the content-credentials panel, loaded into it by htmx, has one too, and
    # reading while it lands could pair one list's terms with the other's values.
    terms = panel.locator(":scope > dl > dt").all_inner_texts()
    values = panel.locator(":scope > dl > dd").all_inner_texts()
    assert len(terms) == len(values)
    return dict(zip(terms, values, strict=True))


@pytest.fixture
def other_asset(celery_worker: Any, users: dict[str, Any], procedural: str) -> Asset:
    """An asset whose prompt shares no word with the one the browser test generates."""
    from generation import services

    job, _ = services.submit(
        acting_user=users["creator2"],
        plugin_id="procedural",
        fields={"prompt": "granite quarry under snow", "seed": 3, "width": 64, "height": 64},
    )
    wait_for(lambda: GenerationJob.objects.get(pk=job.pk).status == "succeeded", timeout=60)
    return Asset.objects.get(job=job)


def test_creator_generates_watches_progress_and_finds_the_asset(
    open_session: Any, celery_worker: Any, users: dict[str, Any], other_asset: Asset, tmp_path: Path
) -> None:
    s = open_session()
    s.login("carl")
    page = s.page
    s.goto("/generate/")
    assert page.evaluate("typeof window.htmx") == "object", "htmx did not load from /static/"
    page.get_by_label("Prompt", exact=True).fill("a lighthouse at dusk over a violet sea")
    page.get_by_label("Width").fill("128")
    page.get_by_label("Height").fill("96")
    page.get_by_label("Seed").fill("4242")
    # Slow passes, so the job is still running when the job page first renders.
    page.get_by_label("Plugin parameters (JSON)").fill('{"steps": 4, "step_delay": 0.5}')
    with page.expect_navigation():
        page.get_by_role("button", name="Generate").click()

    match = JOB_URL.search(urlsplit(page.url).path)
    assert match, page.url
    job_id = match["id"]
    panel = page.locator("#job-progress")
    first_status = panel.get_attribute("data-status")
    assert first_status in ("queued", "running"), first_status

    # The panel swaps itself (htmx polling) until the job ends; the page is never reloaded.
    page.wait_for_selector('#job-progress[data-status="succeeded"]', timeout=60_000)
    assert JOB_URL.search(urlsplit(page.url).path)
    polls = [u for u in s.requested if urlsplit(u).path == f"/jobs/{job_id}/progress/"]
    assert polls, "the progress panel was never refreshed"
    assert "step 4 of 4" in panel.inner_text()

    asset = Asset.objects.get(job_id=job_id)
    assert _image_loaded(page, "#job-progress img") == 128
    page.screenshot(path=str(tmp_path / "job.png"), full_page=True)

    with page.expect_navigation():
        panel.locator("img").first.click()
    assert urlsplit(page.url).path == f"/assets/{asset.pk}/"
    assert _image_loaded(page, "article.asset figure img") == 128
    facts = _provenance(page)
    identity = asset.model_identity
    assert facts["Model"] == f"{identity['name']} {identity['version']}" == "hallmark-procedural 1.0.0"
    assert facts["Weights"] == identity["fingerprint"]
    assert facts["Weights"].startswith("sha256:")
    assert "MIT" in facts["Licence"]
    assert facts["Seed"] == "4242"
    assert facts["Size"] == "128 \N{MULTIPLICATION SIGN} 96"
    assert facts["SHA-256"] == asset.sha256
    assert facts["Requested by"] == "carl"
    page.screenshot(path=str(tmp_path / "asset.png"), full_page=True)

    # The library grid shows both assets; search finds ours by a prompt word, and nothing by
    # a word no prompt has.
    s.goto("/")
    tiles = page.locator("#library-grid .tile a")
    assert sorted(tiles.evaluate_all("links => links.map(a => a.pathname)")) == sorted(
        [f"/assets/{asset.pk}/", f"/assets/{other_asset.pk}/"]
    )
    page.screenshot(path=str(tmp_path / "library.png"), full_page=True)

    search = page.get_by_role("searchbox", name="Search prompts")
    search.fill("lighthouse")
    with page.expect_navigation():
        search.press("Enter")
    hrefs = page.locator("#library-grid .tile a").evaluate_all("links => links.map(a => a.pathname)")
    assert hrefs == [f"/assets/{asset.pk}/"]

    search = page.get_by_role("searchbox", name="Search prompts")
    search.fill("xylophone")
    with page.expect_navigation():
        search.press("Enter")
    assert page.locator("#library-grid").count() == 0
    assert "No assets match" in page.locator("main").inner_text()

    assert s.foreign_requests() == []
    static = [u for u in s.requested if urlsplit(u).path.startswith("/static/")]
    assert any(u.endswith("/static/vendor/htmx.min.js") for u in static)
    assert any(u.endswith("/static/css/hallmark.css") for u in static)


def test_form_errors_are_shown_beside_their_fields(
    open_session: Any, users: dict[str, Any], procedural: str, tmp_path: Path
) -> None:
    s = open_session()
    s.login("carl")
    page = s.page
    s.goto("/generate/")
    page.get_by_label("Prompt", exact=True).fill("   ")  # passes the browser's `required`, not ours
    page.get_by_label("Width").fill("100")
    page.get_by_label("Height").fill("64")
    with page.expect_navigation():
        page.get_by_role("button", name="Generate").click()

    width_error = page.locator('.error[data-field="width"]')
    prompt_error = page.locator('.error[data-field="prompt"]')
    assert "multiple of 8" in width_error.inner_text()
    assert "empty" in prompt_error.inner_text().lower()
    assert page.locator('.error[data-field="height"]').count() == 0
    # Beside the field: in the same field box, announced to assistive technology.
    width = page.get_by_label("Width")
    assert width.get_attribute("aria-invalid") == "true"
    assert width.get_attribute("aria-describedby") == width_error.get_attribute("id")
    assert width_error.evaluate("(e) => e.parentElement === document.querySelector('#f-width').parentElement")
    # What the user typed is kept.
    assert width.input_value() == "100"
    page.screenshot(path=str(tmp_path / "generate-errors.png"), full_page=True)
    assert GenerationJob.objects.count() == 0


def test_viewer_sees_no_generate_link_and_is_refused_the_form(
    open_session: Any, users: dict[str, Any]
) -> None:
    s = open_session()
    s.login("vera")
    nav = s.page.locator("header nav")
    assert nav.get_by_role("link", name="Library").count() == 1
    assert nav.get_by_role("link", name="Generate").count() == 0
    response = s.goto("/generate/")
    assert response.status == 403
    # A NUL typed into the URL is dropped, not passed to the database (a 500 on PostgreSQL).
    response = s.goto("/?q=sea%00&plugin=%00")
    assert response.status == 200
    assert s.page.get_by_role("searchbox", name="Search prompts").input_value() == "sea"

    creator = open_session()
    creator.login("carl")
    assert creator.page.locator("header nav").get_by_role("link", name="Generate").count() == 1


def test_pages_need_a_login(open_session: Any, users: dict[str, Any]) -> None:
    s = open_session()
    s.goto("/generate/")
    assert urlsplit(s.page.url).path == "/accounts/login/"
    s.page.get_by_label("Username").fill("carl")
    s.page.get_by_label("Password").fill("wrong")
    with s.page.expect_navigation():
        s.page.get_by_role("button", name="Log in").click()
    assert "did not match" in s.page.locator("main").inner_text()
