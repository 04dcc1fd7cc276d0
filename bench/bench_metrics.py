"""What watching costs: /metrics against the number of job rows, /readyz next to /healthz.

    .venv/bin/python bench/bench_metrics.py [--jobs 100000] [--runs 7] [--database postgres://postgres@127.0.0.1:5432/hallmark_metrics_bench]

Uses a throwaway var dir (and, by default, a throwaway SQLite database in it). A PostgreSQL
database given with --database must exist; it is migrated and its job rows are replaced, so
never point it at real data. Requests go through Django's test client in this process (the
view, middleware and queries; no HTTP server), so the figures are the server's own cost.
Prints a markdown table of medians, with /healthz as the anchor measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOKEN = "bench-metrics-token-0123456789"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="Finished job rows to scrape over.")
    parser.add_argument("--runs", type=int, default=7, help="Timed requests per figure (median).")
    parser.add_argument("--database", help="DATABASE_URL (default: SQLite in a temporary folder).")
    args = parser.parse_args()

    var_dir = tempfile.mkdtemp(prefix="hallmark-bench-metrics-")
    os.environ["HALLMARK_VAR_DIR"] = var_dir
    os.environ["HALLMARK_METRICS_TOKEN"] = TOKEN
    os.environ.pop("CELERY_BROKER_URL", None)  # the embedded broker in the throwaway folder
    if args.database:
        os.environ["DATABASE_URL"] = args.database
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hallmark.settings")

    import django

    django.setup()
    from datetime import timedelta

    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from generation.models import GenerationJob, JobStatus
    from operations import job_stats, readiness

    call_command("migrate", verbosity=0)
    call_command("provenance_init", "--if-missing", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM assets_asset")
        cursor.execute("DELETE FROM generation_generationjob")
    user, _ = User.objects.get_or_create(username="bench")
    now = timezone.now()
    plugins = ("procedural", "sd35-medium", "ideogram-v2")
    statuses = (JobStatus.SUCCEEDED, JobStatus.SUCCEEDED, JobStatus.SUCCEEDED, JobStatus.FAILED)
    rows = []
    for n in range(args.jobs):
        finished = now - timedelta(seconds=600 + n)  # settled: older than SETTLE_SECONDS
        started = finished - timedelta(seconds=0.2 + (n % 50) / 10)
        rows.append(
            GenerationJob(
                plugin_id=plugins[n % len(plugins)], status=statuses[n % len(statuses)], prompt="p",
                width=64, height=64, seed=n, requested_by=user, queue="gen.procedural",
                started_at=started, finished_at=finished, store_seconds=0.01 + (n % 7) / 100,
            )
        )
    GenerationJob.objects.bulk_create(rows, batch_size=5000)
    # created_at is auto_now_add: put each job's request a little before its start.
    GenerationJob.objects.update(created_at=django.db.models.F("started_at") - timedelta(seconds=0.05))
    for n in range(100):  # live jobs, and a recent tail counted afresh at each scrape
        job = GenerationJob.objects.create(
            plugin_id="procedural", prompt="p", width=64, height=64, seed=n, requested_by=user, queue="gen.procedural"
        )
        if n % 2:
            GenerationJob.objects.filter(pk=job.pk).update(
                status=JobStatus.SUCCEEDED, started_at=now, finished_at=now, store_seconds=0.02
            )

    if connection.vendor == "postgresql":
        # What autovacuum does to a table this size soon after it grows; SQLite keeps no
        # statistics unless asked (ANALYZE), and is measured without them.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE generation_generationjob")
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}

    def timed(path: str, **extra: str) -> float:
        started = time.perf_counter()
        response = client.get(path, **extra)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, (path, response.status_code, response.content[:300])
        return elapsed * 1000

    def median_of(path: str, before: object = None, **extra: str) -> float:
        times = []
        for _ in range(args.runs):
            if callable(before):
                before()
            times.append(timed(path, **extra))
        return statistics.median(times)

    timed("/healthz")  # warm up imports and the URL resolver
    healthz = median_of("/healthz")
    readyz_fresh = median_of("/readyz", before=readiness.forget_cached)
    readyz_cached = median_of("/readyz")
    first = median_of("/metrics", before=job_stats.reset, **auth)
    later = median_of("/metrics", **auth)
    size = len(client.get("/metrics", **auth).content)

    print(f"{args.jobs} finished jobs ({connection.vendor}), medians of {args.runs} requests, Django test client:\n")
    print("| request | ms | ratio to /healthz |")
    print("| --- | ---: | ---: |")
    for name, value in (
        ("`/healthz`", healthz),
        ("`/readyz`, checks run (database, broker, signer, storage)", readyz_fresh),
        ("`/readyz`, answer kept (within a second)", readyz_cached),
        ("`/metrics`, first scrape of a process (walks every job row)", first),
        ("`/metrics`, later scrapes (settled sums kept)", later),
    ):
        print(f"| {name} | {value:.1f} | {value / healthz:.0f} |")
    print(f"\n/metrics answer: {size} bytes. A later scrape's sections (median ms):")
    from operations import metrics

    for name, section in metrics.SECTIONS.items():
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            list(section())
            times.append((time.perf_counter() - started) * 1000)
        print(f"- {name}: {statistics.median(times):.1f}")
    from django.db import connection as conn
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(conn) as queries:
        list(metrics.SECTIONS["jobs"]())
    for query in queries.captured_queries:
        print(f"  {query['time']} s  {query['sql'][:120]}")


if __name__ == "__main__":
    main()
