"""The library's API queries in-process (Django's test client, no HTTP server): what a request
costs Django, DRF and PostgreSQL without gunicorn and a load generator sharing the cores.

    .venv/bin/python bench/bench_library_inprocess.py --database postgres://postgres@127.0.0.1:5432/hallmark_bench_1m \
        [--requests 40]

The database must already hold a synthetic library (``bench/bench_library.py --fill N``). A
superuser ``bench-inprocess`` is created in it for the token. Prints p50/p95 (ms) per query,
after 3 warm-up requests each, beside the authenticated anchor ``GET /api/v1/policy/``.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

QUERIES = [
    ("anchor: GET /api/v1/policy/", "/api/v1/policy/"),
    ("default page", "/api/v1/assets/"),
    ("plugin + status", "/api/v1/assets/?plugin=sd35-medium&status=approved"),
    ("search, common word", "/api/v1/assets/?q=lighthouse"),
    ("search, common word, ranked", "/api/v1/assets/?q=lighthouse&ordering=relevance"),
    ("search, rare word", "/api/v1/assets/?q=axolotl"),
    ("search, rare word, ranked", "/api/v1/assets/?q=axolotl&ordering=relevance"),
    ("tag", "/api/v1/assets/?tag=hero"),
    ("licence + min width", "/api/v1/assets/?license=LicenseRef-Ideogram-API-Terms&min_width=1300"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True, help="DATABASE_URL of the filled PostgreSQL database.")
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.database
    os.environ["HALLMARK_VAR_DIR"] = tempfile.mkdtemp(prefix="hallmark-bench-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hallmark.settings")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import django

    django.setup()
    logging.disable(logging.WARNING)
    from django.contrib.auth.models import User
    from django.test import Client
    from rest_framework.authtoken.models import Token

    user, _ = User.objects.get_or_create(
        username="bench-inprocess", defaults={"is_superuser": True, "is_staff": True}
    )
    token, _ = Token.objects.get_or_create(user=user)
    client = Client(HTTP_AUTHORIZATION=f"Token {token.key}")
    print("| query | p50 ms | p95 ms |\n| --- | --- | --- |")
    for name, url in QUERIES:
        for _ in range(3):
            client.get(url)
        took = []
        for _ in range(args.requests):
            start = time.perf_counter()
            response = client.get(url)
            took.append((time.perf_counter() - start) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{url}: HTTP {response.status_code}")
        took.sort()
        p95 = took[max(0, round(0.95 * len(took)) - 1)]
        print(f"| {name} | {statistics.median(took):.1f} | {p95:.1f} |")


if __name__ == "__main__":
    main()
