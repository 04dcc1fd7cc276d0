"""A whole day's work in a real headless Chromium, with a real Celery worker: log in, generate
with live progress, search and filter the library, read an asset's content credentials, build a
collection and export it, and, as an admin, enable and configure a plugin. Then the same pages
on a phone, and the generate form by keyboard alone.

No page may log a console error or throw. Screenshots of each page go to the test's own folder
and, when ``HALLMARK_SCREENSHOTS_DIR`` is set, there too (``docs/screenshots`` holds a few).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image

from assets.models import Asset
from generation.models import GenerationJob
from governance.models import AuditEvent
from plugins import services as plugin_services
from tests.conftest import wait_for
from tests.governance.audit_helpers import make_asset
from workspace.models import Collection

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

JOB_URL = re.compile(r"/jobs/(?P<id>[0-9a-f-]{36})/$")
PHONE = {"width": 375, "height": 812}

# Form controls with no label: no <label> tied to them and no aria-label(ledby).
UNLABELLED_CONTROLS = """() => Array.from(document.querySelectorAll(
    'input:not([type=hidden]), select, textarea')).filter(el =>
    !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby')
  ).map(el => el.outerHTML.slice(0, 160))"""
# Wider than the window: the page scrolls sideways.
SCROLLS_SIDEWAYS = "() => document.documentElement.scrollWidth > window.innerWidth"


class Shots:
    """Screenshots into the test's folder and, when set, ``HALLMARK_SCREENSHOTS_DIR``."""

    def __init__(self, tmp_path: Path) -> None:
        self.folders = [tmp_path / "screenshots"]
        extra = os.environ.get("HALLMARK_SCREENSHOTS_DIR", "").strip()
        if extra:
            self.folders.append(Path(extra))
        for folder in self.folders:
            folder.mkdir(parents=True, exist_ok=True)

    def take(self, page: Any, name: str) -> None:
        """Full-page PNG of ``page`` as ``<name>.png`` in every folder; the copy outside the
        test's folder (for documentation) in 256 colours, a fraction of the size."""
        data = page.screenshot(full_page=True, type="png")
        (self.folders[0] / f"{name}.png").write_bytes(data)
        for folder in self.folders[1:]:
            image = Image.open(io.BytesIO(data)).convert("RGB")
            image.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(
                folder / f"{name}.png", optimize=True
            )


@pytest.fixture
def shots(tmp_path: Path) -> Shots:
    return Shots(tmp_path)


@pytest.fixture
def console_errors() -> Iterator[Callable[[Any], list[str]]]:
    """``watch(page)`` starts collecting the page's console errors and uncaught exceptions; the
    list is checked empty after the test."""
    collected: list[str] = []

    def watch(page: Any) -> list[str]:
        page.on(
            "console",
            lambda message: (
                collected.append(f"console: {message.text} ({message.location.get('url', '')})")
                if message.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda error: collected.append(f"pageerror: {error}"))
        return collected

    yield watch
    assert collected == [], collected


def _paths(page: Any, selector: str) -> list[str]:
    return page.locator(selector).evaluate_all("links => links.map(a => a.pathname)")


def _check_page(page: Any) -> None:
    """Every control labelled; no sideways scroll."""
    assert page.evaluate(UNLABELLED_CONTROLS) == [], urlsplit(page.url).path
    assert not page.evaluate(SCROLLS_SIDEWAYS), urlsplit(page.url).path


@pytest.fixture
def older_asset(celery_worker: Any, users: dict[str, Any], procedural: str) -> Asset:
    """Another creator's asset, made through the job path, that the search must leave out."""
    from generation import services

    job, _ = services.submit(
        acting_user=users["creator2"],
        plugin_id="procedural",
        fields={"prompt": "granite quarry under snow", "seed": 3, "width": 64, "height": 64},
    )
    wait_for(lambda: GenerationJob.objects.get(pk=job.pk).status == "succeeded", timeout=60)
    return Asset.objects.get(job=job)


def test_walkthrough(
    open_session: Any,
    celery_worker: Any,
    users: dict[str, Any],
    older_asset: Asset,
    shots: Shots,
    console_errors: Callable[[Any], list[str]],
    tmp_path: Path,
    settings: Any,
) -> None:
    settings.HALLMARK_SECRET_ENV_ALLOWLIST = ["IDEOGRAM_*"]
    # Switching plugins swaps the fields: Ideogram 2a Turbo (no negative prompt, aspect ratios).
    plugin_services.update_plugin("ideogram-v2a-turbo", acting_user=users["admin"], enabled=True)
    s = open_session()
    page = s.page
    console_errors(page)
    s.login("carl")

    # -- generate, watching the progress bar ------------------------------------------------
    s.goto("/generate/")
    plugin = page.get_by_label("Plugin", exact=True)
    plugin.select_option("ideogram-v2a-turbo")
    page.get_by_label("Aspect ratio").wait_for()
    assert page.get_by_label("Negative prompt").count() == 0
    assert page.get_by_label("Width").count() == 0
    plugin.select_option("procedural")
    page.get_by_label("Width").wait_for()
    assert page.get_by_label("Negative prompt").count() == 1
    assert not [u for u in s.requested if urlsplit(u).path == "/generate/" and "plugin=" in u]
    assert [u for u in s.requested if urlsplit(u).path == "/generate/fields/"], (
        "the fields were not swapped by htmx"
    )
    page.get_by_label("Prompt", exact=True).fill("a lighthouse at dusk over a violet sea")
    page.get_by_label("Width").fill("128")
    page.get_by_label("Height").fill("96")
    page.get_by_label("Seed").fill("4242")
    page.get_by_label("Steps").fill("4")
    page.get_by_label("Step delay").fill("0.4")
    shots.take(page, "generate")
    with page.expect_navigation():
        page.get_by_role("button", name="Generate").click()
    match = JOB_URL.search(urlsplit(page.url).path)
    assert match, page.url
    page.locator("#job-progress progress").wait_for(timeout=60_000)  # drawn while it runs
    page.wait_for_selector('#job-progress[data-status="succeeded"]', timeout=60_000)
    assert "step 4 of 4" in page.locator("#job-progress").inner_text()
    shots.take(page, "job")
    asset = Asset.objects.get(job_id=match["id"])
    assert asset.params["steps"] == 4 and (asset.width, asset.height) == (128, 96)

    # -- the library: a filter select and a search -------------------------------------------
    s.goto("/")
    assert sorted(_paths(page, "#library-grid .tile a")) == sorted(
        [f"/assets/{asset.pk}/", f"/assets/{older_asset.pk}/"]
    )
    shots.take(page, "library")
    page.get_by_label("Plugin").select_option("procedural")
    page.get_by_role("searchbox", name="Search prompts").fill("lighthouse")
    with page.expect_navigation():
        page.get_by_role("button", name="Apply").click()
    assert "plugin=procedural" in page.url and "q=lighthouse" in page.url  # the URL holds the query
    assert _paths(page, "#library-grid .tile a") == [f"/assets/{asset.pk}/"]
    page.get_by_label("Review status").select_option("approved")
    with page.expect_navigation():
        page.get_by_role("button", name="Apply").click()
    assert page.locator("#library-grid").count() == 0

    # -- the asset and its content credentials ------------------------------------------------
    s.goto(f"/assets/{asset.pk}/")
    credentials = page.get_by_role("region", name="Content credentials")
    credentials.wait_for()
    state = credentials.locator("dd.state").inner_text()
    assert state.split(":")[0] in ("Valid", "Trusted"), state
    assert "Same bytes as recorded" in credentials.inner_text()
    shots.take(page, "asset")

    # -- a collection, filled from the library, exported and opened -----------------------
    s.goto("/collections/")
    page.get_by_label("Name").fill("Walkthrough picks")
    with page.expect_navigation():
        page.get_by_role("button", name="Create collection").click()
    collection = Collection.objects.get(name="Walkthrough picks")
    s.goto("/")
    for tile in (asset, older_asset):
        page.locator(f'input[name="assets"][value="{tile.pk}"]').check()
    page.get_by_label("Collection").select_option(str(collection.pk))
    with page.expect_navigation():
        page.get_by_role("button", name="Add to collection").click()
    s.goto(f"/collections/{collection.pk}/")
    assert sorted(_paths(page, "#library-grid .tile a")) == sorted(
        [f"/assets/{asset.pk}/", f"/assets/{older_asset.pk}/"]
    )
    shots.take(page, "collection")
    with page.expect_download() as download_info:
        # The collection's own export (the grid's bulk form has one for ticked assets too).
        page.locator(f'form[action="/api/v1/collections/{collection.pk}/export/"]').get_by_role(
            "button"
        ).click()
    zip_path = tmp_path / "export.zip"
    download_info.value.save_as(zip_path)
    with zipfile.ZipFile(zip_path) as archive:
        rows = list(csv.DictReader(io.StringIO(archive.read("index.csv").decode())))
        assert {r["asset"] for r in rows} == {str(asset.pk), str(older_asset.pk)}
        for row in rows:
            stored = Asset.objects.get(pk=row["asset"])
            assert row["included"] == "yes", row
            assert row["sha256"] == stored.sha256
            assert hashlib.sha256(archive.read(row["file"])).hexdigest() == stored.sha256
            assert row["sidecar"] in archive.namelist()
    assert AuditEvent.objects.filter(action="assets.bundle_exported").count() == 1

    # -- as an admin: enable and configure a plugin on /plugins/ ----------------------------
    admin = open_session()
    apage = admin.page
    admin_errors = console_errors(apage)
    admin.login("ada")
    with apage.expect_navigation():
        apage.locator("header nav").get_by_role("link", name="Plugins").click()
    assert urlsplit(apage.url).path == "/plugins/"
    card = apage.locator("#plugin-ideogram-v2")
    assert "Disabled" in card.inner_text()
    with apage.expect_navigation():
        card.get_by_role("button", name="Enable Ideogram 2.0 (hosted)").click()
    assert "Enabled" in apage.locator("#plugin-ideogram-v2").inner_text()
    assert plugin_services.state("ideogram-v2").enabled
    shots.take(apage, "plugins")
    with apage.expect_navigation():
        apage.get_by_role("link", name="Configure Ideogram 2.0 (hosted)").click()
    # A host the operator does not allow is refused beside its field; nothing is saved.
    apage.get_by_label("Base url").fill("https://collector.example.net")
    with apage.expect_navigation():
        apage.get_by_role("button", name="Save configuration").click()
    assert "collector.example.net" in apage.get_by_label("Base url").input_value()
    error = apage.locator('.error[data-field="base_url"]')
    assert error.count() == 1 and apage.get_by_label("Base url").get_attribute("aria-invalid") == "true"
    assert plugin_services.state("ideogram-v2").config == {}
    # The refusal is a 400 page, which Chromium logs; that one is expected, nothing else.
    refused = [e for e in admin_errors if "status of 400" in e and e.endswith("/plugins/ideogram-v2/)")]
    assert len(refused) == 1
    admin_errors.remove(refused[0])
    apage.get_by_label("Base url").fill("")
    apage.get_by_label("Max attempts").fill("2")
    apage.get_by_label("Api key env (environment variable name)").fill("IDEOGRAM_WALKTHROUGH_KEY")
    with apage.expect_navigation():
        apage.get_by_role("button", name="Save configuration").click()
    assert "Configuration saved." in apage.locator("main").inner_text()
    assert plugin_services.state("ideogram-v2").config == {
        "max_attempts": 2,
        "api_key_env": "IDEOGRAM_WALKTHROUGH_KEY",
    }
    assert "not set" in apage.locator("#s-config-api_key_env").inner_text()
    shots.take(apage, "plugin-detail")
    actions = set(AuditEvent.objects.filter(target_id="ideogram-v2").values_list("action", flat=True))
    assert actions == {"plugin.enabled", "plugin.configured"}


def test_phone_pass_no_sideways_scroll_and_every_control_labelled(
    browser: Any,
    live_server: Any,
    users: dict[str, Any],
    procedural: str,
    shots: Shots,
    console_errors: Callable[[Any], list[str]],
) -> None:
    asset = make_asset(users["creator"], prompt="a long prompt about a windswept lighthouse " * 4)
    collection = Collection.objects.create(name="Phone picks", owner=users["admin"])
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(20_000)
    try:
        page = context.new_page()
        console_errors(page)
        page.goto(live_server.url + "/accounts/login/")
        _check_page(page)
        page.get_by_label("Username").fill("ada")
        page.get_by_label("Password").fill("pw-ada")
        with page.expect_navigation():
            page.get_by_role("button", name="Log in").click()
        pages = {
            "library": "/",
            "asset": f"/assets/{asset.pk}/",
            "generate": "/generate/",
            "collections": "/collections/",
            "collection": f"/collections/{collection.pk}/",
            "plugins": "/plugins/",
            "plugin-detail": "/plugins/ideogram-v2/",
            "job": f"/jobs/{asset.job_id}/",
        }
        for name, path in pages.items():
            response = page.goto(live_server.url + path)
            assert response.status == 200, path
            page.wait_for_load_state("networkidle")
            _check_page(page)
            shots.take(page, f"phone-{name}")
    finally:
        context.close()


def test_the_generate_form_by_keyboard(
    open_session: Any,
    celery_worker: Any,
    users: dict[str, Any],
    procedural: str,
    console_errors: Callable[[Any], list[str]],
) -> None:
    s = open_session()
    page = s.page
    console_errors(page)
    s.login("carl")
    s.goto("/generate/")
    page.locator("body").focus()
    order: list[str] = []
    # Tab from the top of the page until the prompt has the focus, then type into each field.
    for _ in range(30):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.id")
        order.append(focused)
        if focused == "f-prompt":
            break
    assert order[-2:] == ["f-plugin", "f-prompt"], order
    page.keyboard.type("a kite over a green hill")
    typed = {"f-negative_prompt": "", "f-width": "64", "f-height": "64", "f-seed": "11"}
    for expected, text in typed.items():
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == expected
        if text:
            page.keyboard.type(text)
    with page.expect_navigation():
        page.keyboard.press("Enter")  # in the seed field: submits with the form's Generate button
    match = JOB_URL.search(urlsplit(page.url).path)
    assert match, page.url
    job = GenerationJob.objects.get(pk=match["id"])
    assert (job.prompt, job.width, job.height, job.seed) == ("a kite over a green hill", 64, 64, 11)
    page.wait_for_selector('#job-progress[data-status="succeeded"]', timeout=60_000)


def test_a_running_job_is_cancelled_from_its_page(
    open_session: Any,
    celery_worker: Any,
    users: dict[str, Any],
    procedural: str,
    console_errors: Callable[[Any], list[str]],
) -> None:
    s = open_session()
    page = s.page
    console_errors(page)
    s.login("carl")
    s.goto(
        "/generate/?plugin=procedural&prompt=a+slow+tide&width=64&height=64&param.steps=16&param.step_delay=0.5"
    )
    assert page.get_by_label("Step delay").input_value() == "0.5"  # pre-filled from the URL
    with page.expect_navigation():
        page.get_by_role("button", name="Generate").click()
    job_id = JOB_URL.search(urlsplit(page.url).path)["id"]  # type: ignore[index]
    with page.expect_navigation():
        page.get_by_role("button", name="Cancel job").click()
    page.wait_for_selector('#job-progress[data-status="cancelled"]', timeout=30_000)
    assert GenerationJob.objects.get(pk=job_id).status == "cancelled"
    assert page.get_by_role("button", name="Cancel job").count() == 0
