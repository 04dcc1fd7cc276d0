"""The Celery app of ``bench/bench_throughput.py``'s workers: Hallmark's app plus a no-op task.

The no-op task measures what Celery itself costs per message on the same broker and workers,
the yardstick for Hallmark's jobs per second.
"""

from __future__ import annotations

from hallmark.celery import app

__all__ = ["app"]


@app.task(name="bench.noop", ignore_result=True, acks_late=True)
def noop() -> None:
    """Nothing: the cost of a message, its delivery and its ack."""
