"""Concurrent clients on ``GET /api/v1/assets/`` next to a minimal view, in one gunicorn run.

Run from the repository root::

    .venv/bin/python bench/bench_api_load.py [--assets 300] [--connections 50] [--seconds 30]
    .venv/bin/python bench/bench_api_load.py --database postgres://postgres@127.0.0.1:5432/hallmark_bench

What it does, in a throwaway ``HALLMARK_VAR_DIR`` (SQLite unless ``--database``, which must
name a scratch database: it is migrated and keeps the rows):

1. makes ``--assets`` real assets (procedural 64x64 jobs run in this process: files, C2PA,
   audit events), as a viewer's library;
2. profiles one page of the list in process (Django's test client, token auth): SQL queries
   per page and the median time of a page;
3. starts gunicorn as the first probe ran it (``-w 2 --threads 4``) and drives it with
   ``wrk`` (Debian package ``wrk``), ``--connections`` connections for ``--seconds`` seconds
   each, on a minimal view (``/_bench/minimal``: a fixed body through the same middleware,
   ``bench/api_load_urls.py``), on a view with a fixed body as large as the list's page
   (``/_bench/page-sized``: the cost of moving those bytes alone) and on the asset list,
   ``--rounds`` times alternately;
   prints requests/s, p50, p95 and p99 per endpoint (medians over rounds) and the ratio of the
   list's rate to the minimal view's. The goal: ratio >= 0.3, list p95 <= 250 ms.

The load generator shares the machine's cores with the server, as in the first probe.
API rate limits are off for the server (``HALLMARK_API_THROTTLE_USER=off``).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=300, help="assets in the library (default 300)")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections (default 50)")
    parser.add_argument("--seconds", type=int, default=30, help="seconds per endpoint and round (default 30)")
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds (default 1)")
    parser.add_argument("--database", help="DATABASE_URL of a scratch database (default: SQLite in the var dir)")
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions for one page")
    return parser.parse_args()


def main() -> None:
    args = _args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    var = Path(tempfile.mkdtemp(prefix="hallmark-bench-load-"))
    os.environ["HALLMARK_VAR_DIR"] = str(var)
    os.environ["HALLMARK_API_THROTTLE_USER"] = "off"
    # The web as scripts/start.sh runs it: connections kept a minute (unless set).
    os.environ.setdefault("DATABASE_CONN_MAX_AGE", "60")
    os.environ["HALLMARK_API_THROTTLE_ANON"] = "off"
    if args.database:
        os.environ["DATABASE_URL"] = args.database
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.api_load_settings"
    sys.path.insert(0, str(ROOT))
    try:
        token = _library(args.assets)
        _profile_page(token, show=args.profile)
        _load(args, token)
    finally:
        shutil.rmtree(var, ignore_errors=True)


def _library(count: int) -> str:
    """``count`` assets from real jobs; returns a viewer's API token."""
    import io

    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from generation import runner, services
    from plugins import services as plugin_services

    call_command("migrate", verbosity=0)
    call_command("provenance_init", "--if-missing", stdout=io.StringIO())
    admin = User.objects.create_superuser("bench-admin", password="bench-admin-pw-1")
    plugin_services.update_plugin("procedural", acting_user=admin, enabled=True, config=None)
    creator = User.objects.create_user("bench-creator", password="bench-creator-pw-1")
    creator.groups.add(Group.objects.get_or_create(name="creator")[0])
    viewer = User.objects.create_user("bench-viewer", password="bench-viewer-pw-1")
    viewer.groups.add(Group.objects.get_or_create(name="viewer")[0])
    began = time.monotonic()
    for i in range(count):
        job, _ = services.submit(
            acting_user=creator,
            plugin_id="procedural",
            fields={"prompt": f"library image {i}", "width": 64, "height": 64, "seed": i, "params": {"steps": 1}},
        )
        runner.run(str(job.pk))
    print(f"library: {count} assets made in {time.monotonic() - began:.1f} s")
    return str(Token.objects.create(user=viewer).key)


def _profile_page(token: str, *, show: bool) -> None:
    """Queries and time of one page of 50 in process (no network, no gunicorn)."""
    from django.db import connection
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/assets/").status_code == 200
    queries: list[str] = []

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        queries.append(sql)
        return execute(sql, params, many, context)

    # (Django empties connection.queries at each request's start: count at the cursor.)
    with connection.execute_wrapper(count):
        response = client.get("/api/v1/assets/")
    assert response.status_code == 200, response.status_code
    times = []
    for _ in range(20):
        began = time.perf_counter()
        client.get("/api/v1/assets/")
        times.append(time.perf_counter() - began)
    rows = len(response.json()["results"])
    # The second anchor (``/_bench/page-sized``) answers a fixed body of this page's size.
    os.environ["HALLMARK_BENCH_BODY_BYTES"] = str(len(response.content))
    print(
        f"in process: one page of {rows} assets takes {len(queries)} SQL queries, "
        f"median {statistics.median(times) * 1000:.1f} ms ({statistics.median(times) * 1000 / rows:.2f} ms a row)"
    )
    if show:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(5):
            client.get("/api/v1/assets/")
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _load(args: argparse.Namespace, token: str) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "hallmark.wsgi:application", "-b", f"127.0.0.1:{port}",
         "-w", "2", "--threads", "4", "--log-level", "warning"],
        cwd=ROOT,
        env=os.environ.copy(),
    )
    try:
        _wait_for(port)
        endpoints = {
            "minimal view": "/_bench/minimal",
            "page-sized": "/_bench/page-sized",
            "asset list": "/api/v1/assets/",
        }
        for path in endpoints.values():  # warm both workers' imports and caches
            _wrk(port, path, token, connections=8, seconds=2)
        results: dict[str, list[dict[str, float]]] = {name: [] for name in endpoints}
        for _ in range(args.rounds):
            for name, path in endpoints.items():
                results[name].append(_wrk(port, path, token, connections=args.connections, seconds=args.seconds))
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(
        f"\n{platform.node()}: {os.cpu_count()} cores, gunicorn -w 2 --threads 4, wrk -c {args.connections} "
        f"for {args.seconds} s, {args.rounds} round(s), {args.assets} assets, "
        f"database {'PostgreSQL' if args.database else 'SQLite'}"
    )
    print(f"{'endpoint':<14}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}")
    medians: dict[str, dict[str, float]] = {}
    for name, runs in results.items():
        medians[name] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        m = medians[name]
        print(f"{name:<14}{m['rate']:>9.1f}{m['p50']:>9.0f}{m['p95']:>9.0f}{m['p99']:>9.0f}{m['errors']:>8.0f}")
    ratio = medians["asset list"]["rate"] / medians["minimal view"]["rate"]
    sized = medians["page-sized"]["rate"] / medians["minimal view"]["rate"]
    print(f"page-sized body / minimal view: {sized:.2f} (what moving a page's bytes alone leaves)")
    print(f"asset list / minimal view: {ratio:.2f} (goal >= 0.3); list p95 {medians['asset list']['p95']:.0f} ms (goal <= 250)")


def _wait_for(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"gunicorn did not listen on {port}")


def _wrk(port: int, path: str, token: str, *, connections: int, seconds: int) -> dict[str, Any]:
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s",
         "-s", str(ROOT / "bench" / "wrk_p95.lua"), "-H", f"Authorization: Token {token}",
         f"http://127.0.0.1:{port}{path}"],
        capture_output=True, text=True, check=True,
    ).stdout
    found = re.search(
        r"BENCH requests=(\d+) duration_us=(\d+) p50_us=(\d+) p95_us=(\d+) p99_us=(\d+) errors=(\d+)", out
    )
    if found is None:
        raise SystemExit(f"wrk said:\n{out}")
    requests, duration, p50, p95, p99, errors = (int(g) for g in found.groups())
    return {
        "rate": requests / (duration / 1e6),
        "p50": p50 / 1000,
        "p95": p95 / 1000,
        "p99": p99 / 1000,
        "errors": errors,
    }


if __name__ == "__main__":
    main()
