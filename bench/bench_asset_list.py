"""What one ``GET /api/v1/assets/`` costs in process: time, queries and where the time goes.

    .venv/bin/python bench/bench_asset_list.py --database postgres://postgres@127.0.0.1:5432/<scratch> \
        [--fill 20000] [--runs 50] [--profile]

The database is migrated and, with ``--fill N`` (it must then be empty), filled with
``manage.py make_synthetic_library --count N``. Each URL is asked ``--runs`` times through
Django's test client in this process (middleware, token authentication, view, serializer,
JSON rendering; no HTTP server) after 5 warm-ups, interleaved round by round, and the median
and p90 in ms are printed with the number of queries of one request. ``/healthz`` (no database)
and ``/api/v1/policy/`` (authenticated, small) are the anchors. ``--profile`` prints the
cProfile of 20 default pages (cumulative and own time) and the SQL of one, timed.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

URLS = [
    ("/healthz", "anchor: /healthz"),
    ("/api/v1/policy/", "anchor: /api/v1/policy/"),
    ("/api/v1/assets/", "default page"),
    ("/api/v1/assets/?page_size=10", "page of 10"),
    ("/api/v1/assets/?plugin=sd35-medium&status=approved", "plugin + status"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--fill", type=int, default=0)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    os.environ.update(
        HALLMARK_VAR_DIR=tempfile.mkdtemp(prefix="hallmark-bench-list-"),
        DATABASE_URL=args.database,
        DJANGO_SETTINGS_MODULE="hallmark.settings",
        HALLMARK_LOG_LEVEL="WARNING",
        HALLMARK_API_THROTTLE_USER="off",
    )
    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token

    call_command("migrate", verbosity=0)
    if args.fill:
        call_command("make_synthetic_library", count=args.fill, verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    user, _ = User.objects.get_or_create(username="bench-list-viewer")
    user.groups.add(Group.objects.get_or_create(name="viewer")[0])
    token = Token.objects.get_or_create(user=user)[0].key
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")

    def ask(url: str) -> float:
        start = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - start
        if response.status_code != 200:
            raise SystemExit(f"{url}: {response.status_code} {response.content[:200]!r}")
        return elapsed

    for url, _ in URLS:
        for _ in range(5):
            ask(url)
    samples: dict[str, list[float]] = {url: [] for url, _ in URLS}
    for _ in range(args.runs):
        for url, _ in URLS:
            samples[url].append(ask(url))
    print("| request | queries | median ms | p90 ms |\n| --- | ---: | ---: | ---: |")
    for url, label in URLS:
        with CaptureQueriesContext(connection) as captured:
            ask(url)
        values = sorted(samples[url])
        p90 = values[min(len(values) - 1, round(0.9 * (len(values) - 1)))]
        print(f"| {label} (`{url}`) | {len(captured.captured_queries)} | {statistics.median(values) * 1000:.1f} | {p90 * 1000:.1f} |")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(20):
            ask("/api/v1/assets/")
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
        with CaptureQueriesContext(connection) as captured:
            ask("/api/v1/assets/")
        for query in captured.captured_queries:
            print(f"{float(query['time']) * 1000:7.1f} ms  {query['sql'][:160]}")


if __name__ == "__main__":
    main()
