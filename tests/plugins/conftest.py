"""Fixtures for plugin tests: a local fake of Ideogram's API with its key in the environment."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.plugins.fake_ideogram import FakeIdeogram

IDEOGRAM_KEY_ENV = "IDEOGRAM_TEST_KEY"


@pytest.fixture
def ideogram_key() -> str:
    """A distinctive key per test, so a leak is easy to find and no two tests share health state."""
    return f"ideo-sk-{secrets.token_hex(16)}"


@pytest.fixture
def fake_ideogram(ideogram_key: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeIdeogram]:
    """A fake Ideogram on 127.0.0.1 for this test, its key in ``IDEOGRAM_TEST_KEY``."""
    monkeypatch.setenv(IDEOGRAM_KEY_ENV, ideogram_key)
    with FakeIdeogram(ideogram_key) as fake:
        yield fake


@pytest.fixture
def ideogram_config(fake_ideogram: FakeIdeogram) -> Callable[..., dict[str, Any]]:
    """``ideogram_config(max_attempts=2)``: plugin config pointing at the fake, with short backoff."""

    def build(**overrides: Any) -> dict[str, Any]:
        return {
            "base_url": fake_ideogram.base_url,
            "api_key_env": IDEOGRAM_KEY_ENV,
            "backoff_base_seconds": 0.01,
            "timeout_seconds": 10.0,
            "max_total_seconds": 60.0,
            **overrides,
        }

    return build
