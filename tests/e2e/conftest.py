"""Browser fixtures: Debian's headless Chromium driven by Playwright against ``live_server``.

Playwright's sync API keeps an event loop in the test thread, and Django refuses ORM calls in
a thread with a running loop; the tests read rows between browser steps, which is safe here
because nothing else uses that thread's connection.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("HALLMARK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# No sandbox (containers have no user namespaces); no GPU; nothing that phones home, so
# that the only requests the page makes are the ones the app asks for.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Every test here makes six users and logs in through the form; the production hasher
    takes over a second per password on a small CI machine, which is not what is under test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session."""
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set HALLMARK_CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Session:
    """A page in a fresh browser context, with every URL the page requested."""

    page: Any
    base_url: str
    requested: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base_url + path

    def goto(self, path: str) -> Any:
        """Open ``path`` on the live server and return the main response."""
        return self.page.goto(self.url(path))

    def login(self, username: str) -> None:
        """Log in through the login form (passwords are ``pw-<username>``, see tests/conftest)."""
        self.goto("/accounts/login/")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(f"pw-{username}")
        with self.page.expect_navigation():
            self.page.get_by_role("button", name="Log in").click()
        assert urlsplit(self.page.url).path != "/accounts/login/", "login failed"

    def foreign_requests(self) -> list[str]:
        """Requests that went anywhere but the app (a CDN, a font host, a tracker)."""
        ours = urlsplit(self.base_url).netloc
        return [url for url in self.requested if urlsplit(url).netloc != ours]


@pytest.fixture
def open_session(browser: Any, live_server: Any) -> Iterator[Callable[[], Session]]:
    """``open_session()``: a new context (own cookies) on the live server; closed after the test.

    Every session's requests are checked after the test: all of them must have gone to the
    app itself (htmx and CSS are vendored, never fetched from a CDN).
    """
    sessions: list[tuple[Any, Session]] = []

    def open_one() -> Session:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(20_000)
        session = Session(page=context.new_page(), base_url=live_server.url)
        session.page.on("request", lambda request: session.requested.append(request.url))
        sessions.append((context, session))
        return session

    yield open_one
    for context, session in sessions:
        context.close()
        assert session.requested, "the browser made no requests at all"
        assert session.foreign_requests() == [], "requests left the app"
