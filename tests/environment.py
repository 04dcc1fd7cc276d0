"""The test run's environment, decided before Django's settings are imported.

Loaded as a pytest plugin (``-p tests.environment`` in pyproject's ``addopts``), so it runs
before pytest-django imports ``hallmark.settings``: a conftest is imported too late, after the
settings have read ``HALLMARK_VAR_DIR`` and chosen the demo's ``var/``. Every test run gets a
folder of its own for its SQLite database, broker queue, keys and media, and ignores the
``HALLMARK_*`` settings of the shell it was started from (a shell that runs the demo may export
them), so a test run never reads or writes a running demo's files. Worker processes that tests
start inherit this environment.

``DATABASE_URL`` and ``CELERY_BROKER_URL`` are kept: they choose the services a run tests
against (pytest-django creates its own ``test_<name>`` database; give the tests a Redis
database of their own; run in parallel with pytest-xdist, each worker process takes the Redis
database below the previous one's). ``HALLMARK_TEST_VAR_DIR`` names a folder to use (and keep) instead of
a fresh temporary one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from urllib.parse import urlsplit, urlunsplit

import pytest

# Settings of the test tools themselves, not of Hallmark (the browser; where e2e tests also
# save the screenshots kept in docs/screenshots/).
_KEPT = ("HALLMARK_TEST_", "HALLMARK_CHROMIUM", "HALLMARK_SCREENSHOTS_DIR")


def _worker_number(worker: str) -> int:
    """0 for gw0 (and for a run without xdist), 1 for gw1, ..."""
    return int(worker.removeprefix("gw")) if worker.startswith("gw") else 0


def _broker_of_this_xdist_worker(url: str, worker: str) -> str:
    """A Redis broker URL moved to a database of the xdist worker's own (gw0 keeps the given
    database, gw1 takes the one below it, ...): Celery's queues are named by plugin, so two
    test processes on one Redis database would take each other's jobs. Other brokers are
    refused for parallel runs before any worker starts (``pytest_configure``)."""
    number = _worker_number(worker)
    parsed = urlsplit(url)
    if number == 0 or parsed.scheme.lower() not in ("redis", "rediss"):
        return url
    base = int(parsed.path.strip("/") or 0)
    return urlunsplit(parsed._replace(path=f"/{base - number}"))


def _parallel_broker_problem(url: str, processes: int) -> str | None:
    """Why ``processes`` test processes cannot share this broker, or None when they can."""
    if not url or url.startswith("filesystem://"):
        return None  # each process keeps its broker folder in its own var dir
    parsed = urlsplit(url)
    if parsed.scheme.lower() not in ("redis", "rediss"):
        return f"{parsed.scheme}:// queues would be shared by the test processes"
    path = parsed.path.strip("/")
    if not path.isdigit():
        return "name a Redis database number in the URL (redis://host:6379/15)"
    if int(path) < processes:
        return (
            f"the processes use Redis databases {int(path)} and the {processes - 1} below it; "
            f"database 0 is where a Hallmark started without a number keeps its queues: "
            f"use database {processes} or above"
        )
    return None


def pytest_configure(config: pytest.Config) -> None:
    """In the process that hands out the tests: refuse a broker that parallel test processes
    would share (a refusal inside a worker process would only take that worker down)."""
    processes = getattr(config.option, "numprocesses", None) or 0
    if hasattr(config, "workerinput") or not isinstance(processes, int) or processes < 2:
        return
    problem = _parallel_broker_problem(os.environ.get("CELERY_BROKER_URL", ""), processes)
    if problem:
        raise pytest.UsageError(
            f"CELERY_BROKER_URL with {processes} test processes: {problem} "
            "(or run them one after another: HALLMARK_TEST_PROCESSES=1 scripts/test.sh)"
        )


def _prepare() -> tuple[str, bool]:
    for name in [n for n in os.environ if n.startswith("HALLMARK_") and not n.startswith(_KEPT)]:
        del os.environ[name]
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    # Once per process tree: a pytest that a test starts inherits both variables.
    if worker and os.environ.get("CELERY_BROKER_URL") and not os.environ.get("HALLMARK_TEST_BROKER_MOVED"):
        os.environ["CELERY_BROKER_URL"] = _broker_of_this_xdist_worker(os.environ["CELERY_BROKER_URL"], worker)
        os.environ["HALLMARK_TEST_BROKER_MOVED"] = "1"
    chosen = os.environ.get("HALLMARK_TEST_VAR_DIR")
    if chosen and worker:
        chosen = os.path.join(chosen, worker)  # a folder of each process's own inside it
    var_dir = chosen or tempfile.mkdtemp(prefix="hallmark-test-")
    os.makedirs(var_dir, exist_ok=True)
    os.environ["HALLMARK_VAR_DIR"] = var_dir
    return var_dir, not chosen


_VAR_DIR, _TEMPORARY = _prepare()


def pytest_report_header() -> str:
    """Say where this run keeps its files."""
    return f"hallmark test var dir: {_VAR_DIR}"


@pytest.hookimpl(trylast=True)
def pytest_unconfigure() -> None:
    """Remove the run's temporary folder (a named HALLMARK_TEST_VAR_DIR is kept)."""
    if _TEMPORARY:
        shutil.rmtree(_VAR_DIR, ignore_errors=True)
