"""The file writers' thread pool, kept for the process, in a forked child."""

from __future__ import annotations

import os
import sys

import pytest

from assets import services


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_writes_with_threads_of_its_own() -> None:
    """A child inherits the pool without its threads: it must make its own, not wait for ever."""
    assert services._writers().submit(int, "1").result(timeout=5) == 1  # the parent's threads exist
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if its write-pool answers
        try:
            ok = services._writers().submit(int, "2").result(timeout=5) == 2
        except BaseException:
            ok = False
        sys.stdout.flush()
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
