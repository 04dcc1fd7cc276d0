"""``hallmark.sdk.hosted``: the retry loop and capped reads every hosted plugin shares."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests

from hallmark.sdk import Cancelled, PluginError, hosted


def _flaky(failures: list[hosted.Retryable], answer: str = "ok"):
    calls: list[float] = []

    def call() -> str:
        calls.append(time.monotonic())
        if failures:
            raise failures.pop(0)
        return answer

    return call, calls


def _retry(call, *, attempts: int = 3, budget: float = 30.0, cancelled=lambda: False):
    return hosted.call_with_retries(
        call,
        what="test call",
        max_attempts=attempts,
        backoff_base_seconds=0.01,
        deadline=time.monotonic() + budget,
        is_cancelled=cancelled,
    )


def test_transient_failures_are_retried_until_success() -> None:
    call, calls = _flaky([hosted.Retryable("busy"), hosted.Retryable("busy", wait=0.05)])
    assert _retry(call) == "ok"
    assert len(calls) == 3 and calls[2] - calls[1] >= 0.05  # the provider's wait was honoured


def test_giving_up_after_the_attempts_is_a_retryable_plugin_error() -> None:
    call, calls = _flaky([hosted.Retryable("busy")] * 5)
    with pytest.raises(PluginError) as failed:
        _retry(call, attempts=2)
    assert len(calls) == 2
    assert failed.value.retryable and failed.value.code == "provider_unavailable"
    assert str(failed.value) == "busy on all 2 attempts of the test call; try again later."


def test_a_wait_past_the_time_budget_gives_up_at_once() -> None:
    call, calls = _flaky([hosted.Retryable("rate limited", wait=3600)])
    started = time.monotonic()
    with pytest.raises(PluginError, match="would pass the job's time budget"):
        _retry(call, budget=5)
    assert len(calls) == 1 and time.monotonic() - started < 1


def test_cancellation_is_honoured_while_waiting() -> None:
    call, calls = _flaky([hosted.Retryable("busy", wait=10)])
    started = time.monotonic()
    with pytest.raises(Cancelled):
        _retry(call, cancelled=lambda: bool(calls))
    assert time.monotonic() - started < 1  # within one sleep slice, not after ten seconds


def test_other_errors_pass_through_unretried() -> None:
    calls: list[int] = []

    def call() -> None:
        calls.append(1)
        raise PluginError("refused", code="provider_refused")

    with pytest.raises(PluginError, match="refused"):
        _retry(call)
    assert calls == [1]


def test_backoff_doubles_with_up_to_a_quarter_of_jitter() -> None:
    for attempt, base in ((1, 2.0), (2, 4.0), (3, 8.0)):
        assert base <= hosted.backoff_delay(attempt, 2.0) <= base * 1.25


def test_retry_after_takes_seconds_or_an_http_date() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert hosted.parse_retry_after("12") == 12.0
    assert hosted.parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30
    assert hosted.parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0
    assert hosted.parse_retry_after("soon") is None and hosted.parse_retry_after(None) is None


def test_read_capped_stops_at_the_deadline() -> None:
    response = requests.Response()
    response.raw = io.BytesIO(b"x" * 10)
    with pytest.raises(hosted.DeadlinePassed):
        hosted.read_capped(response, 100, deadline=time.monotonic() - 1)
    response = requests.Response()
    response.raw = io.BytesIO(b"x" * 10)
    response.headers["Content-Length"] = "101"
    with pytest.raises(hosted.BodyTooLarge) as refused:
        hosted.read_capped(response, 100)
    assert refused.value.declared == 101
