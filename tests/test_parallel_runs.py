"""Parallel test processes (pytest-xdist, as scripts/test.sh runs them) never share a broker.

Celery's queues are named by plugin, so two test processes on one broker would take each
other's jobs (whose rows are in the other process's test database) and empty each other's
queues. tests/environment.py gives each process a Redis database of its own and refuses, before
any process starts, a broker the processes would share.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.environment import _broker_of_this_xdist_worker, _parallel_broker_problem

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("url", "worker", "expected"),
    [
        ("redis://127.0.0.1:6379/15", "gw0", "redis://127.0.0.1:6379/15"),
        ("redis://127.0.0.1:6379/15", "gw1", "redis://127.0.0.1:6379/14"),
        ("rediss://:p%40ss@[::1]:6380/9?ssl_cert_reqs=required", "gw3", "rediss://:p%40ss@[::1]:6380/6?ssl_cert_reqs=required"),
        ("REDIS://h/4", "gw2", "redis://h/2"),
        ("filesystem://", "gw1", "filesystem://"),
    ],
)
def test_each_process_takes_the_database_below_the_previous_ones(url: str, worker: str, expected: str) -> None:
    assert _broker_of_this_xdist_worker(url, worker) == expected


@pytest.mark.parametrize(
    ("url", "processes", "problem"),
    [
        ("", 4, None),
        ("filesystem://", 4, None),
        ("redis://h:6379/15", 4, None),
        ("redis://h:6379/2", 2, None),
        ("redis://h:6379/1", 2, "use database 2 or above"),
        ("redis://h:6379", 2, "name a Redis database number"),
        ("redis+socket:///run/redis.sock", 2, "redis+socket:// queues would be shared"),
        ("amqp://guest:guest@h:5672//", 2, "amqp:// queues would be shared"),
    ],
)
def test_a_broker_the_processes_would_share_is_refused(url: str, processes: int, problem: str | None) -> None:
    found = _parallel_broker_problem(url, processes)
    assert (found is None) if problem is None else (found is not None and problem in found), found


def _nested_run(tmp_path: Path, broker: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A parallel pytest of one small test file that records the environment it got."""
    (tmp_path / "test_records.py").write_text(
        "import os, pathlib, pytest\n"
        "@pytest.mark.parametrize('n', range(4))\n"  # xdist hands 2 of the 4 to each process
        "def test_record(n):\n"
        "    out = pathlib.Path(os.environ['RECORD_DIR']) / os.environ['PYTEST_XDIST_WORKER']\n"
        "    out.write_text(os.environ['CELERY_BROKER_URL'] + '\\n' + os.environ['HALLMARK_VAR_DIR'])\n"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HALLMARK_", "PYTEST_XDIST")) and k != "CELERY_BROKER_URL"
    }
    env.update({"CELERY_BROKER_URL": broker, "RECORD_DIR": str(tmp_path)})
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.environment",
         "-n", "2", "--dist", "load", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_two_processes_get_their_own_redis_database_and_var_dir(tmp_path: Path) -> None:
    run = _nested_run(tmp_path, "redis://127.0.0.1:6379/13", str(tmp_path / "test_records.py"))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    records = {path.name: path.read_text().split("\n") for path in tmp_path.glob("gw*")}
    assert set(records) == {"gw0", "gw1"}, run.stdout
    for worker, (broker, var_dir) in records.items():
        assert broker == f"redis://127.0.0.1:6379/{13 - int(worker[2:])}"
        assert Path(var_dir).name.startswith("hallmark-test-")
    assert len({var_dir for _, var_dir in records.values()}) == len(records)


def test_a_shared_broker_is_refused_before_any_process_starts(tmp_path: Path) -> None:
    run = _nested_run(tmp_path, "amqp://guest:guest@127.0.0.1:5672//", str(tmp_path / "test_records.py"))
    assert run.returncode == 4, run.stdout[-3000:] + run.stderr[-3000:]  # pytest's usage error
    assert "amqp:// queues would be shared" in run.stderr
    assert "HALLMARK_TEST_PROCESSES=1" in run.stderr
    assert not list(tmp_path.glob("gw*"))
