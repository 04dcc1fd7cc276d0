"""Provenance stamping cost per 1024x1024 image: PNG encode, C2PA signing, and the whole stamp.

Run from the repository root (uses the dev signer under $HALLMARK_VAR_DIR/provenance, made
if missing)::

    HALLMARK_VAR_DIR=var/bench .venv/bin/python bench/bench_provenance.py [--runs 20]

Two images: the procedural plugin's output (smooth shapes and type, typical of generated
images) and uniform noise (the PNG encoder's worst case). Medians of ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hallmark.settings")

import c2pa
import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from PIL import Image  # noqa: E402

from governance.provenance import c2pa_signing, credentials, embedded_metadata, stamping  # noqa: E402
from plugins.builtin.procedural import ProceduralPlugin  # noqa: E402
from plugins.validation import build_request  # noqa: E402


def context(size: int) -> stamping.ProvenanceContext:
    return stamping.ProvenanceContext(
        asset_id=str(uuid.uuid4()),
        job_id=str(uuid.uuid4()),
        plugin_id="bench",
        plugin_version="1.0",
        is_ai_model=True,
        identity={"name": "bench-model", "version": "1", "fingerprint": "sha256:" + "0" * 64},
        license={"spdx_id": "MIT", "commercial_use": True, "allows_training": False},
        prompt="a lighthouse at dusk, volumetric light",
        negative_prompt="",
        seed=7,
        width=size,
        height=size,
        created_at=datetime.now(UTC),
        requested_by="bench",
        parameters={"steps": 4, "sampler": "euler"},
    )


def images(size: int) -> dict[str, Image.Image]:
    plugin = ProceduralPlugin({})
    request = build_request(
        plugin, prompt="a lighthouse at dusk", width=size, height=size, seed=7, num_images=1
    )
    drawn = plugin.generate(request, lambda step, total: None, lambda: False).images[0].image
    noise = Image.frombytes("RGB", (size, size), hashlib.shake_256(b"noise").digest(size * size * 3))
    return {"procedural": drawn, "noise": noise}


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, float, Any]:
    """Median and p90 in ms of ``runs`` calls, and the last result."""
    samples = []
    result = None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.9 * (len(samples) - 1))], result


def main() -> None:
    parser = argparse.ArgumentParser(description="Provenance stamping cost per image.")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--size", type=int, default=1024)
    args = parser.parse_args()
    call_command("provenance_init", "--if-missing", verbosity=0)
    print(
        f"{args.size}x{args.size}, PNG compress_level={settings.HALLMARK_PNG_COMPRESS_LEVEL}, "
        f"{os.cpu_count()} CPUs; ms, median (p90) of {args.runs} runs"
    )
    print(f"{'image':<12}{'PNG bytes':>11}{'encode':>16}{'sign':>16}{'stamp total':>16}")
    for name, image in images(args.size).items():
        measure(name, image, args.size, args.runs)


def measure(name: str, image: Image.Image, size: int, runs: int) -> None:
    """Print encode, sign and whole-stamp timings for one image."""
    ctx = context(size)
    stamping.stamp(image, ctx)  # warm up: the signer and SDK contexts are made once
    enc_med, enc_p90, encoded = timed(lambda: embedded_metadata.encode_png(image, ctx), runs)
    sign_med, sign_p90, _ = timed(lambda: c2pa_signing.sign_c2pa(encoded, ctx), runs)
    total_med, total_p90, (signed, _) = timed(lambda: stamping.stamp(image, ctx), runs)
    # Every stamped file must still validate: a fast but broken signature measures nothing.
    with c2pa.Reader("image/png", io.BytesIO(signed), None, credentials._reader_context()) as reader:
        assert reader.get_validation_state() == "Trusted"
    print(
        f"{name:<12}{len(encoded):>11}{enc_med:>9.1f} ({enc_p90:>4.0f})"
        f"{sign_med:>9.1f} ({sign_p90:>4.0f}){total_med:>9.1f} ({total_p90:>4.0f})"
    )


if __name__ == "__main__":
    main()
