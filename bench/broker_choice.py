"""Which broker a benchmark uses: ``--broker URL``, or local Redis when it answers."""

from __future__ import annotations

import argparse
import socket


def pick_broker(redis_db: int = 1) -> str:
    """``--broker URL`` from the command line; by default Redis db ``redis_db`` on this machine
    when it answers (what production runs), else the embedded filesystem transport."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--broker", default="auto")
    choice = pre.parse_known_args()[0].broker
    if choice != "auto":
        return str(choice)
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return "filesystem://"
    return f"redis://127.0.0.1:6379/{redis_db}"
