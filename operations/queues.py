"""Messages waiting in the broker, per queue: what the workers of each plugin have yet to take.

Asked through kombu, so one code path covers the filesystem broker (files in its folder) and
Redis (the length of the queue's lists, priorities included); a broker without a size call
(AMQP) answers a passive declare. Bounded: one connection attempt with short socket timeouts.
A job row can say ``queued`` while its message is gone (a broker lost it; the recovery sweep
sends it again), so this is the broker's own view, next to the job counts from the database.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from generation.services import queue_for
from hallmark.celery import app
from plugins import registry


def watched_queues() -> list[str]:
    """The queue of every installed plugin, and the maintenance queue."""
    queues = [queue_for(entry.id) for entry in registry.discover().values()]
    return [*sorted(queues), settings.HALLMARK_MAINTENANCE_QUEUE]


def queue_depths(queues: list[str], *, timeout: float) -> dict[str, int]:
    """Messages waiting in each of ``queues``; raises when the broker cannot be reached."""
    options = {"max_retries": 0, "socket_timeout": timeout, "socket_connect_timeout": timeout}
    depths: dict[str, int] = {}
    with app.connection_for_read(connect_timeout=timeout, transport_options=options) as conn:
        conn.ensure_connection(max_retries=0, timeout=max(1, round(timeout)))
        channel: Any = conn.default_channel
        size = getattr(channel, "_size", None)  # kombu's virtual transports (filesystem, Redis)
        for queue in queues:
            if callable(size):
                depths[queue] = int(size(queue))
            else:
                depths[queue] = int(channel.queue_declare(queue=queue, passive=True).message_count)
    return depths
