"""The two Celery dictionaries of ``hallmark/settings.py``: broker transport options, beat schedule.

settings.py reads every variable and names every setting; these functions only build the
dictionaries from the values it passes, so the settings module stays short and each setting
stays where an operator looks for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery.schedules import crontab


def broker_transport_options(
    broker_url: str,
    broker_dir: Path,
    *,
    visibility_timeout: int,
    connect_timeout: float,
    poll_interval: float,
) -> dict[str, object]:
    """``CELERY_BROKER_TRANSPORT_OPTIONS`` for ``broker_url``; the filesystem broker's folders are made."""
    options: dict[str, object] = {"visibility_timeout": visibility_timeout}
    if not broker_url.startswith("filesystem"):
        # kombu otherwise retries a refused connection for seconds inside every publish (2 s each
        # on Redis, measured); a worker's consumer reconnects with its own retry loop
        # (broker_connection_max_retries), which this does not change.
        options["max_retries"] = 0
    if broker_url.startswith(("redis", "rediss", "sentinel")):
        # Redis's socket_timeout is left alone: a worker's blocking read waits longer than any publish.
        options["socket_connect_timeout"] = connect_timeout
    if broker_url.startswith("filesystem"):
        for sub in ("queue", "processed", "control"):
            (broker_dir / sub).mkdir(parents=True, exist_ok=True)
        options.update(
            {
                "data_folder_in": str(broker_dir / "queue"),
                "data_folder_out": str(broker_dir / "queue"),
                "processed_folder": str(broker_dir / "processed"),
                "control_folder": str(broker_dir / "control"),
                "store_processed": False,
                # kombu's default of 1 s put most of a second of queue wait on every job
                # (docs/benchmarks.md, job overhead); a listing every 50 ms costs an idle worker
                # next to nothing.
                "polling_interval": poll_interval,
            }
        )
    return options


def beat_schedule(sweep_seconds: float) -> dict[str, dict[str, Any]]:
    """``CELERY_BEAT_SCHEDULE``: the maintenance tasks, each expiring when its next run is due."""
    return {
        "audit-checkpoint-hourly": {
            "task": "hallmark.maintenance.audit_checkpoint",
            "schedule": crontab(minute=7),
            "options": {"expires": 3600},
        },
        "purge-deleted-daily": {
            "task": "hallmark.maintenance.purge_deleted",
            "schedule": crontab(hour=3, minute=17),
            "options": {"expires": 24 * 3600},
        },
        "recover-stale-jobs": {
            "task": "hallmark.maintenance.recover_stale_jobs",
            "schedule": sweep_seconds,
            "options": {"expires": sweep_seconds},
        },
        "verify-assets-sample-nightly": {
            "task": "hallmark.maintenance.verify_assets_sample",
            "schedule": crontab(hour=2, minute=37),
            "options": {"expires": 24 * 3600},
        },
    }
