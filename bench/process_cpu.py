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
        children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
        ticks = 0
        for pid in [postmaster, *map(int, children)]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue  # exited between the two reads: its time is in the reaped total
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
            if pid == postmaster:
                ticks += int(fields[13]) + int(fields[14])  # cutime, cstime: reaped backends
    except (OSError, StopIteration, ValueError):
        return None
    return ticks / os.sysconf("SC_CLK_TCK")
