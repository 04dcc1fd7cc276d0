"""A worker process starts cleanly from nothing (its import order differs from the web's: it
runs Django's system checks before anything has imported DRF's views)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_fresh_worker_process_reaches_ready(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env["HALLMARK_VAR_DIR"] = str(tmp_path)
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "hallmark",
                "worker",
                "-P",
                "solo",
                "-Q",
                "gen.procedural",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None and b" ready." not in log_path.read_bytes():
            time.sleep(0.2)
        text = log_path.read_text(errors="replace")
        assert " ready." in text, text[-3000:]
        assert "ImportError" not in text, text[-3000:]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
