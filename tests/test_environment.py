"""The parsers settings.py reads the environment with (hallmark.environment)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from hallmark import environment


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), (" Yes ", True), ("on", True), ("0", False), ("", False)]
)
def test_env_bool(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("HALLMARK_X", value)
    assert environment.env_bool("HALLMARK_X", not expected) is expected


def test_env_bool_and_list_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HALLMARK_X", raising=False)
    assert environment.env_bool("HALLMARK_X", True) is True
    assert environment.env_list("HALLMARK_X", "a, b") == ("a", "b")
    monkeypatch.setenv("HALLMARK_X", " a ,, b ,")
    assert environment.env_list("HALLMARK_X", "z") == ("a", "b")


@pytest.mark.parametrize(
    ("url", "backend", "location"),
    [
        ("file:///srv/cache", "filebased.FileBasedCache", "/srv/cache"),
        ("redis://h:6379/2", "redis.RedisCache", "redis://h:6379/2"),
        ("db://", "db.DatabaseCache", "hallmark_cache"),
        ("db://counts", "db.DatabaseCache", "counts"),
        ("locmem://", "locmem.LocMemCache", None),
    ],
)
def test_cache_from_url(url: str, backend: str, location: str | None) -> None:
    cache = environment.cache_from_url(url)
    assert cache["BACKEND"] == f"django.core.cache.backends.{backend}"
    assert cache.get("LOCATION") == location


def test_cache_from_url_refuses_other_schemes() -> None:
    with pytest.raises(ImproperlyConfigured, match="unsupported scheme 'ftp'"):
        environment.cache_from_url("ftp://x")


def test_throttle_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HALLMARK_RATE", raising=False)
    assert environment.throttle_rate("HALLMARK_RATE", "600/min") == "600/min"
    monkeypatch.setenv("HALLMARK_RATE", " OFF ")
    assert environment.throttle_rate("HALLMARK_RATE", "600/min") is None
    monkeypatch.setenv("HALLMARK_RATE", "10/fortnight")
    with pytest.raises(ImproperlyConfigured, match="HALLMARK_RATE='10/fortnight'"):
        environment.throttle_rate("HALLMARK_RATE", "600/min")


def test_kept_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HALLMARK_KEY", raising=False)
    made = environment.kept_secret("HALLMARK_KEY", tmp_path / "key")
    assert len(made) >= 50 and environment.kept_secret("HALLMARK_KEY", tmp_path / "key") == made
    monkeypatch.setenv("HALLMARK_KEY", "short")
    assert environment.kept_secret("HALLMARK_KEY", tmp_path / "key") == "short"
    with pytest.raises(ImproperlyConfigured, match="HALLMARK_KEY must be at least 32 characters long"):
        environment.kept_secret("HALLMARK_KEY", tmp_path / "key", min_length=32)
