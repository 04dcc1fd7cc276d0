"""The library at scale: API latency of the library's queries beside the same SQL run raw,
with the PostgreSQL plan of each.

    .venv/bin/python bench/bench_library.py --database postgres://postgres@127.0.0.1:5432/hallmark_bench \
        [--fill 100000] [--requests 30] [--port 17610]

The database must be PostgreSQL; with --fill N it must be empty and is migrated and filled with
``manage.py make_synthetic_library --count N`` first (then VACUUM ANALYZE). Without --fill it
must already hold a synthetic library. Starts gunicorn (2 workers, as scripts/start.sh) on
--port with a throwaway var dir, asks each URL --requests times after 3 warm-up requests
(one client, one request at a time), and prints a markdown table of p50/p95 (ms) for the API
and for the library's SQL statements run raw one after the other, then each statement's plan
(EXPLAIN ANALYZE).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CASES = [
    # The anchor: a small authenticated endpoint through the same server, measured in the same
    # run, so figures from a busy machine can be read as a ratio.
    ("anchor: GET /api/v1/policy/", None),
    ("default page", ""),
    ("plugin + status", "plugin=sd35-medium&status=approved"),
    ("search, common word, newest first", "q=lighthouse"),
    ("search, common word, ranked", "q=lighthouse&ordering=relevance"),
    ("search, rare word, newest first", "q=axolotl"),
    ("search, rare word, ranked", "q=axolotl&ordering=relevance"),
    ("tag", "tag=hero"),
    ("licence + min width", "license=LicenseRef-Ideogram-API-Terms&min_width=1300"),
]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True, help="DATABASE_URL of a PostgreSQL database.")
    parser.add_argument("--fill", type=int, default=0, help="Fill an empty database with N synthetic assets first.")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--port", type=int, default=17610)
    args = parser.parse_args()

    var_dir = tempfile.mkdtemp(prefix="hallmark-bench-library-")
    os.environ.update(HALLMARK_VAR_DIR=var_dir, DATABASE_URL=args.database, DJANGO_SETTINGS_MODULE="hallmark.settings")
    # The web as scripts/start.sh runs it: connections kept a minute (unless set).
    os.environ.setdefault("DATABASE_CONN_MAX_AGE", "60")
    import django

    django.setup()
    import requests
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token

    from workspace import library

    assert connection.vendor == "postgresql", "the library benchmark is for PostgreSQL"
    if args.fill:
        call_command("migrate", verbosity=0)
        started = time.monotonic()
        call_command("make_synthetic_library", count=args.fill)
        print(f"filled {args.fill} assets in {time.monotonic() - started:.0f} s", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    user, _ = User.objects.get_or_create(username="bench-viewer")
    user.groups.add(Group.objects.get_or_create(name="viewer")[0])
    token, _ = Token.objects.get_or_create(user=user)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM assets_asset")
        total = cursor.fetchone()[0]

    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "hallmark.wsgi", "--bind", f"127.0.0.1:{args.port}", "--workers", "2",
         "--threads", "4", "--log-level", "warning"],
        cwd=ROOT, env=os.environ.copy(),
    )  # fmt: skip
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token.key}"
    base = f"http://127.0.0.1:{args.port}/api/v1/assets/"
    try:
        for _ in range(100):
            try:
                if session.get(base, timeout=60).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        rows = []
        plans = []
        for name, params in CASES:
            url = f"{base}?{params}" if params is not None else base.replace("/assets/", "/policy/")
            api = []
            for attempt in range(args.requests + 3):
                t0 = time.perf_counter()
                response = session.get(url, timeout=120)
                elapsed = (time.perf_counter() - t0) * 1000
                assert response.status_code == 200, (url, response.status_code, response.text[:300])
                if attempt >= 3:
                    api.append(elapsed)
            if params is None:
                rows.append((name, "-", 0, api, [0.0], 0))
                continue
            shown = len(response.json()["results"])
            query = library.parse(dict(p.split("=", 1) for p in params.split("&") if p))
            with CaptureQueriesContext(connection) as captured:
                library.fetch(query)
            statements = [q["sql"] for q in captured.captured_queries]
            raw = []
            with connection.cursor() as cursor:
                for attempt in range(args.requests + 3):
                    t0 = time.perf_counter()
                    for sql in statements:
                        cursor.execute(sql)
                        cursor.fetchall()
                    if attempt >= 3:
                        raw.append((time.perf_counter() - t0) * 1000)
                lines = []
                for sql in statements:
                    if sql.startswith("EXPLAIN"):
                        lines.append("(the planner's estimate of the matches: EXPLAIN only)")
                        continue
                    cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + sql)
                    lines += [r[0] for r in cursor.fetchall()]
                plans.append((name, lines))
            rows.append((name, params, shown, api, raw, len(statements)))
        print(f"\n{total} assets (PostgreSQL), {args.requests} requests each after 3 warm-ups, one client\n")
        print("| query | parameters | rows | API p50 ms | API p95 ms | its SQL p50 ms | its SQL p95 ms | SQL statements |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for name, params, shown, api, raw, statements in rows:
            print(
                f"| {name} | `{params or '-'}` | {shown} | {statistics.median(api):.1f} | {percentile(api, 95):.1f} "
                f"| {statistics.median(raw):.1f} | {percentile(raw, 95):.1f} | {statements} |"
            )
        for name, lines in plans:
            print(f"\n{name}:\n" + "\n".join("    " + line for line in lines))
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
