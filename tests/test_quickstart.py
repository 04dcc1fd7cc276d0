"""The README's first command, as a newcomer runs it: web and worker on embedded defaults."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _request(url: str, token: str, body: dict | None = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Authorization": f"Token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read()


def test_start_script_brings_up_web_and_worker_on_embedded_defaults(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "HALLMARK_MEDIA_ROOT")}
    env.update({"HALLMARK_PORT": str(port), "HALLMARK_VAR_DIR": str(tmp_path / "var")})
    log_path = tmp_path / "start.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            ["bash", "scripts/start.sh"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 240
        token = None
        while time.monotonic() < deadline and token is None:
            assert proc.poll() is None, log_path.read_text()
            match = re.search(r'Authorization: Token ([0-9a-f]{40})', log_path.read_text())
            token = match.group(1) if match else None
            time.sleep(0.5)
        assert token, log_path.read_text()
        text = log_path.read_text()
        assert f"http://127.0.0.1:{port}/accounts/login/" in text and "password:" in text

        base = f"http://127.0.0.1:{port}"
        for _ in range(60):
            try:
                _request(f"{base}/api/v1/plugins/", token)
                break
            except OSError:
                time.sleep(0.5)
        status, body = _request(f"{base}/api/v1/generations/", token, {"plugin": "procedural", "prompt": "quick start", "seed": 3})
        assert status == 202
        job_id = json.loads(body)["id"]
        job: dict = {}
        for _ in range(240):
            job = json.loads(_request(f"{base}/api/v1/generations/{job_id}/", token)[1])
            if job["status"] in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(0.25)
        assert job["status"] == "succeeded", job
        asset = json.loads(_request(f"{base}/api/v1/assets/{job['assets'][0]}/", token)[1])
        assert asset["model"]["version"] and asset["model"]["fingerprint"]
        _, data = _request(f"{base}/api/v1/assets/{asset['id']}/file/", token)
        assert hashlib.sha256(data).hexdigest() == asset["sha256"]
        events = json.loads(_request(f"{base}/api/v1/audit/?action=asset.created&target_id={asset['id']}", token)[1])
        assert events["count"] == 1

        verify = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "python"), "manage.py", "verify_audit"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert "intact" in verify.stdout
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
