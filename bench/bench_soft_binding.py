"""Soft binding: how often a transformed copy is traced back, the false-match rate, and the
nearest-fingerprint search at a million assets.

Run from the repository root::

    HALLMARK_VAR_DIR=var/bench .venv/bin/python bench/bench_soft_binding.py \
        [--assets 200] [--unrelated 10000] [--size 512] [--index 1000000] [--queries 200]

1. Robustness: ``--assets`` varied images (smooth fields, gradients with shapes, textures and
   collages: the procedural plugin's output is too alike to stand for real use) are marked
   and fingerprinted as ``assets.services.prepare`` does (``governance.provenance.
   soft_binding``), then each is transformed and looked up the way ``assets.soft_binding.find``
   does: watermark within ``WATERMARK_MAX_DISTANCE`` bits, else the nearest fingerprint within
   ``HALLMARK_FINGERPRINT_MAX_DISTANCE``, on ``BindingIndex``. "stripped" (lossless, metadata
   gone) is found by the decoded pixels in the service; here it shows what the soft bindings
   alone do. A copy counts as found only when the asset named is the right one.
2. False matches: ``--unrelated`` images from the same families, never stored, looked up
   against the stored ones; any match is a false match. The minimum fingerprint distance seen
   is printed so the threshold's margin shows.
3. Scale: ``--index`` random fingerprints in a ``BindingIndex``; ``--queries`` lookups (half
   near a stored one, half random), p50/p95 beside a brute-force scan (Python ints and
   ``int.bit_count``) over the same fingerprints in the same run.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hallmark.settings")

import django

django.setup()

import numpy as np  # noqa: E402
from django.conf import settings  # noqa: E402
from PIL import Image, ImageDraw, ImageEnhance, ImageOps  # noqa: E402

from assets.soft_binding import WATERMARK_MAX_DISTANCE, BindingIndex  # noqa: E402
from governance.provenance import soft_binding  # noqa: E402


def varied_image(seed: int, size: int) -> Image.Image:
    """One of four families, different for every seed."""
    rng = np.random.default_rng(seed)
    family = seed % 4
    if family == 0:  # a smooth random field with grain (photo-like)
        cells = int(rng.integers(4, 20))
        coarse = Image.fromarray(rng.integers(0, 256, (cells, cells, 3), dtype=np.uint8), "RGB")
        base = np.asarray(coarse.resize((size, size), Image.Resampling.BICUBIC), dtype=np.float64)
        image = np.clip(base + rng.normal(0, rng.uniform(2, 14), base.shape), 0, 255)
        return Image.fromarray(image.astype(np.uint8), "RGB")
    if family == 1:  # a gradient with random shapes (illustration-like)
        x = np.linspace(0, 1, size)
        angle = rng.uniform(0, np.pi)
        ramp = np.outer(np.ones(size), x) * np.cos(angle) + np.outer(x, np.ones(size)) * np.sin(angle)
        colours = rng.integers(0, 256, (2, 3))
        base = ramp[..., None] * colours[0] + (1 - ramp[..., None]) * colours[1]
        image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(3, 12))):
            x0, y0 = rng.integers(0, size, 2)
            w, h = rng.integers(size // 16, size // 2, 2)
            fill = tuple(int(v) for v in rng.integers(0, 256, 3))
            box = (int(x0), int(y0), int(x0 + w), int(y0 + h))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fill)
        return image
    if family == 2:  # a texture: sums of random sinusoids
        yy, xx = np.mgrid[0:size, 0:size] / size
        image = np.zeros((size, size, 3))
        for channel in range(3):
            for _ in range(4):
                fx, fy = rng.uniform(1, 25, 2)
                image[..., channel] += np.sin(2 * np.pi * (fx * xx + fy * yy) + rng.uniform(0, 6.3))
        image = (image - image.min()) / (np.ptp(image) + 1e-9) * 255
        return Image.fromarray(image.astype(np.uint8), "RGB")
    # a collage of two other families' images
    left, right = varied_image(seed * 7 + 1, size), varied_image(seed * 13 + 2, size)
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).polygon(
        [tuple(int(v) for v in rng.integers(0, size, 2)) for _ in range(5)], fill=255
    )
    return Image.composite(left, right, mask)


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def png(image: Image.Image) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def scaled(image: Image.Image, factor: float) -> Image.Image:
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.Resampling.LANCZOS)


def screenshot(image: Image.Image) -> Image.Image:
    factor = 1280 / max(image.size)
    return jpeg(scaled(image, factor), 85)


TRANSFORMS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "metadata stripped (lossless)": png,
    "JPEG quality 75": lambda im: jpeg(im, 75),
    "JPEG quality 50": lambda im: jpeg(im, 50),
    "resized to 50 %": lambda im: png(scaled(im, 0.5)),
    "resized to 25 %": lambda im: png(scaled(im, 0.25)),
    "cropped 10 % from one side": lambda im: png(im.crop((0, 0, round(im.width * 0.9), im.height))),
    "screenshot (1280 px, JPEG 85)": screenshot,
    "brightness +15 %": lambda im: png(ImageEnhance.Brightness(im).enhance(1.15)),
    "horizontal flip": lambda im: png(ImageOps.mirror(im)),
    "rotated 90°": lambda im: png(im.rotate(90, expand=True)),
}


def lookup(
    image: Image.Image, watermarks: BindingIndex, fingerprints: BindingIndex, threshold: int
) -> tuple[str, uuid.UUID | None, int | None]:
    """(method, asset, fingerprint distance) as assets.soft_binding.find decides, without the database."""
    payload = soft_binding.read_watermark(image)
    if payload is not None:
        near = watermarks.nearest(payload.hex(), WATERMARK_MAX_DISTANCE, limit=1)
        if near:
            return "watermark", near[0][0], None
    (near,) = fingerprints.nearest(soft_binding.fingerprint_variants(image), 256, limit=1)
    if near[1] <= threshold:
        return "fingerprint", near[0], near[1]
    return "not found", None, near[1]


def robustness(assets: int, unrelated: int, size: int, threshold: int) -> None:
    started = time.perf_counter()
    watermarks, fingerprints = BindingIndex("watermark", 1), BindingIndex("fingerprint", 4)
    originals: dict[uuid.UUID, Image.Image] = {}
    low_quality = 0
    for seed in range(assets):
        asset_id = uuid.uuid4()
        marked = soft_binding.embed_watermark(varied_image(seed, size), asset_id.bytes[:8])
        fingerprint, quality = soft_binding.fingerprint(marked)
        low_quality += quality < 50  # PDQ's own advice: under 50, less reliable
        watermarks.add([(asset_id, asset_id.bytes[:8].hex())])
        fingerprints.add([(asset_id, fingerprint)])
        originals[asset_id] = marked
    print(f"{assets} assets of {size}x{size} px, {low_quality} with PDQ quality < 50; threshold {threshold}")
    print("| transformation | found | by watermark | by fingerprint | wrong asset | median distance | found at distance <= 40 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, transform in TRANSFORMS.items():
        counts = {"watermark": 0, "fingerprint": 0, "wrong": 0, "at 40": 0}
        distances = []
        for asset_id, image in originals.items():
            method, found, distance = lookup(transform(image), watermarks, fingerprints, 256)
            if distance is not None:
                distances.append(distance)
            if found is None:
                continue
            if method == "fingerprint" and distance is not None and distance > threshold:
                counts["at 40"] += found == asset_id and distance <= 40
                continue
            if found != asset_id:
                counts["wrong"] += 1
            else:
                counts[method] += 1
                counts["at 40"] += 1
        found_share = (counts["watermark"] + counts["fingerprint"]) / assets
        median = statistics.median(distances) if distances else "-"
        print(
            f"| {name} | {found_share:.1%} | {counts['watermark']} | {counts['fingerprint']} | "
            f"{counts['wrong']} | {median} | {counts['at 40'] / assets:.1%} |"
        )
    false = false_at_40 = 0
    nearest_seen = 256
    for seed in range(10_000_000, 10_000_000 + unrelated):
        # Half at the stored size, half smaller (as a random upload would be).
        image = varied_image(seed, size if seed % 2 else size // 2)
        method, found, distance = lookup(image, watermarks, fingerprints, threshold)
        false += found is not None
        false_at_40 += found is not None or (distance is not None and distance <= 40)
        if distance is not None:
            nearest_seen = min(nearest_seen, distance)
    print(
        f"\nfalse matches: {false} of {unrelated} unrelated images against {assets} assets "
        f"({false_at_40} at distance <= 40) "
        f"(nearest fingerprint distance seen: {nearest_seen}); {time.perf_counter() - started:.0f} s"
    )


def scale(count: int, queries: int) -> None:
    rng = np.random.default_rng(7)
    index = BindingIndex("fingerprint", 4)
    as_bytes = np.frombuffer(rng.bytes(count * 32), dtype=np.uint8).reshape(count, 32)
    ids = [uuid.uuid4() for _ in range(count)]
    started = time.perf_counter()
    chunk = 100_000
    for start in range(0, count, chunk):
        index.add([(ids[i], as_bytes[i].tobytes().hex()) for i in range(start, min(count, start + chunk))])
    built = time.perf_counter() - started
    ints = [int.from_bytes(as_bytes[i].tobytes(), "big") for i in range(count)]
    probes = []
    for q in range(queries):
        if q % 2:
            target = ints[int(rng.integers(0, count))]
            flips = rng.choice(256, size=int(rng.integers(0, 30)), replace=False)
            for bit in flips:
                target ^= 1 << int(bit)
            probes.append(target)
        else:
            probes.append(int.from_bytes(rng.bytes(32), "big"))
    timings, lookups = [], []
    for probe in probes:
        t0 = time.perf_counter()
        index.nearest(format(probe, "064x"), 31)
        timings.append((time.perf_counter() - t0) * 1000)
        # What a lookup searches: the image's hash and its seven flips and turns (stand-ins here).
        variants = [format(probe ^ (k * 0x9E3779B97F4A7C15), "064x") for k in range(8)]
        t0 = time.perf_counter()
        index.nearest(variants, 31)
        lookups.append((time.perf_counter() - t0) * 1000)
    brute = []
    for probe in probes[: max(5, queries // 20)]:
        t0 = time.perf_counter()
        _ = [i for i, value in enumerate(ints) if (value ^ probe).bit_count() <= 31]
        brute.append((time.perf_counter() - t0) * 1000)

    def p95(values: list[float]) -> float:
        return sorted(values)[max(0, int(len(values) * 0.95) - 1)]

    print(
        f"\n{count:,} fingerprints: index built in {built:.1f} s; BindingIndex.nearest p50 "
        f"{statistics.median(timings):.1f} ms, p95 {p95(timings):.1f} ms ({len(timings)} queries); "
        f"with 8 hashes (a lookup: the image, its flips and turns) p50 {statistics.median(lookups):.1f} ms, "
        f"p95 {p95(lookups):.1f} ms; "
        f"brute-force Python scan p50 {statistics.median(brute):.0f} ms, p95 {p95(brute):.0f} ms "
        f"({len(brute)} queries)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=200)
    parser.add_argument("--unrelated", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--index", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--skip-robustness", action="store_true")
    args = parser.parse_args()
    if not args.skip_robustness:
        robustness(args.assets, args.unrelated, args.size, int(settings.HALLMARK_FINGERPRINT_MAX_DISTANCE))
    if args.index:
        scale(args.index, args.queries)


if __name__ == "__main__":
    main()
