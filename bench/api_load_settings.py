"""Settings of ``bench/bench_api_load.py``'s gunicorn: Hallmark's own, plus a minimal view.

The minimal view (``/_bench/minimal``, a fixed ``ok``) passes through the same middleware and
gunicorn configuration as the asset list: the anchor its rate is compared with.
"""

from hallmark.settings import *  # noqa: F403 - the benchmark serves Hallmark's settings unchanged

ROOT_URLCONF = "bench.api_load_urls"
