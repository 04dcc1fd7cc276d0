"""SD3.5 Medium at full size on one GPU, random weights: raw diffusers against Hallmark's path.

Run from the repository root on a CUDA machine (nothing is downloaded)::

    .venv/bin/python bench/gpu_sd35_medium.py [--runs 3] [--steps 40] [--size 1024] [--drop-t5]
    .venv/bin/python bench/gpu_sd35_medium.py --smoke   # the same code, tiny configs, on CPU

It builds the SD3.5 Medium architecture from its public configs (written out below: the
MMDiT-X transformer, CLIP-L, OpenCLIP bigG, T5-XXL v1.1 encoder, the 16-channel VAE and the
flow-matching scheduler) with random weights in bfloat16, saves it with ``save_pretrained``
(about 16 GB with T5), then times at ``--size`` px and ``--steps`` steps with guidance 4.5:

* the raw ``StableDiffusion3Pipeline`` call (loaded from the folder, ``.to("cuda")``);
* ``plugin.generate()`` of the ``sd35-medium`` plugin (same folder, same settings);
* a job through the API and a real in-process Celery worker (warm cache), client-observed,
  which adds the queue, the database, PNG encoding, C2PA signing and storage;
* the first job on a cold worker (loads the weights; the weights fingerprint is already cached
  from a timed cold fingerprinting run that hashes every weight file once).

Random weights make meaningless pictures in exactly the time real ones take: the arithmetic is
the same. Everything else lives in a temporary folder that is removed at the end (SQLite,
media, dev C2PA signer), as in bench/bench_sd35_tiny.py; the broker is local Redis db 1 when it
answers, else the filesystem transport.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import math
import os
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
SCRATCH = Path(os.environ.get("HALLMARK_BENCH_DIR") or tempfile.mkdtemp(prefix="hallmark-gpu-sd35-"))
os.environ["HALLMARK_VAR_DIR"] = str(SCRATCH / "var")
os.environ["DATABASE_URL"] = f"sqlite:///{SCRATCH / 'var' / 'bench.sqlite3'}"


from bench.broker_choice import pick_broker  # noqa: E402

BROKER = pick_broker()
os.environ["CELERY_BROKER_URL"] = BROKER
os.environ.pop("HALLMARK_MEDIA_ROOT", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hallmark.settings")
os.environ.setdefault("HALLMARK_LOG_LEVEL", "WARNING")
# A 16 GB model in bfloat16 must fit the warm cache's budget, or it is evicted after each job.
os.environ.setdefault("HALLMARK_PLUGIN_MEMORY_BUDGET_MB", "40000")

import django  # noqa: E402

django.setup()

import torch  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from governance.provenance.safe_image import pixel_sha256  # noqa: E402
from plugins import services  # noqa: E402
from plugins.builtin.sd35 import SD35MediumPlugin  # noqa: E402
from plugins.runtime import warm_cache  # noqa: E402
from plugins.validation import build_request  # noqa: E402
from tests.plugins.tiny_sd3 import t5_vocab, write_clip_tokenizer_files  # noqa: E402

PROMPT = "a lighthouse at dusk, volumetric light, 35mm photograph"

# --- stabilityai/stable-diffusion-3.5-medium, component configs -------------------------------
MEDIUM_TRANSFORMER: dict[str, Any] = {
    "sample_size": 128,
    "patch_size": 2,
    "in_channels": 16,
    "num_layers": 24,
    "attention_head_dim": 64,
    "num_attention_heads": 24,
    "joint_attention_dim": 4096,
    "caption_projection_dim": 1536,
    "pooled_projection_dim": 2048,
    "out_channels": 16,
    "pos_embed_max_size": 384,
    "dual_attention_layers": tuple(range(13)),  # MMDiT-X: blocks 0-12 attend twice
    "qk_norm": "rms_norm",
}
CLIP_L: dict[str, Any] = {  # openai/clip-vit-large-patch14, text tower with projection
    "vocab_size": 49408,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "projection_dim": 768,
}
CLIP_G: dict[str, Any] = {  # laion/CLIP-ViT-bigG-14-laion2B-39B-b160k, text tower
    "vocab_size": 49408,
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "num_hidden_layers": 32,
    "num_attention_heads": 20,
    "max_position_embeddings": 77,
    "hidden_act": "gelu",
    "projection_dim": 1280,
}
T5_XXL: dict[str, Any] = {  # google/t5-v1_1-xxl, encoder only
    "vocab_size": 32128,
    "d_model": 4096,
    "d_kv": 64,
    "d_ff": 10240,
    "num_layers": 24,
    "num_heads": 64,
    "feed_forward_proj": "gated-gelu",
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "tie_word_embeddings": False,
}
VAE: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "latent_channels": 16,
    "norm_num_groups": 32,
    "sample_size": 1024,
    "scaling_factor": 1.5305,
    "shift_factor": 0.0609,
    "use_quant_conv": False,
    "use_post_quant_conv": False,
}
SCHEDULER: dict[str, Any] = {"num_train_timesteps": 1000, "shift": 3.0}

# --- --smoke: the same structure, tiny, so the script can be checked on a CPU ----------------
SMOKE = {
    "transformer": {
        **MEDIUM_TRANSFORMER,
        "num_layers": 10,
        "attention_head_dim": 8,
        "num_attention_heads": 2,
        "joint_attention_dim": 64,
        "caption_projection_dim": 16,
        "pooled_projection_dim": 64,
        "pos_embed_max_size": 96,
        "dual_attention_layers": (0,),
    },
    "clip_l": {**CLIP_L, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
               "num_attention_heads": 2, "projection_dim": 32, "vocab_size": 1000},
    "clip_g": {**CLIP_G, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
               "num_attention_heads": 2, "projection_dim": 32, "vocab_size": 1000},
    "t5": {**T5_XXL, "vocab_size": 100, "d_model": 64, "d_kv": 8, "d_ff": 64, "num_layers": 2, "num_heads": 2},
    "vae": {**VAE, "block_out_channels": (4, 4, 8, 8), "layers_per_block": 1, "norm_num_groups": 4},
}  # fmt: skip


def build(folder: Path, *, device: str, dtype: torch.dtype, smoke: bool, with_t5: bool) -> None:
    """Make the pipeline with random weights directly on ``device`` in ``dtype``, and save it."""
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )
    from transformers import (
        CLIPTextConfig,
        CLIPTextModelWithProjection,
        CLIPTokenizer,
        T5Config,
        T5EncoderModel,
        T5Tokenizer,
    )

    configs = (
        SMOKE
        if smoke
        else {"transformer": MEDIUM_TRANSFORMER, "clip_l": CLIP_L, "clip_g": CLIP_G, "t5": T5_XXL, "vae": VAE}
    )
    tokenizer_files = write_clip_tokenizer_files(SCRATCH / "clip-tokenizer")
    tokenizer = CLIPTokenizer.from_pretrained(str(tokenizer_files), model_max_length=77)
    special = {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # initialise in bfloat16 on the GPU: no 30 GB float32 detour
    try:
        with torch.device(device):
            components: dict[str, Any] = {
                "transformer": SD3Transformer2DModel(**configs["transformer"]),
                "vae": AutoencoderKL(**configs["vae"]),
                "text_encoder": CLIPTextModelWithProjection(CLIPTextConfig(**configs["clip_l"], **special)),
                "text_encoder_2": CLIPTextModelWithProjection(CLIPTextConfig(**configs["clip_g"], **special)),
                "text_encoder_3": None,
                "tokenizer_3": None,
            }
            if with_t5:
                components["text_encoder_3"] = T5EncoderModel(
                    T5Config(**configs["t5"], pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
                )
                components["tokenizer_3"] = T5Tokenizer(vocab=t5_vocab(), extra_ids=0)
    finally:
        torch.set_default_dtype(previous)
    pipe = StableDiffusion3Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(**SCHEDULER),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        **components,
    )
    pipe.save_pretrained(str(folder))
    del pipe, components
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


def stats(samples: list[float]) -> tuple[float, float]:
    """Median and p90 in seconds."""
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, math.ceil(len(ordered) * 0.9) - 1)]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--drop-t5", action="store_true", help="build and run without T5-XXL")
    parser.add_argument(
        "--broker", default="auto", help="Celery broker URL (default: local Redis db 1, else filesystem)"
    )
    parser.add_argument("--smoke", action="store_true", help="tiny configs on CPU, to check the script")
    args = parser.parse_args()
    if args.smoke:
        device, dtype_name = "cpu", "float32"
        args.size, args.steps, args.runs = min(args.size, 256), min(args.steps, 2), min(args.runs, 2)
    else:
        if not torch.cuda.is_available():
            sys.exit("no CUDA GPU visible: run with --smoke to check the script on a CPU")
        device, dtype_name = "cuda", "bfloat16"
    dtype = getattr(torch, dtype_name)
    folder = SCRATCH / "sd35-medium-random"
    rows: list[tuple[str, str]] = []

    build_s, _ = timed(
        lambda: build(folder, device=device, dtype=dtype, smoke=args.smoke, with_t5=not args.drop_t5)
    )
    size_gb = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e9
    rows.append(("build and save_pretrained (once)", f"{build_s:.1f} s, {size_gb:.1f} GB on disk"))

    config = {"weights_path": str(folder), "device": device, "dtype": dtype_name, "drop_t5": args.drop_t5}
    fingerprint_s, identity = timed(lambda: SD35MediumPlugin(config).identity())
    rows.append(("weights fingerprint, cold (hashes every file)", f"{fingerprint_s:.1f} s"))
    warm_fp_s, _ = timed(lambda: SD35MediumPlugin(config).identity())
    rows.append(("weights fingerprint, from the on-disk cache", f"{warm_fp_s * 1000:.0f} ms"))

    fields = {
        "prompt": PROMPT,
        "width": args.size,
        "height": args.size,
        "seed": 7,
        "params": {"steps": args.steps, "guidance_scale": 4.5},
    }

    # 1. The raw pipeline, as a diffusers user would run it.
    from diffusers import StableDiffusion3Pipeline

    load_kwargs: dict[str, Any] = {"dtype": dtype, "local_files_only": True}
    if args.drop_t5:
        load_kwargs.update(text_encoder_3=None, tokenizer_3=None)
    load_s, loaded = timed(
        lambda: StableDiffusion3Pipeline.from_pretrained(str(folder), **load_kwargs).to(device)
    )
    loaded.set_progress_bar_config(disable=True)
    holder = {"pipe": loaded}  # emptied before Hallmark loads its own copy
    del loaded
    rows.append(("raw from_pretrained + .to(device)", f"{load_s:.1f} s"))

    def raw_call() -> Any:
        return holder["pipe"](
            prompt=PROMPT,
            width=args.size,
            height=args.size,
            num_inference_steps=args.steps,
            guidance_scale=4.5,
            generator=torch.Generator(device).manual_seed(7),
        ).images[0]

    raw_call()  # warm-up: kernels, allocator
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    raw_samples = []
    raw_image = None
    for _ in range(args.runs):
        elapsed, raw_image = timed(raw_call)
        raw_samples.append(elapsed)
    peak = torch.cuda.max_memory_allocated() / 1e9 if device == "cuda" else 0.0
    holder.clear()
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()

    # 2. Through Hallmark: API, queue, worker (warm cache), provenance, storage.
    from celery.contrib.testing.worker import start_worker
    from django.contrib.auth.models import Group, User
    from rest_framework.authtoken.models import Token

    from hallmark.celery import app

    call_command("migrate", verbosity=0)
    call_command("provenance_init", "--if-missing", verbosity=0)
    admin = User.objects.create_superuser("bench-admin", password="bench-admin-pw")
    creator = User.objects.create_user("bench-creator", password="bench-creator-pw")
    creator.groups.add(Group.objects.get_or_create(name="creator")[0])
    services.update_plugin("sd35-medium", acting_user=admin, enabled=True, config=config)
    client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=creator).key}")
    if BROKER.startswith("filesystem"):
        app.conf.broker_transport_options = {**app.conf.broker_transport_options, "polling_interval": 0.01}
    else:
        with app.connection_for_write() as conn, contextlib.suppress(Exception):
            conn.default_channel.queue_purge("gen.sd35-medium")  # leftovers of an interrupted run

    def job() -> float:
        start = time.perf_counter()
        response = client.post(
            "/api/v1/generations/", {"plugin": "sd35-medium", **fields}, content_type="application/json"
        )
        assert response.status_code == 202, response.content
        job_id = response.json()["id"]
        while (body := client.get(f"/api/v1/generations/{job_id}/").json())["status"] not in (
            "succeeded",
            "failed",
            "cancelled",
        ):
            time.sleep(0.01)
        assert body["status"] == "succeeded", body["error"]
        return time.perf_counter() - start

    api_samples = []
    with start_worker(
        app,
        pool="solo",
        concurrency=1,
        perform_ping_check=False,
        queues=["gen.sd35-medium"],
        shutdown_timeout=120,
    ):
        cold_job_s = job()
        for _ in range(args.runs):
            api_samples.append(job())
    assert warm_cache().loads == 1, "a warm job reloaded the weights"

    # 3. The plugin alone, with the instance the worker kept warm.
    plugin = warm_cache().get("sd35-medium", SD35MediumPlugin.clean_config(config))
    request = build_request(plugin, **fields)
    plugin_samples = []
    plugin_image = None
    for _ in range(args.runs):
        elapsed, result = timed(lambda: plugin.generate(request, lambda step, total: None, lambda: False))
        plugin_samples.append(elapsed)
        plugin_image = result.images[0].image
    footprint_gb = plugin.memory_footprint() / 1e9
    warm_cache().clear()

    same = (
        raw_image is not None
        and plugin_image is not None
        and pixel_sha256(raw_image) == pixel_sha256(plugin_image)
    )
    print()
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU (smoke run, tiny configs)"
    print(
        f"SD3.5 Medium architecture, random weights, {'no T5' if args.drop_t5 else 'with T5-XXL'}, "
        f"{args.size}x{args.size}, {args.steps} steps, guidance 4.5, {dtype_name}, {name}, "
        f"torch {torch.__version__}, broker {BROKER.split(':')[0]}; median of {args.runs}"
    )
    print()
    print("| measurement | median | p90 |")
    print("| --- | ---: | ---: |")
    for label, samples in (
        ("raw StableDiffusion3Pipeline call", raw_samples),
        ("sd35-medium plugin.generate()", plugin_samples),
        ("job through API + worker (warm cache)", api_samples),
    ):
        median, p90 = stats(samples)
        print(f"| {label} | {median:.2f} s | {p90:.2f} s |")
    print(f"| first job on a cold worker (loads weights) | {cold_job_s:.2f} s | |")
    print()
    for label, value in rows:
        print(f"- {label}: {value}")
    print(f"- peak GPU memory, raw pipeline: {peak:.1f} GB; plugin memory_footprint(): {footprint_gb:.1f} GB")
    print(f"- fingerprint {identity.weights_fingerprint[:23]}..., model version {identity.model_version}")
    print(f"- raw and plugin images pixel-identical for the same seed: {'yes' if same else 'no'}")
    overhead = stats(api_samples)[0] - stats(raw_samples)[0]
    print(f"- Hallmark's cost over the raw call: {overhead * 1000:.0f} ms a job")


if __name__ == "__main__":
    try:
        main()
    finally:
        if not os.environ.get("HALLMARK_BENCH_DIR"):
            shutil.rmtree(SCRATCH, ignore_errors=True)
