"""Production security settings: HTTPS switched on by one variable, and API rate limits whose
counts every web process shares."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.conftest import ROOT

SETTINGS_NAMES = [
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_PROXY_SSL_HEADER",
    "DEBUG",
    "HALLMARK_API_THROTTLE_USER",
    "HALLMARK_API_THROTTLE_ANON",
    "CACHES",
    "HALLMARK_DOWNLOAD_URL_EXPIRES",
]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HALLMARK_", "DJANGO_"))}
    return {**env, "HALLMARK_VAR_DIR": str(tmp_path / "var"), **extra}


def _settings_in_a_fresh_process(tmp_path: Path, **extra: str) -> dict[str, object]:
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        f"print(json.dumps({{n: getattr(settings, n) for n in {SETTINGS_NAMES!r}}}, default=str))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**_env(tmp_path, **extra), "DJANGO_SETTINGS_MODULE": "hallmark.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_check_deploy_passes_with_https_on(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_env(tmp_path, HALLMARK_HTTPS="true", DJANGO_SECRET_KEY=secrets.token_urlsafe(64)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "WARNING" not in output and "security.W" not in output, output


def test_https_settings_follow_the_variables(tmp_path: Path) -> None:
    on = _settings_in_a_fresh_process(tmp_path, HALLMARK_HTTPS="true")
    assert on["SECURE_SSL_REDIRECT"] is True
    assert on["SECURE_HSTS_SECONDS"] == 31536000
    assert on["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True and on["SECURE_HSTS_PRELOAD"] is False
    assert on["SESSION_COOKIE_SECURE"] is True and on["CSRF_COOKIE_SECURE"] is True
    assert on["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    tuned = _settings_in_a_fresh_process(
        tmp_path,
        HALLMARK_HTTPS="true",
        HALLMARK_HSTS_SECONDS="600",
        HALLMARK_HSTS_INCLUDE_SUBDOMAINS="false",
        HALLMARK_HSTS_PRELOAD="true",
        HALLMARK_HTTPS_PROXY_HEADER="",
    )
    assert tuned["SECURE_HSTS_SECONDS"] == 600
    assert tuned["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False and tuned["SECURE_HSTS_PRELOAD"] is True
    assert tuned["SECURE_PROXY_SSL_HEADER"] is None


def test_without_https_the_demo_keeps_plain_http(tmp_path: Path) -> None:
    off = _settings_in_a_fresh_process(tmp_path)
    assert off["SECURE_SSL_REDIRECT"] is False
    assert off["SECURE_HSTS_SECONDS"] == 0
    assert off["SESSION_COOKIE_SECURE"] is False and off["CSRF_COOKIE_SECURE"] is False
    assert off["SECURE_PROXY_SSL_HEADER"] is None
    assert off["DEBUG"] is False
    # Rate limits are on by default, counted in files every process on the machine shares.
    assert off["HALLMARK_API_THROTTLE_USER"] == "600/min" and off["HALLMARK_API_THROTTLE_ANON"] == "60/min"
    default = off["CACHES"]["default"]  # type: ignore[index]
    assert default["BACKEND"] == "django.core.cache.backends.filebased.FileBasedCache"
    assert default["LOCATION"] == str(tmp_path / "var" / "cache")


def test_a_bad_rate_is_refused_at_start_up(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=_env(tmp_path, HALLMARK_API_THROTTLE_USER="lots"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and "HALLMARK_API_THROTTLE_USER" in done.stderr


def test_presigned_download_urls_live_an_hour_at_most(tmp_path: Path) -> None:
    # An issued URL outlives soft-deletion, legal hold and role removal until it expires, so
    # its lifetime is capped: a longer one stops the process at start-up, naming the variable.
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=_env(tmp_path, HALLMARK_DOWNLOAD_URL_EXPIRES="3601"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr and "HALLMARK_DOWNLOAD_URL_EXPIRES=3601" in done.stderr
    hour = _settings_in_a_fresh_process(tmp_path, HALLMARK_DOWNLOAD_URL_EXPIRES="3600")
    assert hour["HALLMARK_DOWNLOAD_URL_EXPIRES"] == 3600


def test_the_cache_is_shared_with_other_processes() -> None:
    """Rate-limit counts written by one gunicorn worker are seen by the others."""
    key = f"shared-{secrets.token_hex(4)}"
    code = f"import django; django.setup(); from django.core.cache import cache; cache.set({key!r}, 41, 60)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "hallmark.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert cache.get(key) == 41


# --- API rate limits -----------------------------------------------------------------------------


@pytest.fixture
def rates(settings):
    cache.clear()
    settings.HALLMARK_API_THROTTLE_USER = "5/min"
    settings.HALLMARK_API_THROTTLE_ANON = "3/min"
    yield
    cache.clear()


def test_anonymous_requests_are_limited_per_address_with_retry_after(rates, db) -> None:
    # The schema is the API's public endpoint; other anonymous requests are refused before counting.
    client = APIClient()
    for _ in range(3):
        assert client.get("/api/schema/?format=json").status_code == 200
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 429
    body = json.loads(response.content)
    assert set(body) == {"detail", "retry_after"} and body["retry_after"] >= 1
    assert response["Retry-After"] == str(body["retry_after"])
    # A client cannot make itself new addresses with X-Forwarded-For (no proxy is configured).
    assert client.get("/api/schema/", HTTP_X_FORWARDED_FOR="203.0.113.5").status_code == 429
    assert APIClient(REMOTE_ADDR="10.1.2.3").get("/api/schema/").status_code == 200


def test_each_user_has_an_allowance_of_their_own(rates, client_for, procedural) -> None:
    creator = client_for("creator")
    for _ in range(5):
        assert creator.get("/api/v1/generations/").status_code == 200
    response = creator.post("/api/v1/generations/", {"plugin": "procedural", "prompt": "x"}, format="json")
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1
    assert response.json()["retry_after"] == int(response["Retry-After"])
    assert client_for("viewer").get("/api/v1/generations/").status_code == 200


def test_rates_off_means_no_limit(settings, client_for) -> None:
    cache.clear()
    settings.HALLMARK_API_THROTTLE_USER = None
    viewer = client_for("viewer")
    assert all(viewer.get("/api/v1/plugins/").status_code == 200 for _ in range(20))
