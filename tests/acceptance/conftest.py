"""Fixtures for the acceptance tests: stored images made through the real job path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from assets.models import Asset
from generation import runner, services


@pytest.fixture
def stored(users, procedural) -> Callable[..., Asset]:
    """``stored(prompt, **fields)``: run a procedural job on this thread, return its first asset."""

    def make(prompt: str, plugin: str = "procedural", **fields: Any) -> Asset:
        fields.setdefault("width", 512)
        fields.setdefault("height", 512)
        fields.setdefault("seed", 7)
        job, _ = services.submit(
            acting_user=users["creator"], plugin_id=plugin, fields={"prompt": prompt, **fields}
        )
        runner.run(str(job.pk))
        job.refresh_from_db()
        assert job.status == "succeeded", job.error
        return Asset.objects.get(job=job, index_in_job=0)

    return make


@pytest.fixture
def make_checklist(users) -> Callable[..., Any]:
    """``make_checklist(checks, name=...)``: a checklist made by the creator through the service."""
    from acceptance import services as acceptance_services

    counter = iter(range(1000))

    def make(checks: list[dict[str, Any]], name: str | None = None) -> Any:
        return acceptance_services.create_checklist(
            acting_user=users["creator"], name=name or f"list-{next(counter)}", checks=checks
        )

    return make
