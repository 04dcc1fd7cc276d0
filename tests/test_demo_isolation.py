"""A test run never touches a running demo: not its broker queue, not its database, not its files.

The demo is started with the README's first command; then a slice of the integration tests
runs in a shell that still exports the demo's ``HALLMARK_VAR_DIR`` (the worst case: a user who
runs the tests from the terminal that runs the demo). Before the test environment was decided
ahead of Django's settings, that slice published its jobs into the demo's queue folder, where
the demo's worker took them.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.private_services import free_port
from tests.start_script import stop_with_ctrl_c

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.integration


def test_this_run_keeps_its_files_outside_the_checkouts_var() -> None:
    checkout_var = (ROOT / "var").resolve()
    for path in (settings.VAR_DIR, settings.MEDIA_ROOT, settings.BROKER_DIR, settings.DATABASES["default"]["TEST"].get("NAME") or settings.VAR_DIR):
        resolved = Path(path).resolve()
        assert resolved != checkout_var and checkout_var not in resolved.parents, resolved
    assert os.environ["HALLMARK_VAR_DIR"] == str(settings.VAR_DIR)



def _call(url: str, token: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, headers={"Authorization": f"Token {token}", "Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


class Demo:
    """A demo started by ``scripts/start.sh`` in its own var dir."""

    def __init__(self, var_dir: Path, port: int, token: str, env: dict[str, str]) -> None:
        self.var_dir, self.base, self.token, self.env = var_dir, f"http://127.0.0.1:{port}", token, env

    def generate(self, prompt: str) -> dict[str, Any]:
        job = _call(f"{self.base}/api/v1/generations/", self.token, {"plugin": "procedural", "prompt": prompt})
        deadline = time.monotonic() + 60
        while job["status"] not in ("succeeded", "failed", "cancelled") and time.monotonic() < deadline:
            time.sleep(0.2)
            job = _call(f"{self.base}/api/v1/generations/{job['id']}/", self.token)
        return dict(job)

    def files(self) -> set[str]:
        """Every file under the demo's var dir, but SQLite's journal files (they come and go)."""
        return {
            str(p.relative_to(self.var_dir))
            for p in self.var_dir.rglob("*")
            if p.is_file() and not p.name.endswith(("-wal", "-shm", "-journal"))
        }

    def rows(self) -> dict[str, Any]:
        """What the demo's database holds, read without writing to it."""
        db = sqlite3.connect(f"file:{self.var_dir / 'hallmark.sqlite3'}?mode=ro", uri=True)
        try:
            return {
                table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("generation_generationjob", "assets_asset", "governance_auditevent", "auth_user")
            } | {"audit_head": db.execute("SELECT seq, hash FROM governance_auditchainhead").fetchall()}
        finally:
            db.close()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    """The demo on embedded defaults, as the README's first command starts it."""
    port = free_port()
    var_dir = tmp_path / "demo-var"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("HALLMARK_") and k not in ("DATABASE_URL", "CELERY_BROKER_URL")
    }
    env.update({"HALLMARK_PORT": str(port), "HALLMARK_VAR_DIR": str(var_dir)})
    log_path = tmp_path / "start.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            ["bash", "scripts/start.sh"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        token = None
        deadline = time.monotonic() + 300
        while token is None and time.monotonic() < deadline:
            assert proc.poll() is None, log_path.read_text()
            match = re.search(r"Authorization: Token ([0-9a-f]{40})", log_path.read_text())
            token = match.group(1) if match else None
            time.sleep(0.5)
        assert token, log_path.read_text()
        for _ in range(120):
            try:
                _call(f"http://127.0.0.1:{port}/api/v1/plugins/", token)
                break
            except OSError:
                time.sleep(0.5)
        yield Demo(var_dir, port, token, env)
    finally:
        stop_problem = stop_with_ctrl_c(proc, log_path)
        if sys.exc_info()[0] is None:  # not in place of a failure of the set-up itself
            assert not stop_problem, stop_problem


def test_a_test_run_beside_the_demo_leaves_the_demo_alone(demo: Demo) -> None:
    assert demo.generate("the demo's own image")["status"] == "succeeded"
    time.sleep(1)  # let the demo's worker settle (its message moves out of the queue folder)
    files_before, rows_before = demo.files(), demo.rows()

    # A shell that runs the demo exports its settings; the tests must not follow them.
    shell = {k: v for k, v in demo.env.items() if k != "HALLMARK_PORT"}
    slice_run = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "integration",
            "tests/generation/test_worker_crash.py",
        ],
        cwd=ROOT,
        env=shell,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert slice_run.returncode == 0, slice_run.stdout[-4000:] + slice_run.stderr[-2000:]
    assert re.search(r"\b[1-9]\d* passed\b", slice_run.stdout), slice_run.stdout[-2000:]

    # The demo's own beat signs an hourly checkpoint (minute 7) of the demo's own chain, which
    # may land while the slice runs; any other new or missing file is the slice's doing.
    files_after = demo.files()
    head_seq, head_hash = rows_before["audit_head"][0]
    for name in files_after - files_before:
        assert re.fullmatch(r"audit/checkpoints/checkpoint-\d+-\d{8}T\d{6}Z\.json", name), name
        signed = json.loads((demo.var_dir / name).read_text())["checkpoint"]
        assert (signed["seq"], signed["hash"]) == (head_seq, head_hash), name
    assert files_before <= files_after
    assert demo.rows() == rows_before
    # And the demo still works, having run nothing but its own jobs.
    assert demo.generate("the demo's second image")["status"] == "succeeded"
    assert demo.rows()["generation_generationjob"] == rows_before["generation_generationjob"] + 1
