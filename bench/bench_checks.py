"""Acceptance checks: OCR time per image at 1024x1024 and the whole checklist's cost per asset.

Run from the repository root::

    .venv/bin/python bench/bench_checks.py [--runs 10] [--size 1024]

Everything runs in a throwaway ``HALLMARK_VAR_DIR`` (SQLite, media, a development signer).

1. Loading the OCR engine (once per worker process) and reading one procedural image with
   a line of type (what ``acceptance.ocr.read_text`` does on the ``checks`` queue), median
   and p90 of ``--runs`` reads.
2. The checklist per asset: ``--runs`` images made through the real job path (procedural,
   ``--size`` square), each checked by a checklist of all seven built-in checks through
   ``acceptance.services.run_checks`` (checks, result rows, audit event), median and p90;
   and each check on its own, median.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--size", type=int, default=1024)
    return parser.parse_args()


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[8] if len(values) > 1 else values[0]


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms median, {_p90(values) * 1000:.0f} ms p90 (n={len(values)})"


def main() -> None:
    args = _args()
    var = Path(tempfile.mkdtemp(prefix="hallmark-bench-checks-"))
    os.environ["HALLMARK_VAR_DIR"] = str(var)
    os.environ.setdefault("HALLMARK_LOG_LEVEL", "WARNING")
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hallmark.settings")
    sys.path.insert(0, str(ROOT))
    try:
        _run(args)
    finally:
        shutil.rmtree(var, ignore_errors=True)


def _run(args: argparse.Namespace) -> None:
    import django

    django.setup()

    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    from acceptance import checks, ocr, services
    from acceptance.checks import CheckContext
    from assets.models import Asset
    from generation import checking, runner
    from generation import services as generation_services
    from governance.provenance.safe_image import open_image_safely
    from plugins import services as plugin_services

    call_command("migrate", verbosity=0)
    call_command("provenance_init", "--if-missing", verbosity=0)
    user = User.objects.create_user("bench-checks")
    for role in ("creator", "admin"):
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    plugin_services.update_plugin("procedural", acting_user=user, enabled=True)

    began = time.perf_counter()
    ocr.engine()
    load = time.perf_counter() - began

    every_check = [
        {"type": "min_resolution", "width": 512, "height": 512},
        {"type": "aspect_ratio", "ratio": "1:1"},
        {"type": "typography", "min_accuracy": 0.9},
        {"type": "max_seconds", "seconds": 60},
        {"type": "max_cost", "usd": 0.05},
        {"type": "provider_safe"},
        {"type": "provenance_intact"},
    ]
    version = services.create_checklist(acting_user=user, name="bench", checks=every_check).latest

    def stored(seed: int) -> Asset:
        job, _ = generation_services.submit(
            acting_user=user,
            plugin_id="procedural",
            fields={
                "prompt": "OPEN LATE",
                "width": args.size,
                "height": args.size,
                "seed": seed,
                "checklist": version.checklist_id,
                "expected_text": "OPEN LATE",
            },
        )
        runner.run(str(job.pk))
        return Asset.objects.get(job=job)

    assets = [stored(seed) for seed in range(args.runs)]
    reads, accuracies = [], []
    for asset in assets:
        with asset.file.open("rb") as handle:
            image = open_image_safely(handle.read())
        began = time.perf_counter()
        text = ocr.read_text(image)
        reads.append(time.perf_counter() - began)
        accuracies.append(ocr.character_accuracy("OPEN LATE", text))

    per_asset = []
    for asset in assets:
        context = checking.check_context(asset.job, asset)
        began = time.perf_counter()
        results = services.run_checks(version, context)
        per_asset.append(time.perf_counter() - began)
        assert len(results) == len(every_check) and all(r.passed for r in results), results
    per_check: dict[str, list[float]] = {}
    for spec in every_check:
        check = checks.build(spec)
        for asset in assets:
            began = time.perf_counter()
            check.run(CheckContext(asset=asset, expected_text="OPEN LATE", seconds=1.0))
            per_check.setdefault(str(spec["type"]), []).append(time.perf_counter() - began)

    print(f"OCR engine load (once per process): {load * 1000:.0f} ms")
    print(f"OCR read, {args.size}x{args.size} procedural image with one line of type: {_ms(reads)}")
    print(f"  character accuracy against 'OPEN LATE': min {min(accuracies):.3f}")
    print(f"Checklist of all 7 built-in checks per asset (run_checks, rows and audit): {_ms(per_asset)}")
    for kind, values in per_check.items():
        print(f"  {kind}: {statistics.median(values) * 1000:.1f} ms median")


if __name__ == "__main__":
    main()
