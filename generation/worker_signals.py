"""Worker start-up: a recovery sweep for the queues this worker serves, then one periodically.

Brokers differ in what they do with a message whose worker died (Redis redelivers after the
visibility timeout, the filesystem broker never does), so recovery does not rely on them:
the job rows say which jobs are stale, and any worker serving their queue picks them up.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery.signals import (
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)

logger = logging.getLogger(__name__)
_stop = threading.Event()


def _served_queues(sender: Any) -> list[str]:
    consumer = getattr(sender, "consumer", None) or sender
    task_consumer = getattr(consumer, "task_consumer", None)
    if task_consumer is None:
        return []
    return [queue.name for queue in task_consumer.queues]


@worker_init.connect
@worker_process_init.connect
def keep_connections(**kwargs: Any) -> None:
    """Workers keep database connections between jobs when ``HALLMARK_WORKER_CONN_MAX_AGE`` > 0.

    Each job's task closes connections that are broken or older than that; the web keeps
    ``DATABASE_CONN_MAX_AGE``. Set before any connection opens, so every thread's uses it.
    """
    from django.conf import settings

    if settings.HALLMARK_WORKER_CONN_MAX_AGE <= 0:
        return
    for database in settings.DATABASES.values():
        database["CONN_MAX_AGE"] = settings.HALLMARK_WORKER_CONN_MAX_AGE


@worker_ready.connect
def start_recovery(sender: Any = None, **kwargs: Any) -> None:
    """Sweep once now, then every ``HALLMARK_RECOVERY_INTERVAL`` seconds, in a daemon thread."""
    from django.conf import settings
    from django.db import connection

    from generation import recovery

    queues = [q for q in _served_queues(sender) if q.startswith("gen.")]
    if not queues:
        return
    _stop.clear()

    def sweep_forever() -> None:
        while True:
            try:
                recovery.recover_stale_jobs(queues)
            except Exception:
                logger.exception("recovery sweep failed")
            finally:
                connection.close()
            interval = min(settings.HALLMARK_RECOVERY_INTERVAL, settings.HALLMARK_JOB_STALE_AFTER)
            if _stop.wait(interval):
                return

    threading.Thread(target=sweep_forever, name="hallmark-recovery", daemon=True).start()


@worker_shutdown.connect
def stop_recovery(**kwargs: Any) -> None:
    """Stop the sweep thread with the worker."""
    _stop.set()


@worker_shutdown.connect
@worker_process_shutdown.connect
def finish_background_stores(**kwargs: Any) -> None:
    """A warm shutdown stores what was already generated before the process exits."""
    from generation.runner import drain_background_stores

    drain_background_stores()
