"""The ``DATABASES["default"]`` dictionary of ``hallmark/settings.py``, per database engine.

As with ``hallmark.celery_settings``: settings.py reads every variable and passes the values;
this only builds the dictionary, with the options each engine needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url


def default_database(
    url: str, var_dir: Path, *, conn_max_age: int, server_side_binding: bool
) -> dict[str, Any]:
    """The default database for ``url`` (a ``DATABASE_URL``), with the engine's options."""
    database: dict[str, Any] = dict(
        dj_database_url.parse(
            url,
            conn_max_age=conn_max_age,
            # A kept connection (DATABASE_CONN_MAX_AGE, HALLMARK_WORKER_CONN_MAX_AGE) is checked
            # before its first use in each request or job.
            conn_health_checks=True,
        )
    )
    if database["ENGINE"] == "django.db.backends.sqlite3":
        # Web and worker are separate processes: WAL lets readers run beside the writer, and
        # IMMEDIATE transactions take the write lock up front so two writers queue instead of
        # failing with "database is locked" half-way through.
        database["OPTIONS"] = {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
        # A file, not :memory:, so that worker processes started by tests share the test database.
        database["TEST"] = {"NAME": str(var_dir / "test.sqlite3")}
    elif database["ENGINE"] == "django.db.backends.postgresql" and server_side_binding:
        # Parameters sent beside the statement instead of quoted into it by psycopg: the quoting
        # was a measured share of a worker's CPU per job (docs/benchmarks.md). Statements are not
        # prepared (prepare_threshold None): a prepared statement can be planned once for all
        # parameters, which a search of the library must not be, and a pooler that shares
        # server connections between transactions would lose it.
        database.setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=None)
    return database
