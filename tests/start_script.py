"""Stopping ``scripts/start.sh`` as a user does, for the tests that start it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path


def stop_with_ctrl_c(proc: subprocess.Popen[bytes], log_path: Path) -> str:
    """Ctrl-C as a user presses it in the terminal (SIGINT to the script's whole session).

    Empty when web, worker and beat each stopped by themselves and the script had ended within
    30 s (the script kills what still runs after 15 s, and says so); otherwise what went wrong.
    Whatever still runs is killed either way.
    """
    os.killpg(proc.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30)
    running = subprocess.run(
        ["ps", "-o", "pid,etime,args", "--no-headers", "-s", str(proc.pid)], capture_output=True, text=True
    ).stdout.strip()
    if running or proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        return f"running 30 s after Ctrl-C:\n{running or 'scripts/start.sh'}"
    forced = [line for line in log_path.read_text().splitlines() if "stopped by force" in line]
    return "\n".join(forced)
