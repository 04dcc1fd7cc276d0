"""Settings of the orchestration apps (routing, acceptance, scorecards) and of batching and
the latent cache, read from the environment like ``hallmark.settings``, which imports them.

Kept apart so that ``hallmark/settings.py`` stays readable; each section belongs to one app.
Every name here starts with ``HALLMARK_`` (``hallmark.settings`` takes them all).
"""

from __future__ import annotations

import os
from pathlib import Path

from hallmark.environment import env_decimal, env_int

# --- Routing (routing/) -----------------------------------------------------------------------

# What one second of a local (GPU) plugin's work costs, in US dollars, for plugins whose cost
# basis is "compute"; "0" makes local images free. Parsed as a decimal, 0 to 1.
HALLMARK_GPU_SECOND_PRICE_USD = env_decimal("HALLMARK_GPU_SECOND_PRICE_USD", "0.0006", maximum="1")
# Seconds per image assumed for a local plugin until it has finished jobs of its own to measure.
HALLMARK_ROUTING_SECONDS_PER_IMAGE = env_int(
    "HALLMARK_ROUTING_SECONDS_PER_IMAGE", 10, minimum=1, maximum=3600
)
# How many of a plugin's latest finished jobs the seconds-per-image estimate is the median of.
HALLMARK_ROUTING_ESTIMATE_JOBS = env_int("HALLMARK_ROUTING_ESTIMATE_JOBS", 20, minimum=1, maximum=1000)
# The breaker of a plugin used without a policy (a request naming the plugin) when no default
# policy exists: consecutive failures that open it.
HALLMARK_ROUTING_BREAKER_FAILURES = env_int("HALLMARK_ROUTING_BREAKER_FAILURES", 3, minimum=1, maximum=100)

# --- Acceptance checks (acceptance/) ----------------------------------------------------------

# --- Scorecards (scorecards/) -----------------------------------------------------------------
# The most cells (prompts x plugins x seeds) one benchmark may run; a larger one is a 400.
# A benchmark's jobs are queued at once, beside HALLMARK_MAX_QUEUED_PER_USER (docs/acceptance.md).
HALLMARK_BENCHMARK_MAX_CELLS = env_int("HALLMARK_BENCHMARK_MAX_CELLS", 500, minimum=1, maximum=10_000)

# --- Batching and the latent cache (generation/, plugins/builtin/sd35/) ---------------------------

# The most jobs a worker runs as one model call (generation.batching), for plugins that declare
# ``Capabilities.max_batch``; the smaller of the two limits applies. 1 turns batching off.
HALLMARK_BATCH_MAX = env_int("HALLMARK_BATCH_MAX", 4, minimum=1, maximum=64)
# The latent cache (generation.latent_cache): each image's final latents from plugins that
# declare a latent space, per host, so refining it skips the VAE encode. Empty directory: under
# HALLMARK_VAR_DIR ("latents"). The bound is in MB (0 turns the cache off); the least recently
# used entries go first.
_latent_cache_dir = os.environ.get("HALLMARK_LATENT_CACHE_DIR", "").strip()
HALLMARK_LATENT_CACHE_DIR: Path | None = Path(_latent_cache_dir) if _latent_cache_dir else None
HALLMARK_LATENT_CACHE_MAX_MB = env_int("HALLMARK_LATENT_CACHE_MAX_MB", 2048, minimum=0, maximum=1_048_576)
