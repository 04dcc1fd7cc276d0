"""Zip export of many assets: throughput and peak memory of ``POST /api/v1/exports/`` next to
``zip`` on the same files.

    .venv/bin/python bench/bench_export.py [--assets 1000] [--size 512] [--runs 3]

Uses a throwaway var dir and SQLite database. Makes --assets distinct PNG files of random
pixels (--size px square, about 0.75 MB each at 512) under synthetic asset rows, then per run:
the export through the API (Django's test client, streamed into a file) and ``zip -0`` (stored,
as the export stores) and ``zip`` (deflate, its default) over the same files. Prints the median
of --runs runs, the ratio to ``zip -0``, and the process's peak RSS before and after exporting.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    var_dir = tempfile.mkdtemp(prefix="hallmark-bench-export-")
    os.environ.update(HALLMARK_VAR_DIR=var_dir, DJANGO_SETTINGS_MODULE="hallmark.settings")
    os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    import hashlib
    import io

    from django.contrib.auth.models import Group, User
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.core.management import call_command
    from django.test import Client
    from PIL import Image

    from assets.models import Asset
    from workspace import synthetic

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench-exporter")
    user.groups.add(Group.objects.get_or_create(name="viewer")[0])
    synthetic.build(args.assets, seed=4, collections=1)
    paths = []
    for index, asset in enumerate(Asset.objects.order_by("created_at")):
        image = Image.frombytes("RGB", (args.size, args.size), os.urandom(args.size * args.size * 3))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", compress_level=1)
        data = buffer.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        name = default_storage.save(f"assets/{digest[:2]}/{digest[2:4]}/{digest}.png", ContentFile(data))
        Asset.objects.filter(pk=asset.pk).update(file=name, sha256=digest, byte_size=len(data), deleted_at=None)
        paths.append(default_storage.path(name))
        if index % 200 == 0:
            print(f"{index} files", flush=True)
    total_mb = sum(os.path.getsize(p) for p in paths) / 1e6
    ids = [str(pk) for pk in Asset.objects.values_list("pk", flat=True)]
    client = Client()
    client.force_login(user)
    out = Path(var_dir) / "out.zip"
    before = peak_rss_mb()
    ours, stored, deflated = [], [], []
    for _ in range(args.runs):
        out.unlink(missing_ok=True)
        t0 = time.perf_counter()
        response = client.post("/api/v1/exports/", {"assets": ids}, content_type="application/json")
        assert response.status_code == 200, response.content[:300]
        with out.open("wb") as sink:
            for chunk in response.streaming_content:
                sink.write(chunk)
        ours.append(time.perf_counter() - t0)
        size_ours = out.stat().st_size
        for flags, results in ((["-0"], stored), ([], deflated)):
            out.unlink()
            t0 = time.perf_counter()
            subprocess.run(["zip", "-q", *flags, str(out), *paths], check=True)
            results.append(time.perf_counter() - t0)
    after = peak_rss_mb()
    print(f"\n{args.assets} assets, {total_mb:.0f} MB of PNG ({args.size} px), median of {args.runs} runs\n")
    print("| what | seconds | MB/s | vs zip -0 |")
    print("| --- | --- | --- | --- |")
    anchor = statistics.median(stored)
    for label, runs in (("export API (stored, streamed)", ours), ("zip -0 (stored)", stored), ("zip (deflate)", deflated)):
        median = statistics.median(runs)
        print(f"| {label} | {median:.2f} | {total_mb / median:.0f} | {anchor / median:.2f}x |")
    print(f"\nexport zip: {size_ours / 1e6:.0f} MB; peak RSS of this process: {before:.0f} MB before the "
          f"exports, {after:.0f} MB after {args.runs} exports of {total_mb:.0f} MB each")


if __name__ == "__main__":
    main()
