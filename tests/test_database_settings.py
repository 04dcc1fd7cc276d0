"""PostgreSQL connections bind statement parameters on the server unless switched off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tests.conftest import ROOT


def _options_in_a_fresh_process(tmp_path: Path, **extra: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HALLMARK_", "DJANGO_", "DATABASE_"))}
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        "print(json.dumps(settings.DATABASES['default'].get('OPTIONS', {})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            **env,
            "HALLMARK_VAR_DIR": str(tmp_path / "var"),
            "DJANGO_SETTINGS_MODULE": "hallmark.settings",
            **extra,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_server_side_binding_is_on_for_postgresql_and_can_be_switched_off(tmp_path: Path) -> None:
    url = "postgres://hallmark@db.example:5432/hallmark"  # settings only: nothing connects
    on = _options_in_a_fresh_process(tmp_path, DATABASE_URL=url)
    assert on["server_side_binding"] is True and on["prepare_threshold"] is None
    off = _options_in_a_fresh_process(
        tmp_path, DATABASE_URL=url, HALLMARK_DATABASE_SERVER_SIDE_BINDING="false"
    )
    assert "server_side_binding" not in off  # psycopg's client-side quoting, Django's default
    assert "server_side_binding" not in _options_in_a_fresh_process(tmp_path)  # SQLite, the default


@pytest.mark.django_db
def test_a_postgresql_connection_sends_parameters_beside_the_statement() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    import psycopg

    with connection.cursor() as cursor:
        assert not isinstance(cursor.cursor, psycopg.ClientCursor)
        # A value that client-side quoting would have to escape arrives unchanged.
        cursor.execute("SELECT %s::text, %s::int", ["it's; DROP TABLE x; --", 7])
        assert cursor.fetchone() == ("it's; DROP TABLE x; --", 7)
        # Nothing is prepared, however often a statement runs: each is planned for its own
        # parameters, and a transaction-mode pooler loses nothing.
        for value in range(10):
            cursor.execute("SELECT %s::int + 1", [value])
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone() == (0,)
