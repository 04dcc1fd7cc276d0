"""Throughput of queued jobs on the tiny SD3 pipeline with batching on and off (CPU by default).

Run from the repository root::

    .venv/bin/python bench/bench_batching.py [--jobs 32] [--rounds 3] [--batch 4] [--size 512] [--steps 4]

In a throwaway ``HALLMARK_VAR_DIR`` (SQLite, a dev C2PA signer, the tiny random-weight
``StableDiffusion3Pipeline`` of tests/plugins/tiny_sd3.py) with a real Celery worker in this
process (solo pool; broker: local Redis db 6 when it answers, ``--broker`` to choose), each round
submits ``--jobs`` compatible ``sd35-large-turbo`` jobs in one transaction, so that all are
queued before the worker receives the first message, and times them from the commit until every
job has succeeded (images stored, signed, audited). Rounds alternate batching on
(``HALLMARK_BATCH_MAX=--batch``) and off (1), so that the machine's load weighs on both alike.
Printed: jobs/s per round, the median of the rounds for each mode, their ratio, the number of
pipeline calls (``generate`` or ``generate_batch``) per mode, and images per second of those
calls alone (the model's share, without claiming, encoding, signing and storing).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SCRATCH = Path(tempfile.mkdtemp(prefix="hallmark-bench-batching-"))
os.environ["HALLMARK_VAR_DIR"] = str(SCRATCH / "var")
os.environ["DATABASE_URL"] = f"sqlite:///{SCRATCH / 'var' / 'bench.sqlite3'}"

from bench.broker_choice import pick_broker  # noqa: E402

os.environ["CELERY_BROKER_URL"] = pick_broker(redis_db=6)
os.environ.pop("HALLMARK_MEDIA_ROOT", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hallmark.settings")
os.environ.setdefault("HALLMARK_LOG_LEVEL", "WARNING")
os.environ["HALLMARK_MAX_QUEUED_PER_USER"] = "10000"

import django  # noqa: E402

django.setup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per mode (median reported)")
    parser.add_argument("--batch", type=int, default=4, help="HALLMARK_BATCH_MAX when batching is on")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--broker", default="auto", help="Celery broker URL (read before Django starts)")
    args = parser.parse_args()
    try:
        run(args)
    finally:
        shutil.rmtree(SCRATCH, ignore_errors=True)


def run(args: argparse.Namespace) -> None:
    import contextlib

    import torch
    from celery.contrib.testing.worker import start_worker
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.db import transaction

    from generation import services as generation_services
    from generation.models import TERMINAL_STATUSES, GenerationJob
    from generation.runner import drain_background_stores
    from hallmark.celery import app
    from plugins import services as plugin_services
    from plugins.builtin.sd35 import SD35Plugin
    from tests.plugins.tiny_sd3 import build_tiny_sd3

    plugin_id = "sd35-large-turbo"
    call_command("migrate", verbosity=0)
    call_command("provenance_init", "--if-missing", verbosity=0)
    weights = build_tiny_sd3(SCRATCH / "tiny-sd3", seed=0)
    admin = User.objects.create_superuser("bench-admin", password="bench-admin-pw")
    creator = User.objects.create_user("bench-creator", password="bench-creator-pw")
    creator.groups.add(Group.objects.get_or_create(name="creator")[0])
    dtype = "float32" if args.device == "cpu" else "bfloat16"
    config = {"weights_path": str(weights), "device": args.device, "dtype": dtype}
    plugin_services.update_plugin(plugin_id, acting_user=admin, enabled=True, config=config)

    calls: dict[str, float] = {"count": 0, "seconds": 0.0}
    single, batch = SD35Plugin.generate, SD35Plugin.generate_batch

    def counted_single(self: SD35Plugin, *a: Any, **k: Any) -> Any:
        start = time.perf_counter()
        try:
            return single(self, *a, **k)
        finally:
            calls["count"] += 1
            calls["seconds"] += time.perf_counter() - start

    def counted_batch(self: SD35Plugin, *a: Any, **k: Any) -> Any:
        start = time.perf_counter()
        try:
            return batch(self, *a, **k)
        finally:
            calls["count"] += 1
            calls["seconds"] += time.perf_counter() - start

    SD35Plugin.generate = counted_single  # type: ignore[method-assign]
    SD35Plugin.generate_batch = counted_batch  # type: ignore[method-assign]

    queue = generation_services.queue_for(plugin_id)
    with app.connection_for_write() as conn, contextlib.suppress(Exception):
        conn.default_channel.queue_purge(queue)  # type: ignore[attr-defined]

    def round_(batch_max: int, seed0: int, count: int) -> tuple[float, int, float]:
        settings.HALLMARK_BATCH_MAX = batch_max
        calls.update(count=0, seconds=0.0)
        with transaction.atomic():
            ids = [
                generation_services.submit(
                    acting_user=creator,
                    plugin_id=plugin_id,
                    fields={
                        "prompt": f"poster {seed0 + n}: a lighthouse at dusk",
                        "seed": seed0 + n,
                        "width": args.size,
                        "height": args.size,
                        "params": {"steps": args.steps},
                    },
                )[0].pk
                for n in range(count)
            ]
        start = time.perf_counter()
        while GenerationJob.objects.filter(pk__in=ids, status__in=TERMINAL_STATUSES).count() < count:
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
        failed = GenerationJob.objects.filter(pk__in=ids).exclude(status="succeeded").count()
        if failed:
            raise SystemExit(f"{failed} jobs did not succeed")
        return count / elapsed, int(calls["count"]), count / calls["seconds"]

    rates: dict[str, list[float]] = {"on": [], "off": []}
    call_counts: dict[str, list[int]] = {"on": [], "off": []}
    model_rates: dict[str, list[float]] = {"on": [], "off": []}
    with start_worker(
        app, pool="solo", concurrency=1, perform_ping_check=False, queues=[queue], shutdown_timeout=60
    ):
        round_(args.batch, 1_000_000, args.batch)  # warm-up: load the weights, the signer, the caches
        seed = 0
        for number in range(args.rounds):
            for mode, batch_max in (
                (("on", args.batch), ("off", 1)) if number % 2 == 0 else (("off", 1), ("on", args.batch))
            ):
                rate, count, model_rate = round_(batch_max, seed, args.jobs)
                seed += args.jobs
                rates[mode].append(rate)
                call_counts[mode].append(count)
                model_rates[mode].append(model_rate)
                print(
                    f"round {number + 1}, batching {mode:3}: {rate:6.2f} jobs/s, {count} pipeline calls, "
                    f"the calls alone {model_rate:6.2f} images/s",
                    flush=True,
                )
        drain_background_stores()

    on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
    model_on, model_off = statistics.median(model_rates["on"]), statistics.median(model_rates["off"])
    print(
        f"\n{args.jobs} jobs of {plugin_id} (tiny SD3), {args.size}x{args.size}, {args.steps} steps, "
        f"{args.device}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, broker {os.environ['CELERY_BROKER_URL']}"
    )
    print(
        f"batching on  (HALLMARK_BATCH_MAX={args.batch}): median {on:.2f} jobs/s, calls {call_counts['on']}"
    )
    print(f"batching off (HALLMARK_BATCH_MAX=1): median {off:.2f} jobs/s, calls {call_counts['off']}")
    print(
        f"on / off: {on / off:.2f}x jobs/s; the pipeline calls alone: {model_on:.2f} against "
        f"{model_off:.2f} images/s ({model_on / model_off:.2f}x)"
    )


if __name__ == "__main__":
    main()
