"""Each test starts with no cached readiness answer and no per-process job sums."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from operations import job_stats, readiness


@pytest.fixture(autouse=True)
def _fresh_operations_state() -> Iterator[None]:
    # The database is emptied between tests; in production rows are never taken away.
    readiness.forget_cached()
    job_stats.reset()
    yield
    readiness.forget_cached()
    job_stats.reset()
