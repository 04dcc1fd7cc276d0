"""Where the Ideogram plugins may connect: URL rules, public addresses only, capped answers.

Unit tests of ``hallmark.sdk.egress`` and of the plugin's image downloads under the default
operator settings; one integration test shows what a user sees through a real worker.
"""

from __future__ import annotations

import io
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from assets.models import Asset
from hallmark.sdk import PluginError, egress, hosted
from plugins.builtin.ideogram import IdeogramV2Plugin
from plugins.validation import build_request
from tests.conftest import wait_for
from tests.plugins.fake_ideogram import FakeIdeogram

DEFAULT_API_HOSTS = ("api.ideogram.ai",)
DEFAULT_IMAGE_HOSTS = ("ideogram.ai", "*.ideogram.ai")
API_SETTING = "HALLMARK_IDEOGRAM_ALLOWED_HOSTS"


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``fake_dns["img.ideogram.ai"] = "169.254.169.254"``: what names resolve to in this test.

    Other names resolve as usual. ``fake_dns["lookups"]`` lists the names looked up.
    """
    table: dict[str, Any] = {"lookups": []}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in table:
            table["lookups"].append(host)
            answers = table[host] if isinstance(table[host], list) else [table[host]]
            return [
                (
                    socket.AF_INET6 if ":" in address else socket.AF_INET,
                    socket.SOCK_STREAM,
                    socket.IPPROTO_TCP,
                    "",
                    (address, port, 0, 0) if ":" in address else (address, port),
                )
                for address in answers
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


@pytest.fixture
def api_only(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[[FakeIdeogram], FakeIdeogram]:
    """The fake may be the API endpoint; image downloads keep the default operator settings."""

    def allow(fake: FakeIdeogram) -> FakeIdeogram:
        fake.allow(settings, monkeypatch)
        settings.HALLMARK_IDEOGRAM_IMAGE_HOSTS = DEFAULT_IMAGE_HOSTS
        settings.HALLMARK_IDEOGRAM_ALLOW_PRIVATE_ADDRESSES = False
        return fake

    return allow


def _generate(fake: FakeIdeogram, key_env: str = "IDEOGRAM_TEST_KEY") -> Any:
    plugin = IdeogramV2Plugin(
        {"base_url": fake.base_url, "api_key_env": key_env, "backoff_base_seconds": 0, "max_attempts": 2}
    )
    request = build_request(plugin, prompt="a lighthouse poster")
    return plugin.generate(request, lambda s, t: None, lambda: False)


# ---------------------------------------------------------------------------------------------
# URL rules
# ---------------------------------------------------------------------------------------------


def _rules(*entries: str) -> list[egress.HostRule]:
    rules, bad = egress.parse_rules(entries)
    assert bad == []
    return rules


@pytest.mark.parametrize(
    "url",
    [
        "https://api.ideogram.ai",
        "https://API.Ideogram.AI/v1",
        "https://api.ideogram.ai:443/",
    ],
)
def test_default_api_rule_allows_ideogram_on_https_only(url) -> None:
    parts, problem = egress.check_url(url, _rules(*DEFAULT_API_HOSTS), setting=API_SETTING)
    assert problem == "" and parts is not None


@pytest.mark.parametrize(
    "url, says",
    [
        ("http://api.ideogram.ai", "plain http"),
        ("https://api.ideogram.ai:8443", "not an allowed host"),
        ("https://evil.example", "not an allowed host"),
        ("https://api.ideogram.ai.evil.example", "not an allowed host"),
        ("https://user:pw@api.ideogram.ai", "credentials"),
        ("https://api.ideogram.ai@evil.example", "credentials"),
        ("https://api.ideogram.ai\\@evil.example", "not a valid URL"),
        ("https://evil.example\\.api.ideogram.ai", "not a valid URL"),
        ("https://api.ideogram.ai /", "not a valid URL"),
        ("https://api.ideogram.ai\t", "not a valid URL"),
        ("https://api.ideogram.aí", "not a valid URL"),
        ("https://127.0.0.1", "IP address"),
        ("https://[::1]", "IP address"),
        ("https://2130706433", "no valid host name"),
        ("https://127.1", "no valid host name"),
        ("https://0x7f.1", "no valid host name"),
        ("ftp://api.ideogram.ai", "must be an https URL"),
        ("//api.ideogram.ai", "must be an https URL"),
        ("https://api.ideogram.ai:0", "invalid port"),
        ("https://api.ideogram.ai:99999", "not a valid URL"),
    ],
)
def test_api_rule_refuses(url, says) -> None:
    parts, problem = egress.check_url(url, _rules(*DEFAULT_API_HOSTS), setting=API_SETTING)
    assert parts is None and says in problem, problem
    if says in ("not an allowed host", "plain http"):
        assert API_SETTING in problem and "api.ideogram.ai" in problem


def test_rules_name_scheme_host_and_port() -> None:
    rules = _rules("eu.ideogram.example", "proxy.corp.example:8443", "http://127.0.0.1:8080", "[::1]:9000")
    assert egress.describe(rules) == (
        "eu.ideogram.example, proxy.corp.example:8443, http://127.0.0.1:8080, [::1]:9000"
    )
    allowed = [
        "https://eu.ideogram.example/v1",
        "https://proxy.corp.example:8443",
        "http://127.0.0.1:8080/generate",
        "https://[::1]:9000",
    ]
    refused = [
        "https://proxy.corp.example",
        "https://127.0.0.1:8080",
        "http://127.0.0.1:8081",
        "http://eu.ideogram.example",
        "https://a.eu.ideogram.example",
    ]
    for url in allowed:
        assert egress.check_url(url, rules, setting=API_SETTING)[1] == "", url
    for url in refused:
        assert egress.check_url(url, rules, setting=API_SETTING)[0] is None, url


def test_bad_rule_entries_allow_nothing() -> None:
    rules, bad = egress.parse_rules("ftp://x.example, user@x.example, x.example/path, , ok.example")
    assert [r.host for r in rules] == ["ok.example"]
    assert bad == ["ftp://x.example", "user@x.example", "x.example/path"]


def test_image_globs_match_host_names_under_the_domain_only() -> None:
    rules = _rules(*DEFAULT_IMAGE_HOSTS)

    def allowed(url: str) -> bool:
        return egress.check_url(url, rules, setting="S", globs=True)[1] == ""

    assert allowed("https://ideogram.ai/api/images/ephemeral/x.png?exp=1&signature=abc")
    assert allowed("https://img.ideogram.ai/x.png") and allowed("https://a.b.ideogram.ai/x.png")
    assert not allowed("https://evilideogram.ai/x.png")
    assert not allowed("https://ideogram.ai.evil.example/x.png")
    assert not allowed("http://img.ideogram.ai/x.png")
    # Globs are for the API's own hosts too only when the caller says so.
    assert egress.check_url("https://img.ideogram.ai", rules, setting="S")[0] is None


@pytest.mark.parametrize(
    "address, public",
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        # NAT64 and 6to4 forms of the metadata address (a gateway connects to what they carry).
        ("64:ff9b::a9fe:a9fe", False),
        ("64:ff9b:1::a9fe:a9fe", False),
        ("2002:a9fe:a9fe::1", False),
        ("64:ff9b::808:808", True),
        ("not-an-address", False),
    ],
)
def test_public_addresses(address, public) -> None:
    assert egress.is_public_address(address) is public


def test_one_private_answer_refuses_the_name(fake_dns) -> None:
    fake_dns["mixed.example"] = ["8.8.8.8", "10.0.0.7"]
    with pytest.raises(egress.AddressRefused, match=re.escape("10.0.0.7")):
        egress.resolve_checked("mixed.example", 443, allow_private=False)
    assert len(egress.resolve_checked("mixed.example", 443, allow_private=True)) == 2


def test_adapter_refuses_private_addresses_before_connecting(fake_dns) -> None:
    with FakeIdeogram("k") as fake:
        port = fake._server.server_address[1]
        fake_dns["images.test"] = "127.0.0.1"
        session = requests.Session()
        session.trust_env = False
        allow = {"private": False}
        session.mount("http://", egress.PublicAddressAdapter(allow_private=lambda: allow["private"]))
        for url in (f"http://127.0.0.1:{port}/images/x.png", f"http://images.test:{port}/images/x.png"):
            with pytest.raises(egress.AddressRefused, match=re.escape("127.0.0.1")):
                session.get(url, timeout=5)
        assert fake.requests == []  # refused before the socket connected

        # Allowed: the socket goes to the address that was checked, from one lookup.
        allow["private"] = True
        fake_dns["lookups"].clear()
        assert session.get(f"http://images.test:{port}/images/x.png", timeout=5).status_code == 404
        assert fake_dns["lookups"] == ["images.test"] and len(fake.requests) == 1


def test_read_capped_counts_what_arrives_not_what_is_declared() -> None:
    def response(body: bytes, declared: str | None) -> requests.Response:
        r = requests.Response()
        r.raw = io.BytesIO(body)
        if declared is not None:
            r.headers["Content-Length"] = declared
        return r

    assert hosted.read_capped(response(b"x" * 100, None), 100) == b"x" * 100
    with pytest.raises(hosted.BodyTooLarge):
        hosted.read_capped(response(b"x" * 101, None), 100)  # no length declared
    with pytest.raises(hosted.BodyTooLarge):
        hosted.read_capped(response(b"x" * 101, "10"), 100)  # a length that lies
    with pytest.raises(hosted.BodyTooLarge):
        hosted.read_capped(response(b"", "101"), 100)  # refused on the declaration alone


# ---------------------------------------------------------------------------------------------
# Image downloads under the default operator settings
# ---------------------------------------------------------------------------------------------

REFUSED_LINKS = [
    ("http://img.ideogram.ai/a.png", None, "plain http"),
    ("https://evil.example/a.png", None, "not an allowed host"),
    ("https://169.254.169.254/latest/meta-data/", None, "IP address"),
    ("https://img.ideogram.ai/a.png", "127.0.0.1", "resolves to 127.0.0.1"),
    ("https://img.ideogram.ai/a.png", "169.254.169.254", "resolves to 169.254.169.254"),
    ("https://img.ideogram.ai/a.png", "10.20.30.40", "resolves to 10.20.30.40"),
    ("https://ideogram.ai/a.png", "::ffff:127.0.0.1", "resolves to ::ffff:127.0.0.1"),
]


@pytest.mark.parametrize("link, resolves_to, says", REFUSED_LINKS)
def test_default_settings_refuse_image_links(
    link, resolves_to, says, fake_dns, api_only, ideogram_key, monkeypatch
) -> None:
    monkeypatch.setenv("IDEOGRAM_TEST_KEY", ideogram_key)
    if resolves_to:
        fake_dns["img.ideogram.ai"] = fake_dns["ideogram.ai"] = resolves_to
    with FakeIdeogram(ideogram_key) as fake:
        api_only(fake)
        fake.link_images_to(link)
        with pytest.raises(PluginError) as refused:
            _generate(fake)
        assert fake.image_requests() == []
    assert refused.value.code == "download_refused" and not refused.value.retryable
    assert says in str(refused.value) and "Nothing was stored" in str(refused.value)
    # Names are looked up once, when connecting; a link refused by its URL is not looked up.
    assert fake_dns["lookups"] == ([urlsplit(link).hostname] if resolves_to else [])


@pytest.mark.parametrize(
    "location",
    [
        "https://evil.example/a.png",
        "http://169.254.169.254/latest/meta-data/iam/",
        "OTHER_FAKE",
    ],
)
def test_redirects_are_checked_like_the_first_link(location, ideogram_key, settings, monkeypatch) -> None:
    monkeypatch.setenv("IDEOGRAM_TEST_KEY", ideogram_key)
    with FakeIdeogram(ideogram_key) as fake, FakeIdeogram("other") as other:
        fake.allow(settings, monkeypatch)  # the fake's own images are allowed, nothing else
        target = f"{other.base_url}/images/x.png" if location == "OTHER_FAKE" else location
        fake.fail_next_download(302, headers={"Location": target})
        with pytest.raises(PluginError) as refused:
            _generate(fake)
        assert other.requests == [] and len(fake.image_requests()) == 1
    assert refused.value.code == "download_refused" and "Nothing was stored" in str(refused.value)


def test_allowed_redirect_hops_are_followed_up_to_a_limit(ideogram_key, settings, monkeypatch) -> None:
    monkeypatch.setenv("IDEOGRAM_TEST_KEY", ideogram_key)
    with FakeIdeogram(ideogram_key) as fake:
        fake.allow(settings, monkeypatch)
        fake.fail_next_download(302, headers={"Location": "{path}"})  # to itself: an allowed hop
        result = _generate(fake)
        assert len(fake.image_requests()) == 2 and result.images[0].image.size == (1024, 1024)

        fake.fail_next_download(302, times=4, headers={"Location": "{path}"})
        with pytest.raises(PluginError) as looping:
            _generate(fake)
        assert looping.value.code == "download_refused" and "more than 3" in str(looping.value)


def test_downloads_ignore_environment_proxies(fake_dns, ideogram_key, settings, monkeypatch) -> None:
    # Through a proxy, the address check would test the proxy and not the image host.
    monkeypatch.setenv("IDEOGRAM_TEST_KEY", ideogram_key)
    monkeypatch.setenv("HTTP_PROXY", "http://10.9.9.9:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # the API call goes direct to the fake
    with FakeIdeogram(ideogram_key) as fake:
        fake.allow(settings, monkeypatch)
        port = fake._server.server_address[1]
        fake_dns["images.test"] = "127.0.0.1"
        settings.HALLMARK_IDEOGRAM_IMAGE_HOSTS = (f"http://images.test:{port}",)
        fake.link_images_to(f"http://images.test:{port}/images/{{id}}.png")
        result = _generate(fake)  # a proxied download would have been refused
        assert len(fake.image_requests()) == 1 and result.images[0].image.size == (1024, 1024)


# ---------------------------------------------------------------------------------------------
# Through the API and a real worker
# ---------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_refused_links_fail_the_job_clearly_and_store_nothing(
    celery_worker, client_for, fake_dns, api_only, ideogram_key, monkeypatch, settings
) -> None:
    monkeypatch.setenv("IDEOGRAM_TEST_KEY", ideogram_key)
    creator = client_for("creator")
    with FakeIdeogram(ideogram_key) as fake, FakeIdeogram("other") as other:
        api_only(fake)
        response = client_for("admin").patch(
            "/api/v1/plugins/ideogram-v2/",
            {"enabled": True, "config": {"base_url": fake.base_url, "api_key_env": "IDEOGRAM_TEST_KEY"}},
            format="json",
        )
        assert response.status_code == 200, response.content

        def run_job() -> dict[str, Any]:
            job_id = creator.post(
                "/api/v1/generations/", {"plugin": "ideogram-v2", "prompt": "x"}, format="json"
            ).json()["id"]

            # An admin reads the whole error: it names the operator's settings (a creator sees the code).
            def finished() -> dict[str, Any] | None:
                body = client_for("admin").get(f"/api/v1/generations/{job_id}/").json()
                return body if body["status"] in ("succeeded", "failed", "cancelled") else None

            return wait_for(finished, timeout=60)

        for link, resolves_to, says in REFUSED_LINKS:
            if resolves_to:
                fake_dns["img.ideogram.ai"] = fake_dns["ideogram.ai"] = resolves_to
            fake.link_images_to(link)
            job = run_job()
            assert job["status"] == "failed" and job["error_code"] == "download_refused", job
            assert says in job["error"] and "Nothing was stored" in job["error"], job["error"]

        # A redirect from an allowed image host to another host is refused the same way.
        fake.allow(settings, monkeypatch)
        fake.fail_next_download(302, headers={"Location": f"{other.base_url}/images/x.png"})
        job = run_job()
        assert job["error_code"] == "download_refused" and "HALLMARK_IDEOGRAM_IMAGE_HOSTS" in job["error"]
        assert other.requests == []
        assert len(fake.image_requests()) == 1  # only the allowed first hop was fetched

    assert not Asset.objects.exists()
    media = Path(settings.MEDIA_ROOT)
    assert not [p for p in media.rglob("*") if p.is_file()] if media.exists() else True
