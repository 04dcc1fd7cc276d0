"""The README's first command, as a newcomer runs it: web and worker on embedded defaults.

Also what ``scripts/install.sh`` decides on machines this one is not (a GPU, a CPU-only torch
on a GPU machine, an API-only deployment), through its dry run in a copy of the checkout.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.private_services import free_port
from tests.start_script import stop_with_ctrl_c

ROOT = Path(__file__).resolve().parent.parent
TOKEN_IN_BANNER = re.compile(r"Authorization: Token ([0-9a-f]{40})")



def _request(url: str, token: str, body: dict | None = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Authorization": f"Token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read()


def _start(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            ["bash", "scripts/start.sh"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def _banner(proc: subprocess.Popen, log_path: Path, timeout: float = 240) -> str:
    """The log up to the end of the start-up banner (its last line says how to stop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, log_path.read_text()
        text = log_path.read_text()
        if "Stop with Ctrl-C." in text:
            return text
        time.sleep(0.5)
    raise AssertionError(log_path.read_text())


def _wait_for_file(folder: Path, pattern: str, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(folder.glob(pattern)):
            return True
        time.sleep(0.5)
    return False


@pytest.mark.integration
def test_start_script_brings_up_web_and_worker_on_embedded_defaults(tmp_path: Path) -> None:
    port = free_port()
    drop = ("DATABASE_URL", "CELERY_BROKER_URL", "HALLMARK_MEDIA_ROOT", "IDEOGRAM_API_KEY", "HALLMARK_WEIGHTS_ROOT")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    var = tmp_path / "var"
    env.update({"HALLMARK_PORT": str(port), "HALLMARK_VAR_DIR": str(var)})
    log_path = tmp_path / "start.log"
    proc = _start(env, log_path)
    try:
        text = _banner(proc, log_path)
        match = TOKEN_IN_BANNER.search(text)
        assert match, text
        token = match.group(1)
        assert f"log in at http://127.0.0.1:{port}/accounts/login/ as 'admin' with password: " in text
        password = re.search(r"with password: (\S+)", text).group(1)  # type: ignore[union-attr]
        password_file = var / "admin-password.txt"
        assert password_file.read_text().strip() == password
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        # The database holds tokens, sessions and password hashes: nobody else on the machine reads it.
        assert stat.S_IMODE(var.stat().st_mode) == 0o700
        assert stat.S_IMODE((var / "hallmark.sqlite3").stat().st_mode) & 0o077 == 0
        # Celery beat runs beside the worker and keeps its schedule in the var folder.
        assert any(var.glob("celerybeat-schedule*")) or _wait_for_file(var, "celerybeat-schedule*"), text

        # The banner's readiness lines: the one thing each seed model lacks.
        lines = [line.strip() for line in text.splitlines()]
        assert "ready      procedural" in lines, text
        for plugin_id in ("sd35-medium", "sd35-large-turbo"):
            expected = (
                f"not ready  {plugin_id}: weights not registered: run .venv/bin/python manage.py "
                f"register_weights {plugin_id} <folder> --enable"
            )
            assert any(line.startswith(expected) for line in lines), text
        for plugin_id in ("ideogram-v2", "ideogram-v2a-turbo"):
            assert f"not ready  {plugin_id}: no API key: set IDEOGRAM_API_KEY and enable it (docs/models.md)" in lines

        base = f"http://127.0.0.1:{port}"
        plugins: list = []
        for _ in range(60):
            try:
                plugins = json.loads(_request(f"{base}/api/v1/plugins/", token)[1])
                break
            except OSError:
                time.sleep(0.5)
        health = {p["id"]: p["health"] for p in plugins}
        for plugin_id in ("sd35-medium", "sd35-large-turbo"):
            assert health[plugin_id]["status"] == "red"
            assert health[plugin_id]["message"].startswith("weights not registered"), health
            assert f"register_weights {plugin_id}" in health[plugin_id]["message"]

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
        stop_problem = stop_with_ctrl_c(proc, log_path)
    # Ctrl-C stops web, worker and beat promptly (beat once slept through it for up to a minute).
    assert not stop_problem, stop_problem

    # A second start: installs nothing, shows neither the password nor a token, says where the
    # password file is.
    second_log = tmp_path / "second.log"
    started = time.monotonic()
    proc = _start(env, second_log)
    try:
        second = _banner(proc, second_log)
        assert "install: .venv/ is up to date" in second
        assert password not in second and token not in second
        assert not TOKEN_IN_BANNER.search(second) and "with password:" not in second
        assert f"its password is in {var / 'admin-password.txt'}" in second
        assert "ready      procedural" in second
        assert time.monotonic() - started < 60
    finally:
        stop_problem = stop_with_ctrl_c(proc, second_log)
    assert not stop_problem, stop_problem


# ---------------------------------------------------------------------------------------------
# scripts/install.sh decisions, in a dry run (prints the commands that would change .venv/)
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of what install.sh reads, without a .venv/."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "install.sh", repo / "scripts" / "install.sh")
    shutil.copy(ROOT / "pyproject.toml", repo / "pyproject.toml")
    return repo


def _fake_venv_torch(repo: Path, tmp_path: Path, cuda: str | None) -> None:
    """A .venv/bin/python whose importable torch is a stub reporting a CPU or CUDA build."""
    package = tmp_path / "site" / "torch"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "version.py").write_text(f"__version__ = '2.13.0'\ncuda = {cuda!r}\n")
    python = repo / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f"#!/bin/sh\nPYTHONPATH={tmp_path / 'site'} exec {shutil.which('python3')} \"$@\"\n")
    python.chmod(0o755)


def _install(repo: Path, tmp_path: Path, *args: str, gpu: bool = False, **env: str) -> list[str]:
    """The commands install.sh would run, and its messages, as lines."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "nvidia-smi"
    if gpu:
        fake.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H200 (UUID: GPU-0)'\n")
        fake.chmod(0o755)
    else:
        fake.unlink(missing_ok=True)
    path = os.environ["PATH"] if gpu else ":".join(p for p in os.environ["PATH"].split(":") if not (Path(p) / "nvidia-smi").exists())
    full_env = {**os.environ, "PATH": f"{bin_dir}:{path}", "HALLMARK_INSTALL_DRY_RUN": "1", **env}
    for name in ("HALLMARK_INSTALL_MODELS", "HALLMARK_TORCH_INDEX_URL"):
        if name not in env:
            full_env.pop(name, None)
    result = subprocess.run(
        ["bash", "scripts/install.sh", *args], cwd=repo, env=full_env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return (result.stdout + result.stderr).splitlines()


def _pip_installs(lines: list[str]) -> list[str]:
    return [line.split(" install -q ", 1)[1] for line in lines if line.startswith("+ ") and " pip install -q " in line]


def test_install_puts_cpu_torch_before_the_diffusers_extra_on_a_machine_without_gpu(checkout: Path, tmp_path: Path) -> None:
    installs = _pip_installs(_install(checkout, tmp_path))
    assert installs == ["--upgrade pip", "torch==2.13.0", "-e .[diffusers]"]
    lines = _install(checkout, tmp_path, HALLMARK_TORCH_INDEX_URL="https://wheels.example.invalid/cpu")
    assert "torch==2.13.0 --index-url https://wheels.example.invalid/cpu" in _pip_installs(lines)
    assert _pip_installs(_install(checkout, tmp_path, "dev"))[1:3] == ["torch==2.13.0", "-e .[diffusers,dev]"]


def test_install_models_none_installs_neither_torch_nor_diffusers(checkout: Path, tmp_path: Path) -> None:
    installs = _pip_installs(_install(checkout, tmp_path, HALLMARK_INSTALL_MODELS="none"))
    assert installs == ["--upgrade pip", "-e ."]


def test_install_replaces_a_cpu_only_torch_on_a_machine_with_a_gpu(checkout: Path, tmp_path: Path) -> None:
    _fake_venv_torch(checkout, tmp_path, cuda=None)
    lines = _install(checkout, tmp_path, gpu=True)
    assert any("is a CPU-only build, but this machine has an NVIDIA GPU" in line for line in lines), lines
    assert "+ .venv/bin/python -m pip uninstall -q -y torch" in lines
    assert _pip_installs(lines) == ["torch==2.13.0", "-e .[diffusers]"]
    # The same CPU build on a machine without a GPU fits: kept.
    assert _pip_installs(_install(checkout, tmp_path)) == ["-e .[diffusers]"]


def test_install_keeps_a_cuda_torch_on_a_machine_with_a_gpu(checkout: Path, tmp_path: Path) -> None:
    _fake_venv_torch(checkout, tmp_path, cuda="12.8")
    lines = _install(checkout, tmp_path, gpu=True)
    assert _pip_installs(lines) == ["-e .[diffusers]"] and not any("uninstall" in line for line in lines)


def test_install_is_quick_when_everything_is_installed() -> None:
    """The checkout's own .venv/: a second run has nothing to do and returns at once."""
    first = subprocess.run(["bash", "scripts/install.sh"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout + first.stderr  # up to date already after scripts/test.sh
    started = time.monotonic()
    result = subprocess.run(["bash", "scripts/install.sh"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "install: .venv/ is up to date" in result.stdout
    assert time.monotonic() - started < 5
