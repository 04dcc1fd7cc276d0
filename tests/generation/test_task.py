"""The Celery task retries when the database is away, instead of dropping the delivery."""

from __future__ import annotations

import pytest
from celery.exceptions import Retry
from django.db import OperationalError

from generation import batching, tasks


def test_database_error_while_claiming_retries_the_task(monkeypatch, django_db_blocker) -> None:
    def database_down(job_id: str, **kwargs: object) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(batching, "run", database_down)
    retried: list[dict] = []

    def fake_retry(*args: object, **kwargs: object) -> Retry:
        retried.append(dict(kwargs))
        return Retry("retry")

    monkeypatch.setattr(tasks.run_generation, "retry", fake_retry)
    # The task closes old connections first: after a database test one is still open, and
    # checking it is database access (this test failed when run after one).
    with django_db_blocker.unblock(), pytest.raises(Retry):
        tasks.run_generation.run("00000000-0000-0000-0000-000000000000")
    assert retried and isinstance(retried[0]["exc"], OperationalError)
