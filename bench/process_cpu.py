"""CPU time used by processes the benchmarks start or talk to (Linux ``/proc``)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def cpu_seconds(procs: list[subprocess.Popen[bytes]]) -> float:
    """CPU time (user + system) the worker processes have used so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for proc in procs:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / ticks


def database_cpu_seconds() -> float | None:
    """CPU time (user + system) the PostgreSQL server has used so far: its live processes and
    the backends it has reaped; None when its processes cannot be read (another host, another
    user)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    try:
        status = Path(f"/proc/{backend}/status").read_text()
        postmaster = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
        ticks = _server_ticks(postmaster)
    except (OSError, StopIteration, ValueError):
        return None
    return ticks / os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` from the state on (field 3: index 0)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _children(pid: int) -> list[int]:
    """The live (or not yet reaped) children of a single-threaded process."""
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _server_ticks(postmaster: int) -> int:
    """Clock ticks (user + system) of the postmaster, its live children and those it reaped.

    A backend can exit and be reaped while its siblings are read: its time then leaves the
    live processes for the postmaster's children's time (cutime, cstime). Whichever of the two
    is read first, one such backend would be missed or counted twice; so the reaped total is
    read before and after the children, and the reading is taken again when it moved (a
    backend reaped with no time at all does not move it, and adds nothing either way).
    """
    for _ in range(100):
        reaped = _reaped_ticks(_stat(postmaster))
        live = 0
        for pid in _children(postmaster):
            try:
                fields = _stat(pid)
            except FileNotFoundError:
                continue  # reaped since the list was read: the check below sees it
            live += int(fields[11]) + int(fields[12])  # utime, stime
        fields = _stat(postmaster)
        if _reaped_ticks(fields) == reaped:
            break
    return int(fields[11]) + int(fields[12]) + _reaped_ticks(fields) + live


def _reaped_ticks(fields: list[str]) -> int:
    # cutime, cstime: the time of the children the process has waited for (reaped backends).
    return int(fields[13]) + int(fields[14])
