"""What Hallmark adds around an SD3.5 plugin, measured on the tiny random-weight pipeline (CPU).

Run from the repository root::

    .venv/bin/python bench/bench_sd35_tiny.py [--runs 20] [--plugin sd35-large-turbo] [--steps 4]

Everything happens in a throwaway folder: a fresh SQLite database and media live under a
temporary ``HALLMARK_VAR_DIR`` (the environment's DATABASE_URL is ignored), with a dev C2PA
signer, and a real Celery worker runs in this process (``start_worker``, solo pool). The broker
is local Redis db 1 when it answers, else Celery's filesystem transport (``--broker`` to choose). The tiny pipeline is built with tests/plugins/tiny_sd3.py.

Measured, each as the median (and p90) of ``--runs``:

1. warm cache: a job on a cold worker cache (the plugin loads its weights first) against the
   next job on the same model (no load);
2. overhead: that warm job (submitted through the API with Django's test client, run by the
   worker, observed by polling the job every ``--poll-ms``); the worker's path alone
   (``generation.runner.run`` called in this thread on a job submitted through the API and held
   back from the broker: claim, warm cache, generate, PNG encode, C2PA signing, storage, audit);
   ``plugin.generate`` called directly; and a raw ``StableDiffusion3Pipeline`` call with the same
   settings (same folder, dtype, size, steps, seed), loaded on its own.

Each round runs one of each, so that changes in the machine's load hit them all alike.

The client polls from the worker's own process: every poll is a full API request that competes
with the generation for the GIL and the CPU, so with fast polls the end-to-end figure overstates
what a separate web process would cost the worker (compare ``--poll-ms 200``); the worker-path
figure has no such artefact.

The tiny model makes the model's own time small, so what Hallmark adds (queue, database,
PNG encode, C2PA signing, storage) shows up plainly; on a real GPU model it is the same few
hundred milliseconds against seconds of denoising.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import math
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SCRATCH = Path(tempfile.mkdtemp(prefix="hallmark-bench-sd35-"))
os.environ["HALLMARK_VAR_DIR"] = str(SCRATCH / "var")
os.environ["DATABASE_URL"] = f"sqlite:///{SCRATCH / 'var' / 'bench.sqlite3'}"


from bench.broker_choice import pick_broker  # noqa: E402

BROKER = pick_broker()
os.environ["CELERY_BROKER_URL"] = BROKER
os.environ.pop("HALLMARK_MEDIA_ROOT", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hallmark.settings")
os.environ.setdefault("HALLMARK_LOG_LEVEL", "WARNING")
# Polling as fast as it does, the benchmark would meet the API's rate limit, which it does not measure.
os.environ.setdefault("HALLMARK_API_THROTTLE_USER", "off")

import django  # noqa: E402

django.setup()

import torch  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from generation.models import GenerationJob  # noqa: E402
from plugins import services  # noqa: E402
from plugins.builtin.sd35 import SD35Plugin  # noqa: E402
from plugins.registry import get_entry  # noqa: E402
from plugins.runtime import warm_cache  # noqa: E402
from plugins.validation import build_request  # noqa: E402
from tests.plugins.tiny_sd3 import build_tiny_sd3  # noqa: E402

PROMPT = "a lighthouse at dusk, volumetric light"


def stats(samples: list[float]) -> tuple[float, float]:
    """Median and p90 in milliseconds."""
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[
        min(len(ordered) - 1, math.ceil(len(ordered) * 0.9) - 1)
    ] * 1000


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class Api:
    """A creator submitting jobs through the API and polling them until they finish."""

    def __init__(self, token: str, plugin_id: str, fields: dict[str, Any], poll_s: float) -> None:
        self.client = Client(HTTP_AUTHORIZATION=f"Token {token}")
        self.poll_s = poll_s
        self.last_job_id = ""
        self.plugin_id = plugin_id
        self.fields = fields

    def job(self) -> float:
        start = time.perf_counter()
        response = self.client.post(
            "/api/v1/generations/",
            {"plugin": self.plugin_id, **self.fields},
            content_type="application/json",
        )
        assert response.status_code == 202, response.content
        job_id = response.json()["id"]
        while True:
            status = self.client.get(f"/api/v1/generations/{job_id}/").json()["status"]
            if status in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(self.poll_s)
        elapsed = time.perf_counter() - start
        assert status == "succeeded", GenerationJob.objects.get(pk=job_id).error
        self.last_job_id = job_id
        return elapsed


def main() -> None:
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 <pid>` shows where it waits
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--plugin", default="sd35-large-turbo", choices=("sd35-large-turbo", "sd35-medium"))
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument(
        "--broker", default="auto", help="Celery broker URL (default: local Redis db 1, else filesystem)"
    )
    parser.add_argument("--poll-ms", type=float, default=20.0, help="how often the client polls the job")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from celery.contrib.testing.worker import start_worker
    from django.contrib.auth.models import Group, User

    from hallmark.celery import app

    call_command("migrate", verbosity=0)
    call_command("provenance_init", "--if-missing", verbosity=0)
    weights = build_tiny_sd3(SCRATCH / "tiny-sd3", seed=0)
    admin = User.objects.create_superuser("bench-admin", password="bench-admin-pw")
    creator = User.objects.create_user("bench-creator", password="bench-creator-pw")
    creator.groups.add(Group.objects.get_or_create(name="creator")[0])
    config = {"weights_path": str(weights), "device": "cpu", "dtype": "float32"}
    services.update_plugin(args.plugin, acting_user=admin, enabled=True, config=config)
    fields = {
        "prompt": PROMPT,
        "width": args.size,
        "height": args.size,
        "seed": 7,
        "params": {"steps": args.steps},
    }
    api = Api(Token.objects.create(user=creator).key, args.plugin, fields, args.poll_ms / 1000)
    # The filesystem transport polls its folder every second by default: poll often, so that
    # the figures show Hallmark's cost rather than the demo broker's poll interval.
    if BROKER.startswith("filesystem"):
        app.conf.broker_transport_options = {**app.conf.broker_transport_options, "polling_interval": 0.01}
    else:
        with app.connection_for_write() as conn, contextlib.suppress(Exception):
            conn.default_channel.queue_purge(f"gen.{args.plugin}")  # leftovers of an interrupted run

    plugin = get_entry(args.plugin).get_class()(config)
    assert isinstance(plugin, SD35Plugin)
    plugin.load()
    request = build_request(plugin, **fields)

    def direct() -> None:
        plugin.generate(request, lambda step, total: None, lambda: False)

    # The raw pipeline is loaded on its own, as a diffusers user would, with the same settings.
    from diffusers import StableDiffusion3Pipeline

    pipe = StableDiffusion3Pipeline.from_pretrained(str(weights), dtype=torch.float32, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    raw_kwargs = plugin.pipeline_kwargs(request)

    def raw() -> None:
        pipe(
            prompt=PROMPT,
            width=args.size,
            height=args.size,
            generator=torch.Generator("cpu").manual_seed(7),
            output_type="pil",
            **raw_kwargs,
        )

    from generation import runner
    from generation import services as generation_services

    @contextlib.contextmanager
    def held_back() -> Iterator[None]:
        """Jobs submitted inside are not handed to the broker: this thread runs them."""
        original = generation_services.enqueue
        generation_services.enqueue = lambda job: None
        try:
            yield
        finally:
            generation_services.enqueue = original

    def job_in_thread() -> float:
        with held_back():
            response = api.client.post(
                "/api/v1/generations/", {"plugin": args.plugin, **fields}, content_type="application/json"
            )
        job_id = response.json()["id"]
        elapsed = timed(lambda: runner.run(job_id))
        assert GenerationJob.objects.get(pk=job_id).status == "succeeded"
        return elapsed

    load_before = os.getloadavg()[0]
    cache = warm_cache()
    results: dict[str, list[float]] = {"cold": [], "warm": [], "run": [], "plugin": [], "pipeline": []}
    warm_ids: list[str] = []
    with start_worker(
        app,
        pool="solo",
        concurrency=1,
        perform_ping_check=False,
        queues=[f"gen.{args.plugin}"],
        shutdown_timeout=60,
    ):
        api.job()  # warm up imports, the signer, the first connections
        job_in_thread()
        direct()
        raw()
        # One of each per round, so that changes in the machine's load hit all of them alike.
        for _ in range(args.runs):
            cache.clear()
            loads = cache.loads
            results["cold"].append(api.job())
            results["warm"].append(api.job())
            warm_ids.append(api.last_job_id)
            assert cache.loads == loads + 1, "the second job reloaded the weights"
            results["run"].append(job_in_thread())
            results["plugin"].append(timed(direct))
            results["pipeline"].append(timed(raw))
    # Where a warm job's time goes, from the job rows: waiting in the queue, then on the worker.
    warm_jobs = GenerationJob.objects.filter(pk__in=warm_ids)
    queued = [(j.started_at - j.created_at).total_seconds() for j in warm_jobs]
    running = [(j.finished_at - j.started_at).total_seconds() for j in warm_jobs]

    rows = [
        ("job through API + worker, cold worker cache (loads weights)", results["cold"]),
        ("job through API + worker, warm cache (next job, same model)", results["warm"]),
        ("... of which: created to started (API commit, queue)", queued),
        ("... of which: started to finished (generate, encode, sign, store)", running),
        ("worker path alone: runner.run() in this thread, warm", results["run"]),
        ("plugin.generate() called directly", results["plugin"]),
        ("raw StableDiffusion3Pipeline call, same settings", results["pipeline"]),
    ]
    print()
    print(
        f"{args.plugin} on the tiny pipeline, {args.size}x{args.size}, {args.steps} steps, float32, CPU "
        f"(torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}), broker {BROKER.split(':')[0]}, {args.runs} rounds; load average "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print()
    print("| measurement | median ms | p90 ms |")
    print("| --- | ---: | ---: |")
    for label, samples in rows:
        median, p90 = stats(samples)
        print(f"| {label} | {median:.0f} | {p90:.0f} |")
    cold, warm = stats(results["cold"])[0], stats(results["warm"])[0]
    run_ms, plugin_ms, raw_ms = (stats(results[k])[0] for k in ("run", "plugin", "pipeline"))
    print()
    print(f"warm cache saves {cold - warm:.0f} ms a job (cold/warm = {cold / warm:.2f}x)")
    print(
        f"worker path over the raw pipeline: {run_ms - raw_ms:.0f} ms a job (plugin layer "
        f"{plugin_ms - raw_ms:.0f} ms; claim, encode, sign, store, audit {run_ms - plugin_ms:.0f} ms); "
        f"end to end with API, broker and a polling client: {warm - raw_ms:.0f} ms"
    )


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(SCRATCH, ignore_errors=True)
