"""Loads synthetic generation jobs in bulk, for the synthetic library (benchmarks and demos;
``manage.py make_synthetic_library``). One of ``GenerationJob.WRITERS``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from generation.models import GenerationJob
from hallmark.bulk import load_rows

#: The queue name that marks a synthetic job (no worker serves it).
SYNTHETIC_QUEUE = "synthetic"


def load_jobs(rows: Iterable[dict[str, Any]]) -> int:
    """Insert finished synthetic jobs (``{attname: value}`` each) in bulk; return how many."""
    return load_rows(GenerationJob, ({**row, "queue": SYNTHETIC_QUEUE} for row in rows))
