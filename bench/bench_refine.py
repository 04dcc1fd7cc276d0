"""Refining an SD3.5 image with and without its cached latents, on the tiny pipeline (CPU).

Run from the repository root::

    .venv/bin/python bench/bench_refine.py [--runs 9] [--size 512] [--steps 4] [--strength 0.5]

A throwaway ``HALLMARK_VAR_DIR`` holds the latent cache; the tiny random-weight
``StableDiffusion3Pipeline`` is built with tests/plugins/tiny_sd3.py and loaded by the
``sd35-large-turbo`` plugin as real weights are. One draft is generated, its latents kept in the
latent cache (``generation.latent_cache.put``), then each round refines it twice through
``plugin.generate``, in turn:

- from the image: ``init_image`` only, so the img2img pipeline encodes it with the VAE;
- from the cache: ``init_latents`` read from the latent cache in the same timed span (the read
  of the safetensors file is part of the cost), so the VAE encode is skipped.

Also timed alone: the VAE encode of the image (what the cache saves) and the cache read.
Medians (and p90) in ms of ``--runs`` rounds. The tiny model's VAE is small, so the saving here
is a lower bound; on SD3.5's real VAE a 1024x1024 encode is a large share of a Turbo refine.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SCRATCH = Path(tempfile.mkdtemp(prefix="hallmark-bench-refine-"))
os.environ["HALLMARK_VAR_DIR"] = str(SCRATCH / "var")
os.environ["DATABASE_URL"] = f"sqlite:///{SCRATCH / 'var' / 'bench.sqlite3'}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hallmark.settings")


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered) * 1000:.1f} ({p90 * 1000:.1f})"


def _timed(call: Callable[[], Any], cpu: list[float]) -> float:
    """Wall time of ``call``; its CPU time (all of this process's threads) goes to ``cpu``."""
    began, began_cpu = time.perf_counter(), time.process_time()
    call()
    cpu.append(time.process_time() - began_cpu)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--strength", type=float, default=0.5)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: steadier on a shared machine)"
    )
    args = parser.parse_args()

    import django

    django.setup()
    import torch

    torch.set_num_threads(args.threads)
    from generation import latent_cache
    from plugins.builtin.sd35 import SD35LargeTurboPlugin
    from plugins.validation import build_request
    from tests.plugins.tiny_sd3 import build_tiny_sd3

    try:
        weights = build_tiny_sd3(SCRATCH / "tiny-sd3", seed=0, with_t5=False)
        plugin = SD35LargeTurboPlugin({"weights_path": str(weights), "device": "cpu", "dtype": "float32"})
        base = build_request(
            plugin,
            prompt="a harbour sign at dusk",
            seed=7,
            width=args.size,
            height=args.size,
            params={"steps": args.steps},
        )
        draft = plugin.generate(base, lambda *_: None, lambda: False).images[0]
        asset_id = "00000000-0000-4000-8000-000000000001"
        assert latent_cache.put(asset_id, draft.latents, plugin.capabilities.latent_space)
        from_image = dataclasses.replace(base, seed=8, init_image=draft.image, strength=args.strength)
        pipe = plugin._pipe
        pixels = pipe.image_processor.preprocess(draft.image, height=args.size, width=args.size)

        def refine_from_image() -> None:
            result = plugin.generate(from_image, lambda *_: None, lambda: False)
            assert result.images[0].parameters["from_latents"] is False

        def refine_from_cache() -> None:
            latents = latent_cache.get(asset_id, plugin.capabilities.latent_space)
            request = dataclasses.replace(from_image, init_latents=latents)
            result = plugin.generate(request, lambda *_: None, lambda: False)
            assert result.images[0].parameters["from_latents"] is True

        def encode() -> None:
            with torch.no_grad():
                pipe.vae.encode(pixels).latent_dist.sample()

        def cache_read() -> None:
            assert latent_cache.get(asset_id, plugin.capabilities.latent_space) is not None

        names = ("from_image", "from_cache", "encode", "cache_read")
        timings: dict[str, list[float]] = {name: [] for name in names}
        cpu: dict[str, list[float]] = {name: [] for name in names}
        refine_from_image()  # warm up both paths once
        refine_from_cache()
        calls = {"from_image": refine_from_image, "from_cache": refine_from_cache, "encode": encode}
        for round_number in range(args.runs):
            # Alternate the order, so that a burst of load elsewhere hits both paths alike.
            pair = ["from_image", "from_cache"][:: 1 if round_number % 2 == 0 else -1]
            order = [*pair, "encode"]
            for name in order:
                timings[name].append(_timed(calls[name], cpu[name]))
            timings["cache_read"].append(_timed(cache_read, cpu["cache_read"]))
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
        )
        print(
            f"sd35-large-turbo (tiny), {args.size}x{args.size}, {args.steps} steps, strength "
            f"{args.strength}, {args.runs} rounds; median (p90) ms, wall | CPU"
        )
        labels = {
            "from_image": "refine from the image (VAE encode)",
            "from_cache": "refine from the latent cache (no encode)",
            "encode": "VAE encode alone",
            "cache_read": "latent cache read alone",
        }
        for name, label in labels.items():
            print(f"{label:42} {_ms(timings[name]):>20} | {_ms(cpu[name])}")
    finally:
        shutil.rmtree(SCRATCH, ignore_errors=True)


if __name__ == "__main__":
    main()
